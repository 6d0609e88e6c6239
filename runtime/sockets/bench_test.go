package sockets_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/netrun/netrun/runtime/sockets"
)

// The echo benchmarks measure an echo server built on runtime/ against
// the same server written on net.Conn, with the same Go client, in the same
// run: each b.N iteration drives one round of the workload through both
// servers in turn, so the ratio is immune to drift of the machine.

// rounder runs one round of an echo workload and says how long it took.
type rounder interface {
	round(b *testing.B, msgs int) time.Duration
}

// compareRounds warms both servers up, then runs b.N rounds through each,
// alternating which goes first, and reports both rates and their ratio.
// perRound is the number of messages one round echoes.
func compareRounds(b *testing.B, raw, rt rounder, perRound, msgs int) {
	raw.round(b, msgs)
	rt.round(b, msgs)
	b.ResetTimer()
	var rawTime, rtTime time.Duration
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			rawTime += raw.round(b, msgs)
			rtTime += rt.round(b, msgs)
		} else {
			rtTime += rt.round(b, msgs)
			rawTime += raw.round(b, msgs)
		}
	}
	total := float64(b.N * perRound)
	b.ReportMetric(total/rawTime.Seconds(), "raw-msgs/s")
	b.ReportMetric(total/rtTime.Seconds(), "runtime-msgs/s")
	b.ReportMetric(rawTime.Seconds()/rtTime.Seconds(), "runtime/raw")
}

// rawTCPEcho serves echo on a net.Listener, one goroutine per connection.
func rawTCPEcho(b *testing.B) (addr string, stop func()) {
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
				buf := make([]byte, 16<<10)
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

// echoClients holds conns open to addr and runs rounds of ping-pong.
type echoClients struct {
	conns []net.Conn
	size  int
}

func dialEchoClients(b *testing.B, addr string, conns, size int) *echoClients {
	e := &echoClients{size: size}
	for i := 0; i < conns; i++ {
		c, err := net.Dial("tcp4", addr)
		if err != nil {
			b.Fatal(err)
		}
		e.conns = append(e.conns, c)
	}
	return e
}

// round sends msgs messages on every connection, each awaiting its echo,
// and returns how long the round took.
func (e *echoClients) round(b *testing.B, msgs int) time.Duration {
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range e.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := make([]byte, e.size)
			in := make([]byte, e.size)
			for i := 0; i < msgs; i++ {
				if _, err := c.Write(out); err != nil {
					b.Error(err)
					return
				}
				if _, err := io.ReadFull(c, in); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

func (e *echoClients) close() {
	for _, c := range e.conns {
		c.Close()
	}
}

// BenchmarkTCPEcho reports msgs/s through the runtime/ echo server and
// through the raw net.Conn one, and their ratio runtime/raw.
func BenchmarkTCPEcho(b *testing.B) {
	for _, w := range []struct{ conns, size, msgs int }{
		{1, 64, 2000}, {32, 64, 200}, {32, 16 << 10, 50},
	} {
		b.Run(fmt.Sprintf("conns=%d/size=%d", w.conns, w.size), func(b *testing.B) {
			rawAddr, stopRaw := rawTCPEcho(b)
			defer stopRaw()
			rtAddr, stopRT := runtimeTCPEcho(b)
			defer stopRT()
			raw := dialEchoClients(b, rawAddr, w.conns, w.size)
			defer raw.close()
			rt := dialEchoClients(b, rtAddr, w.conns, w.size)
			defer rt.close()
			compareRounds(b, raw, rt, w.conns*w.msgs, w.msgs)
			b.SetBytes(int64(2 * w.conns * w.msgs * w.size))
		})
	}
}

// BenchmarkStreamSocketReadWrite measures the allocation cost of one
// write and one read through a connected StreamSocket.
func BenchmarkStreamSocketReadWrite(b *testing.B) {
	addr, stop := rawTCPEcho(b)
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

// rawUDPEcho serves UDP echo on a net.UDPConn.
func rawUDPEcho(b *testing.B) (addr string, stop func()) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			c.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	return c.LocalAddr().String(), func() { c.Close(); <-done }
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
			rawAddr, stopRaw := rawUDPEcho(b)
			defer stopRaw()
			rtAddr, stopRT := runtimeUDPEcho(b)
			defer stopRT()
			raw := dialUDPClients(b, rawAddr, w.conns, w.size)
			defer raw.close()
			rt := dialUDPClients(b, rtAddr, w.conns, w.size)
			defer rt.close()
			compareRounds(b, raw, rt, w.conns*w.msgs, w.msgs)
		})
	}
}

// udpClients are connected UDP sockets doing ping-pong with an echo server.
type udpClients struct {
	conns []*net.UDPConn
	size  int
}

func dialUDPClients(b *testing.B, addr string, conns, size int) *udpClients {
	u := &udpClients{size: size}
	ra, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < conns; i++ {
		c, err := net.DialUDP("udp4", nil, ra)
		if err != nil {
			b.Fatal(err)
		}
		u.conns = append(u.conns, c)
	}
	return u
}

// round sends msgs datagrams on every connection, each awaiting its echo.
// A lost datagram (none are expected on loopback) fails the benchmark
// after a second rather than hanging it.
func (u *udpClients) round(b *testing.B, msgs int) time.Duration {
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range u.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := make([]byte, u.size)
			in := make([]byte, u.size+1)
			for i := 0; i < msgs; i++ {
				if _, err := c.Write(out); err != nil {
					b.Error(err)
					return
				}
				c.SetReadDeadline(time.Now().Add(time.Second))
				if n, err := c.Read(in); err != nil || n != u.size {
					b.Errorf("echo: %d bytes, %v", n, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

func (u *udpClients) close() {
	for _, c := range u.conns {
		c.Close()
	}
}
