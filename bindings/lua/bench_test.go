package lua_test

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	lua "github.com/netrun/netrun/bindings/lua"
)

// The Lua echo benchmark drives the echo script and a raw net.Conn echo
// server with the same Go client in the same run, alternating rounds, and
// reports msgs/s for both and their ratio lua/raw.

func benchRawEcho(b *testing.B) (string, func()) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					if _, err := c.Write(buf[:n]); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), func() { ln.Close(); wg.Wait() }
}

func benchLuaEcho(b *testing.B, workers int) (string, func()) {
	h := &harness{out: newOutput(), dir: b.TempDir()}
	e, err := lua.NewEngine(lua.EngineOptions{Logger: slog.New(slog.DiscardHandler), Stdout: h.out})
	if err != nil {
		b.Fatal(err)
	}
	s, err := e.Start(h.write(b, "echo.lua", echoScript), lua.ScriptOptions{Workers: workers})
	if err != nil {
		b.Fatal(lua.ErrorText(err))
	}
	port := listeningPort(b, h.out.wait(b, "listening "))
	return "127.0.0.1:" + port, s.Stop
}

type benchClients struct {
	conns []net.Conn
	size  int
}

func dialBench(b *testing.B, addr string, n, size int) *benchClients {
	c := &benchClients{size: size}
	for i := 0; i < n; i++ {
		conn, err := net.Dial("tcp4", addr)
		if err != nil {
			b.Fatal(err)
		}
		c.conns = append(c.conns, conn)
	}
	return c
}

func (c *benchClients) round(b *testing.B, msgs int) time.Duration {
	start := time.Now()
	var wg sync.WaitGroup
	for _, conn := range c.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, in := make([]byte, c.size), make([]byte, c.size)
			for i := 0; i < msgs; i++ {
				if _, err := conn.Write(out); err != nil {
					b.Error(err)
					return
				}
				if _, err := io.ReadFull(conn, in); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

func (c *benchClients) close() {
	for _, conn := range c.conns {
		conn.Close()
	}
}

func BenchmarkLuaTCPEcho(b *testing.B) {
	for _, w := range []struct{ workers, conns, size, msgs int }{
		{1, 32, 64, 200}, {2, 32, 64, 200}, {2, 1, 64, 2000},
	} {
		b.Run(fmt.Sprintf("workers=%d/conns=%d/size=%d", w.workers, w.conns, w.size), func(b *testing.B) {
			rawAddr, stopRaw := benchRawEcho(b)
			defer stopRaw()
			luaAddr, stopLua := benchLuaEcho(b, w.workers)
			defer stopLua()
			raw := dialBench(b, rawAddr, w.conns, w.size)
			defer raw.close()
			lc := dialBench(b, luaAddr, w.conns, w.size)
			defer lc.close()
			raw.round(b, w.msgs)
			lc.round(b, w.msgs)
			b.ResetTimer()
			var rawT, luaT time.Duration
			for i := 0; i < b.N; i++ {
				if i%2 == 0 {
					rawT += raw.round(b, w.msgs)
					luaT += lc.round(b, w.msgs)
				} else {
					luaT += lc.round(b, w.msgs)
					rawT += raw.round(b, w.msgs)
				}
			}
			total := float64(b.N * w.conns * w.msgs)
			b.ReportMetric(total/rawT.Seconds(), "raw-msgs/s")
			b.ReportMetric(total/luaT.Seconds(), "lua-msgs/s")
			b.ReportMetric(rawT.Seconds()/luaT.Seconds(), "lua/raw")
		})
	}
}

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

func benchRawUDPEcho(b *testing.B) (string, func()) {
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			pc.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	return pc.LocalAddr().String(), func() { pc.Close(); <-done }
}

type udpBenchClients struct {
	conns []*net.UDPConn
	size  int
}

func (c *udpBenchClients) round(b *testing.B, msgs int) time.Duration {
	start := time.Now()
	var wg sync.WaitGroup
	for _, conn := range c.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, in := make([]byte, c.size), make([]byte, c.size+1)
			for i := 0; i < msgs; i++ {
				if _, err := conn.Write(out); err != nil {
					b.Error(err)
					return
				}
				conn.SetReadDeadline(time.Now().Add(time.Second))
				if n, err := conn.Read(in); err != nil || n != c.size {
					b.Errorf("echo: %d bytes, %v", n, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

func BenchmarkLuaUDPEcho(b *testing.B) {
	for _, w := range []struct{ workers, conns, size, msgs int }{{1, 32, 64, 200}, {2, 32, 64, 200}} {
		b.Run(fmt.Sprintf("workers=%d/conns=%d/size=%d", w.workers, w.conns, w.size), func(b *testing.B) {
			rawAddr, stopRaw := benchRawUDPEcho(b)
			defer stopRaw()
			h := &harness{out: newOutput(), dir: b.TempDir()}
			e, err := lua.NewEngine(lua.EngineOptions{Logger: slog.New(slog.DiscardHandler), Stdout: h.out})
			if err != nil {
				b.Fatal(err)
			}
			s, err := e.Start(h.write(b, "udp_echo.lua", benchUDPEchoScript), lua.ScriptOptions{Workers: w.workers})
			if err != nil {
				b.Fatal(lua.ErrorText(err))
			}
			defer s.Stop()
			luaAddr := "127.0.0.1:" + listeningPort(b, h.out.wait(b, "listening "))
			dial := func(addr string) *udpBenchClients {
				ra, _ := net.ResolveUDPAddr("udp4", addr)
				c := &udpBenchClients{size: w.size}
				for i := 0; i < w.conns; i++ {
					conn, err := net.DialUDP("udp4", nil, ra)
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { conn.Close() })
					c.conns = append(c.conns, conn)
				}
				return c
			}
			raw, lc := dial(rawAddr), dial(luaAddr)
			raw.round(b, w.msgs)
			lc.round(b, w.msgs)
			b.ResetTimer()
			var rawT, luaT time.Duration
			for i := 0; i < b.N; i++ {
				if i%2 == 0 {
					rawT += raw.round(b, w.msgs)
					luaT += lc.round(b, w.msgs)
				} else {
					luaT += lc.round(b, w.msgs)
					rawT += raw.round(b, w.msgs)
				}
			}
			total := float64(b.N * w.conns * w.msgs)
			b.ReportMetric(total/rawT.Seconds(), "raw-msgs/s")
			b.ReportMetric(total/luaT.Seconds(), "lua-msgs/s")
			b.ReportMetric(rawT.Seconds()/luaT.Seconds(), "lua/raw")
		})
	}
}
