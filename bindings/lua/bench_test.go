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
