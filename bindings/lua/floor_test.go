package lua_test

import (
	"context"
	"net/netip"
	"strconv"
	"testing"
	"time"

	glua "github.com/yuin/gopher-lua"

	"github.com/netrun/netrun/internal/echobench"
	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/sockets"
)

// BenchmarkLuaUDPFloor measures the ceiling that gopher-lua puts on any
// Lua UDP echo handler, whatever the binding does: a runtime DatagramSocket
// whose Go MessageReceived handler resumes a pooled Lua coroutine (as the
// binding does, with a cancellable context set, as the CPU budget needs)
// and then sends the datagram back from Go. The Lua side does nothing
// ("resume"), or makes calls to a Go function that returns at once
// ("resume+calls=N"), which is what reaching a property or method of a
// binding object costs at least. "go" is the same server with no Lua.
// Each is compared with echobench's raw-Go echo in the same run,
// alternating rounds, like BenchmarkLuaUDPEcho.
func BenchmarkLuaUDPFloor(b *testing.B) {
	for _, v := range []struct {
		name  string
		lua   bool
		calls int
	}{{"go", false, 0}, {"resume", true, 0}, {"resume+calls=6", true, 6}, {"resume+calls=12", true, 12}} {
		b.Run(v.name, func(b *testing.B) {
			rawAddr, stopRaw, err := echobench.StartRaw("udp")
			if err != nil {
				b.Fatal(err)
			}
			defer stopRaw()
			addr := startFloorServer(b, v.lua, v.calls)
			dial := func(addr string) *echobench.Clients {
				c, err := echobench.Dial("udp", addr, 32, 64)
				if err != nil {
					b.Fatal(err)
				}
				return c
			}
			raw := dial(rawAddr)
			defer raw.Close()
			fc := dial(addr)
			defer fc.Close()
			round := func(c *echobench.Clients) func() time.Duration {
				return func() time.Duration {
					d, err := c.Round(200)
					if err != nil {
						b.Error(err)
					}
					return d
				}
			}
			b.ResetTimer()
			rawT, floorT := echobench.Compare(b.N, round(raw), round(fc))
			total := float64(b.N * 32 * 200)
			b.ReportMetric(total/rawT.Seconds(), "raw-msgs/s")
			b.ReportMetric(total/floorT.Seconds(), "floor-msgs/s")
			b.ReportMetric(rawT.Seconds()/floorT.Seconds(), "floor/raw")
		})
	}
}

// startFloorServer binds the floor's echo server on 127.0.0.1 and returns
// its address.
func startFloorServer(b *testing.B, useLua bool, calls int) string {
	L := glua.NewState(glua.Options{RegistrySize: 128, CallStackSize: 200, MinimizeStackMemory: true})
	b.Cleanup(L.Close)
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	eval := func(src string, args ...glua.LValue) *glua.LFunction {
		fn, err := L.LoadString(src)
		if err != nil {
			b.Fatal(err)
		}
		if err := L.CallByParam(glua.P{Fn: fn, NRet: 1, Protect: true}, args...); err != nil {
			b.Fatal(err)
		}
		defer L.Pop(1)
		return L.Get(-1).(*glua.LFunction)
	}
	nop := L.NewFunction(func(L *glua.LState) int { L.Push(glua.LNumber(1)); return 1 })
	handler := eval(`local f, n = ... return function(args) for i = 1, n do f(args) end end`, nop, glua.LNumber(calls))
	// The runner yields for work and runs it, as the binding's pooled
	// coroutines do.
	runner := eval(`return function() local fn, a while true do fn, a = coroutine.yield() fn(a) end end`)
	co, _ := L.NewThread()
	co.SetContext(ctx)
	if _, err, _ := L.Resume(co, runner); err != nil {
		b.Fatal(err)
	}

	d := sockets.NewDatagramSocket()
	b.Cleanup(func() { d.Close() })
	outs := map[netip.AddrPort]*sockets.DatagramOutputStream{}
	d.MessageReceived().Add(func(a *sockets.DatagramSocketMessageReceivedEventArgs) {
		if useLua {
			if _, err, _ := L.Resume(co, nil, handler, glua.LNil); err != nil {
				b.Error(err)
				return
			}
		}
		r := a.RemoteAddrPort()
		o := outs[r]
		if o == nil {
			h, err := networking.NewHostName(r.Addr().Unmap().String())
			if err != nil {
				b.Error(err)
				return
			}
			if o, err = d.GetOutputStream(ctx, h, strconv.Itoa(int(r.Port()))); err != nil {
				b.Error(err)
				return
			}
			outs[r] = o
		}
		if _, ok, err := o.TryWrite(a.Data()); !ok && err == nil {
			_, err = o.Write(ctx, a.Data())
		} else if err != nil {
			b.Error(err)
		}
	})
	h, err := networking.NewHostName("127.0.0.1")
	if err != nil {
		b.Fatal(err)
	}
	if err := d.BindEndpoint(ctx, h, "0"); err != nil {
		b.Fatal(err)
	}
	return "127.0.0.1:" + d.Information().LocalPort()
}
