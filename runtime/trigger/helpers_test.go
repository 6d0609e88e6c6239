package trigger_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/sockets"
	"github.com/netrun/netrun/runtime/trigger"
)

// wait bounds every wait for an event.
const wait = 15 * time.Second

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newBroker(t testing.TB, opts trigger.Options) *trigger.Broker {
	b := trigger.NewBroker(opts)
	t.Cleanup(func() { b.Close() })
	return b
}

func loopback(t testing.TB) *networking.HostName {
	h, err := networking.NewHostName("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// peerListener listens on 127.0.0.1 and hands out the connections it
// accepts.
type peerListener struct {
	ln    net.Listener
	conns chan net.Conn
}

func listenPeer(t testing.TB) *peerListener {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &peerListener{ln: ln, conns: make(chan net.Conn, 16)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.conns <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for {
			select {
			case c := <-p.conns:
				c.Close()
			default:
				return
			}
		}
	})
	return p
}

func (p *peerListener) port() string {
	_, port, _ := net.SplitHostPort(p.ln.Addr().String())
	return port
}

func (p *peerListener) next(t testing.TB) net.Conn {
	t.Helper()
	select {
	case c := <-p.conns:
		t.Cleanup(func() { c.Close() })
		return c
	case <-time.After(wait):
		t.Fatal("no connection accepted")
		return nil
	}
}

// pair returns a StreamSocket connected to a plain peer, and the peer's
// end; setup, if not nil, runs on the socket before it connects.
func pair(t testing.TB, setup func(*sockets.StreamSocket)) (*sockets.StreamSocket, net.Conn) {
	t.Helper()
	p := listenPeer(t)
	s := sockets.NewStreamSocket()
	t.Cleanup(func() { s.Close() })
	if setup != nil {
		setup(s)
	}
	if err := s.Connect(testCtx(t), loopback(t), p.port(), sockets.PlainSocket); err != nil {
		t.Fatal(err)
	}
	return s, p.next(t)
}

func readString(t testing.TB, s *sockets.StreamSocket, n int) string {
	t.Helper()
	buf := make([]byte, n)
	got, err := s.InputStream().Read(testCtx(t), buf, sockets.InputStreamNone)
	if err != nil || got != n {
		t.Fatalf("Read(%d) = %d %q, %v", n, got, buf[:got], err)
	}
	return string(buf)
}

// recv waits for a value on ch.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

// eventually polls cond until it holds, failing the test after 10 s: for
// a state of the system under test that no event announces.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
