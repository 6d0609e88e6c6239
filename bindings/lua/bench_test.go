package lua_test

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	lua "github.com/netrun/netrun/bindings/lua"
	"github.com/netrun/netrun/internal/echobench"
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
