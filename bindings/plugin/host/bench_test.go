package host_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	pluginhost "github.com/netrun/netrun/bindings/plugin/host"
	"github.com/netrun/netrun/internal/echobench"
	rthost "github.com/netrun/netrun/runtime/host"
	"github.com/netrun/netrun/runtime/isolation"
	"github.com/netrun/netrun/runtime/sockets"
)

// BenchmarkPluginEcho drives an echo plugin (a process of its own, behind
// the host) and echobench's raw-Go echo server with the same clients in
// the same run, alternating rounds, and reports msgs/s for both, their
// ratio plugin/raw, and each one's p50 and p99 round-trip latency from a
// timed run after the rounds. plugin=sdk is the Go echo plugin
// (plugins/echo, on the SDK); plugin=protocol is rawplugin's echo, which
// answers each message of the host in one message of its own with no SDK
// and no goroutine of its own: the floor under any plugin's echo.
func BenchmarkPluginEcho(b *testing.B) {
	for _, w := range []struct {
		plugin            string
		conns, size, msgs int
	}{{"sdk", 32, 64, 200}, {"protocol", 32, 64, 200}, {"sdk", 1, 64, 2000}} {
		b.Run(fmt.Sprintf("plugin=%s/conns=%d/size=%d", w.plugin, w.conns, w.size), func(b *testing.B) {
			rawAddr, stopRaw, err := echobench.StartRaw("tcp")
			if err != nil {
				b.Fatal(err)
			}
			defer stopRaw()
			command := []string{bins.echo, "-addr", "127.0.0.1:0"}
			if w.plugin == "protocol" {
				command = []string{bins.raw, "echo"}
			}
			ready := make(chan string, 1)
			r := pluginhost.New(pluginhost.Options{Logger: slog.New(slog.DiscardHandler), Observe: func(e pluginhost.Event) {
				if e.Kind == pluginhost.Bound {
					select {
					case ready <- e.Addr:
					default:
					}
				}
			}})
			g, err := r.StartPlugin(context.Background(), rthost.PluginConfig{Name: "echo", Command: command},
				&sockets.Env{Guard: isolation.Capabilities(isolation.Loopback)})
			if err != nil {
				b.Fatal(err)
			}
			defer g.Stop()
			var plugAddr string
			select {
			case plugAddr = <-ready:
			case <-time.After(waitTimeout):
				b.Fatal("the echo plugin did not bind")
			}
			dial := func(addr string) *echobench.Clients {
				c, err := echobench.Dial("tcp", addr, w.conns, w.size)
				if err != nil {
					b.Fatal(err)
				}
				return c
			}
			raw := dial(rawAddr)
			defer raw.Close()
			pc := dial(plugAddr)
			defer pc.Close()
			round := func(c *echobench.Clients) func() time.Duration {
				return func() time.Duration {
					d, err := c.Round(w.msgs)
					if err != nil {
						b.Error(err)
					}
					return d
				}
			}
			b.ReportAllocs()
			b.SetBytes(int64(w.conns * w.msgs * w.size))
			b.ResetTimer()
			rawT, plugT := echobench.Compare(b.N, round(raw), round(pc))
			b.StopTimer()
			total := float64(b.N * w.conns * w.msgs)
			b.ReportMetric(total/rawT.Seconds(), "raw-msgs/s")
			b.ReportMetric(total/plugT.Seconds(), "plugin-msgs/s")
			b.ReportMetric(rawT.Seconds()/plugT.Seconds(), "plugin/raw")
			var rh, ph echobench.Histogram
			for _, s := range []struct {
				c *echobench.Clients
				h *echobench.Histogram
			}{{raw, &rh}, {pc, &ph}} {
				if _, _, err := s.c.Run(context.Background(), 500*time.Millisecond, s.h); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(rh.Quantile(0.99).Microseconds()), "raw-p99-µs")
			b.ReportMetric(float64(ph.Quantile(0.50).Microseconds()), "plugin-p50-µs")
			b.ReportMetric(float64(ph.Quantile(0.99).Microseconds()), "plugin-p99-µs")
		})
	}
}
