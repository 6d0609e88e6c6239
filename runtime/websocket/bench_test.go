package websocket_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/netrun/netrun/internal/echobench"
	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/sockets"
	"github.com/netrun/netrun/runtime/websocket"
)

// runtimeWSEcho serves WebSocket echo with ServerMessageWebSocket: every
// message is sent back, with its type, from its MessageReceived handler.
func runtimeWSEcho(b *testing.B) (url string, stop func()) {
	l := sockets.NewStreamSocketListener()
	var mu sync.Mutex
	var open []*websocket.ServerMessageWebSocket
	var wg sync.WaitGroup
	l.ConnectionReceived().Add(func(a *sockets.ConnectionReceivedEventArgs) {
		wg.Go(func() {
			s, err := websocket.AcceptMessage(context.Background(), a.Socket, websocket.AcceptOptions{})
			if err != nil {
				b.Error(err)
				return
			}
			s.MessageReceived().Add(func(m *websocket.MessageReceivedEventArgs) {
				s.Control().SetMessageType(m.MessageType())
				s.Send(context.Background(), m.Data())
			})
			mu.Lock()
			open = append(open, s)
			mu.Unlock()
		})
	})
	h, _ := networking.NewHostName("127.0.0.1")
	if err := l.BindEndpoint(context.Background(), h, ""); err != nil {
		b.Fatal(err)
	}
	return "ws://127.0.0.1:" + l.Information().LocalPort() + "/", func() {
		l.Close()
		wg.Wait()
		for _, s := range open {
			s.Close()
		}
	}
}

// BenchmarkWebSocketEcho compares, in one run, echo through
// ServerMessageWebSocket with a raw coder/websocket echo server
// (echobench.StartRawWS: net/http and websocket.Accept), both driven by
// the same Go clients: binary messages, one in flight per connection.
// Each iteration runs one round through each server, alternating which
// goes first. It reports both rates and their ratio runtime/raw.
func BenchmarkWebSocketEcho(b *testing.B) {
	for _, w := range []struct{ conns, size, msgs int }{{32, 64, 200}} {
		b.Run(fmt.Sprintf("conns=%d/size=%d", w.conns, w.size), func(b *testing.B) {
			rawURL, stopRaw, err := echobench.StartRawWS()
			if err != nil {
				b.Fatal(err)
			}
			defer stopRaw()
			rtURL, stopRT := runtimeWSEcho(b)
			defer stopRT()
			dial := func(url string) *echobench.Clients {
				c, err := echobench.DialWS(url, w.conns, w.size)
				if err != nil {
					b.Fatal(err)
				}
				return c
			}
			// Closed before the servers stop (deferred earlier).
			raw := dial(rawURL)
			defer raw.Close()
			rt := dial(rtURL)
			defer rt.Close()
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
			b.ResetTimer()
			rawTime, rtTime := echobench.Compare(b.N, round(raw), round(rt))
			total := float64(b.N * w.conns * w.msgs)
			b.ReportMetric(total/rawTime.Seconds(), "raw-msgs/s")
			b.ReportMetric(total/rtTime.Seconds(), "runtime-msgs/s")
			b.ReportMetric(rawTime.Seconds()/rtTime.Seconds(), "runtime/raw")
			b.SetBytes(int64(2 * w.conns * w.msgs * w.size))
		})
	}
}
