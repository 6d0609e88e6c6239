package sockets_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/netrun/netrun/internal/echobench"
	"github.com/netrun/netrun/runtime/sockets"
)

// The echo benchmarks measure an echo server built on runtime/ against
// the same server written on net.Conn, with the same Go client, in the same
// run: each b.N iteration drives one round of the workload through both
// servers in turn, so the ratio is immune to drift of the machine.

// runtimeTCPEcho serves echo on a StreamSocketListener, reading with
// ReadBuffer (a pooled buffer borrowed only while bytes are there), as the
// script bindings do.
func runtimeTCPEcho(b *testing.B) (addr string, stop func()) {
	l := sockets.NewStreamSocketListener()
	var wg sync.WaitGroup
	l.ConnectionReceived().Add(func(a *sockets.ConnectionReceivedEventArgs) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := a.Socket
			defer s.Close()
			ctx := context.Background()
			for {
				buf, err := s.InputStream().ReadBuffer(ctx, 16<<10, sockets.Partial)
				if err != nil {
					return
				}
				_, err = s.OutputStream().Write(ctx, buf.Bytes())
				buf.Release()
				if err != nil {
					return
				}
			}
		}()
	})
	h, err := networkingHost("127.0.0.1")
	if err != nil {
		b.Fatal(err)
	}
	if err := l.BindEndpoint(context.Background(), h, ""); err != nil {
		b.Fatal(err)
	}
	return "127.0.0.1:" + l.Information().LocalPort(), func() { l.Close(); wg.Wait() }
}

// BenchmarkTCPEcho reports msgs/s through the runtime/ echo server and
// through the raw net.Conn one, and their ratio runtime/raw.
func BenchmarkTCPEcho(b *testing.B) {
	for _, w := range []struct{ conns, size, msgs int }{
		{1, 64, 2000}, {32, 64, 200}, {32, 16 << 10, 50},
	} {
		b.Run(fmt.Sprintf("conns=%d/size=%d", w.conns, w.size), func(b *testing.B) {
			rawAddr, stopRaw := startRaw(b, "tcp")
			defer stopRaw()
			rtAddr, stopRT := runtimeTCPEcho(b)
			defer stopRT()
			compare(b, "tcp", rawAddr, rtAddr, w.conns, w.size, w.msgs)
			b.SetBytes(int64(2 * w.conns * w.msgs * w.size))
		})
	}
}

// BenchmarkStreamSocketReadWrite measures the allocation cost of one
// write and one read through a connected StreamSocket.
func BenchmarkStreamSocketReadWrite(b *testing.B) {
	addr, stop := startRaw(b, "tcp")
	defer stop()
	s := sockets.NewStreamSocket()
	defer s.Close()
	h, _ := networkingHost("127.0.0.1")
	_, port, _ := net.SplitHostPort(addr)
	if err := s.Connect(context.Background(), h, port, sockets.PlainSocket); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	msg := make([]byte, 64)
	b.ReportAllocs()
	b.ResetTimer()
	b.SetBytes(64)
	for i := 0; i < b.N; i++ {
		if _, err := s.OutputStream().Write(ctx, msg); err != nil {
			b.Fatal(err)
		}
		got := 0
		for got < 64 {
			buf, err := s.InputStream().ReadBuffer(ctx, 64-got, sockets.Partial)
			if err != nil {
				b.Fatal(err)
			}
			got += buf.Len()
			buf.Release()
		}
	}
}

// runtimeUDPEcho serves UDP echo on a DatagramSocket: each datagram is
// written back through an output stream to its sender, made the first time
// that sender is seen, as a script keeps one per peer.
func runtimeUDPEcho(b *testing.B) (addr string, stop func()) {
	d := sockets.NewDatagramSocket()
	streams := map[netip.AddrPort]*sockets.DatagramOutputStream{}
	ctx := context.Background()
	d.MessageReceived().Add(func(a *sockets.DatagramSocketMessageReceivedEventArgs) {
		from := a.RemoteAddrPort()
		out, ok := streams[from]
		if !ok {
			var err error
			if out, err = d.GetOutputStream(ctx, a.RemoteAddress(), a.RemotePort()); err != nil {
				b.Error(err)
				return
			}
			streams[from] = out
		}
		out.Write(ctx, a.Data())
	})
	h, _ := networkingHost("127.0.0.1")
	if err := d.BindEndpoint(ctx, h, ""); err != nil {
		b.Fatal(err)
	}
	return "127.0.0.1:" + d.Information().LocalPort(), func() { d.Close() }
}

// BenchmarkUDPEcho reports msgs/s through the DatagramSocket echo server
// and through the raw net.UDPConn one, and their ratio runtime/raw. Each
// client connection keeps one datagram in flight.
func BenchmarkUDPEcho(b *testing.B) {
	for _, w := range []struct{ conns, size, msgs int }{{1, 64, 2000}, {32, 64, 200}, {32, 1400, 100}} {
		b.Run(fmt.Sprintf("conns=%d/size=%d", w.conns, w.size), func(b *testing.B) {
			rawAddr, stopRaw := startRaw(b, "udp")
			defer stopRaw()
			rtAddr, stopRT := runtimeUDPEcho(b)
			defer stopRT()
			compare(b, "udp", rawAddr, rtAddr, w.conns, w.size, w.msgs)
		})
	}
}

// startRaw starts echobench's raw-Go echo server, the baseline.
func startRaw(b *testing.B, network string) (string, func()) {
	addr, stop, err := echobench.StartRaw(network)
	if err != nil {
		b.Fatal(err)
	}
	return addr, stop
}

// compare drives the raw server at rawAddr and the runtime's at rtAddr
// with the same clients, alternating rounds, and reports both rates and
// their ratio runtime/raw.
func compare(b *testing.B, network, rawAddr, rtAddr string, conns, size, msgs int) {
	dial := func(addr string) *echobench.Clients {
		c, err := echobench.Dial(network, addr, conns, size)
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	// Closed before the caller's deferred server stops, which wait for
	// the connections to end.
	raw := dial(rawAddr)
	defer raw.Close()
	rt := dial(rtAddr)
	defer rt.Close()
	round := func(c *echobench.Clients) func() time.Duration {
		return func() time.Duration {
			d, err := c.Round(msgs)
			if err != nil {
				b.Error(err)
			}
			return d
		}
	}
	b.ResetTimer()
	rawTime, rtTime := echobench.Compare(b.N, round(raw), round(rt))
	total := float64(b.N * conns * msgs)
	b.ReportMetric(total/rawTime.Seconds(), "raw-msgs/s")
	b.ReportMetric(total/rtTime.Seconds(), "runtime-msgs/s")
	b.ReportMetric(rawTime.Seconds()/rtTime.Seconds(), "runtime/raw")
}
