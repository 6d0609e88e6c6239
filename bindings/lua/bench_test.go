package lua_test

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	lua "github.com/netrun/netrun/bindings/lua"
	"github.com/netrun/netrun/internal/echobench"
	"github.com/netrun/netrun/internal/testpeer"
)

// The Lua echo benchmarks drive an echo script and echobench's raw-Go echo
// server with the same Go clients in the same run, alternating rounds, and
// report msgs/s for both and their ratio lua/raw.

const benchUDPEchoScript = `
local net = require("netrun")
local socket = net.DatagramSocket.new()
socket.MessageReceived:add(function(sender, args)
	local out = sender:GetOutputStreamAsync(args.RemoteAddress, args.RemotePort):await()
	local reader = args:GetDataReader()
	out:WriteAsync(reader:ReadBytes(reader.UnconsumedBufferLength)):await()
end)
socket:BindEndpointAsync("127.0.0.1", "0"):await()
print("listening " .. socket.Information.LocalPort)
`

// startLuaEcho runs script in an engine of its own and returns the
// address it listens on.
func startLuaEcho(b *testing.B, name, script string, workers int) (string, func()) {
	h := &harness{out: newOutput(), dir: b.TempDir()}
	e, err := lua.NewEngine(lua.EngineOptions{Logger: slog.New(slog.DiscardHandler), Stdout: h.out})
	if err != nil {
		b.Fatal(err)
	}
	s, err := e.Start(h.write(b, name, script), lua.ScriptOptions{Workers: workers})
	if err != nil {
		b.Fatal(lua.ErrorText(err))
	}
	return "127.0.0.1:" + listeningPort(b, h.out.wait(b, "listening ")), s.Stop
}

// benchEcho compares the Lua server with the raw one for each workload.
func benchEcho(b *testing.B, network, name, script string, workloads []struct{ workers, conns, size, msgs int }) {
	for _, w := range workloads {
		b.Run(fmt.Sprintf("workers=%d/conns=%d/size=%d", w.workers, w.conns, w.size), func(b *testing.B) {
			rawAddr, stopRaw, err := echobench.StartRaw(network)
			if err != nil {
				b.Fatal(err)
			}
			defer stopRaw()
			luaAddr, stopLua := startLuaEcho(b, name, script, w.workers)
			defer stopLua()
			dial := func(addr string) *echobench.Clients {
				c, err := echobench.Dial(network, addr, w.conns, w.size)
				if err != nil {
					b.Fatal(err)
				}
				return c
			}
			raw := dial(rawAddr)
			defer raw.Close()
			lc := dial(luaAddr)
			defer lc.Close()
			round := func(c *echobench.Clients) func() time.Duration {
				return func() time.Duration {
					d, err := c.Round(w.msgs)
					if err != nil {
						b.Error(err)
					}
					return d
				}
			}
			b.ResetTimer()
			rawT, luaT := echobench.Compare(b.N, round(raw), round(lc))
			total := float64(b.N * w.conns * w.msgs)
			b.ReportMetric(total/rawT.Seconds(), "raw-msgs/s")
			b.ReportMetric(total/luaT.Seconds(), "lua-msgs/s")
			b.ReportMetric(rawT.Seconds()/luaT.Seconds(), "lua/raw")
		})
	}
}

func BenchmarkLuaTCPEcho(b *testing.B) {
	benchEcho(b, "tcp", "echo.lua", echoScript, []struct{ workers, conns, size, msgs int }{
		{1, 32, 64, 200}, {2, 32, 64, 200}, {2, 1, 64, 2000},
	})
}

func BenchmarkLuaUDPEcho(b *testing.B) {
	benchEcho(b, "udp", "udp_echo.lua", benchUDPEchoScript, []struct{ workers, conns, size, msgs int }{
		{1, 32, 64, 200}, {2, 32, 64, 200},
	})
}

const benchWSEchoScript = `
local net = require("netrun")
local listener = net.StreamSocketListener.new()
listener.ConnectionReceived:add(function(_, args)
	local ws = net.ServerMessageWebSocket.AcceptAsync(args.Socket):await()
	ws.MessageReceived:add(function(sender, a)
		local reader = a:GetDataReader()
		sender.Control.MessageType = a.MessageType
		sender.OutputStream:WriteAsync(reader:ReadBytes(reader.UnconsumedBufferLength)):await()
	end)
end)
listener:BindEndpointAsync("127.0.0.1", "0"):await()
print("listening " .. listener.Information.LocalPort)
`

// BenchmarkLuaWSEcho compares, in one run, a Lua WebSocket echo script
// with a raw coder/websocket echo server and with Node's ws package
// echoing (internal/testpeer/wspeer/peer.js), all driven by the same Go
// clients: 64-byte binary messages, one in flight per connection.
func BenchmarkLuaWSEcho(b *testing.B) {
	for _, w := range []struct{ conns, size, msgs int }{{32, 64, 200}} {
		b.Run(fmt.Sprintf("conns=%d/size=%d", w.conns, w.size), func(b *testing.B) {
			rawURL, stopRaw, err := echobench.StartRawWS()
			if err != nil {
				b.Fatal(err)
			}
			defer stopRaw()
			luaAddr, stopLua := startLuaEcho(b, "ws_echo.lua", benchWSEchoScript, 1)
			defer stopLua()
			node := testpeer.StartWSServer(b, testpeer.NodeWS, testpeer.WSPeerOptions{})
			servers := []struct {
				name string
				url  string
				c    *echobench.Clients
				t    time.Duration
			}{{name: "raw", url: rawURL}, {name: "lua", url: "ws://" + luaAddr + "/"}, {name: "node", url: node.URL}}
			for i := range servers {
				c, err := echobench.DialWS(servers[i].url, w.conns, w.size)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				servers[i].c = c
				c.Round(w.msgs) // warm up
			}
			b.ResetTimer()
			for n := 0; n < b.N; n++ {
				for k := range servers {
					// Rotate who goes first, so that drift of the
					// machine hits every server alike.
					s := &servers[(n+k)%len(servers)]
					d, err := s.c.Round(w.msgs)
					if err != nil {
						b.Fatalf("%s: %v", s.name, err)
					}
					s.t += d
				}
			}
			total := float64(b.N * w.conns * w.msgs)
			raw, lua, nd := servers[0].t.Seconds(), servers[1].t.Seconds(), servers[2].t.Seconds()
			b.ReportMetric(total/raw, "raw-msgs/s")
			b.ReportMetric(total/lua, "lua-msgs/s")
			b.ReportMetric(total/nd, "node-msgs/s")
			b.ReportMetric(raw/lua, "lua/raw")
			b.ReportMetric(nd/lua, "lua/node")
		})
	}
}
