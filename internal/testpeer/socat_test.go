package testpeer_test

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"testing"
	"time"

	"github.com/netrun/netrun/internal/testpeer"
)

func TestTCPEchoServer(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ network, addr string }{
		{"tcp4", "127.0.0.1"},
		{"tcp6", "::1"},
	} {
		t.Run(tt.network, func(t *testing.T) {
			t.Parallel()
			addr := testpeer.TCPEchoServer(t, tt.network, tt.addr)
			host, _, _ := net.SplitHostPort(addr)
			if host != tt.addr {
				t.Fatalf("TCPEchoServer returned %s, want host %s", addr, tt.addr)
			}
			// Two connections at once: each gets its own child.
			c1 := dialTCP(t, tt.network, addr)
			c2 := dialTCP(t, tt.network, addr)
			roundTrip(t, c1, "one", "one")
			roundTrip(t, c2, "two", "two")

			// Large data, then a half-close: everything comes back,
			// then EOF.
			big := make([]byte, 1<<20)
			_, _ = rand.Read(big)
			errc := make(chan error, 1)
			go func() {
				_, err := c1.Write(big)
				if err == nil {
					err = c1.(*net.TCPConn).CloseWrite()
				}
				errc <- err
			}()
			got, err := io.ReadAll(c1)
			if err != nil {
				t.Fatalf("read echo: %v", err)
			}
			if err := <-errc; err != nil {
				t.Fatalf("write: %v", err)
			}
			if !bytes.Equal(got, big) {
				t.Fatalf("echoed %d bytes, want the %d sent", len(got), len(big))
			}
		})
	}
}

func TestUDPEchoServer(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ network, addr string }{
		{"udp4", "127.0.0.1"},
		{"udp6", "::1"},
	} {
		t.Run(tt.network, func(t *testing.T) {
			t.Parallel()
			addr := testpeer.UDPEchoServer(t, tt.network, tt.addr)
			raddr, err := net.ResolveUDPAddr(tt.network, addr)
			if err != nil {
				t.Fatal(err)
			}
			c, err := net.DialUDP(tt.network, nil, raddr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
				t.Fatal(err)
			}
			// Datagrams keep their boundaries and are echoed whole,
			// even above socat's default 8 KiB buffer.
			for _, size := range []int{1, 100, 20000} {
				msg := make([]byte, size)
				_, _ = rand.Read(msg)
				if _, err := c.Write(msg); err != nil {
					t.Fatalf("write %d bytes: %v", size, err)
				}
				buf := make([]byte, 65536)
				n, err := c.Read(buf)
				if err != nil {
					t.Fatalf("read echo of %d bytes: %v", size, err)
				}
				if !bytes.Equal(buf[:n], msg) {
					t.Fatalf("echo of a %d-byte datagram is %d bytes and differs", size, n)
				}
			}
		})
	}
}

func TestStartSocatStdio(t *testing.T) {
	t.Parallel()
	echo := testpeer.TCPEchoServer(t, "tcp4", "127.0.0.1")
	s := testpeer.StartSocat(t, "-", "TCP4:"+echo)
	if _, err := io.WriteString(s.Stdin(), "through socat\n"); err != nil {
		t.Fatal(err)
	}
	s.WaitOutput(t, "through socat\n")
	if err := s.Stdin().Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Wait(); err != nil {
		t.Fatalf("socat did not exit cleanly after EOF on stdin: %v", err)
	}
	if got := s.Stdout(); got != "through socat\n" {
		t.Fatalf("stdout = %q, want the echoed line only", got)
	}
}

func TestStartSocatListenAddrAndKill(t *testing.T) {
	t.Parallel()
	s := testpeer.StartSocat(t, "TCP4-LISTEN:0,bind=127.0.0.1", "PIPE")
	addr := s.ListenAddr(t)
	c := dialTCP(t, "tcp4", addr)
	roundTrip(t, c, "x", "x")
	s.Kill()
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("read after Kill succeeded")
	}
	if err := s.Wait(); err == nil {
		t.Fatal("Wait after Kill returned nil, want the kill signal")
	}
}

// dialTCP dials addr, failing t on error, with a deadline of ioTimeout;
// the connection is closed when the test ends.
func dialTCP(t *testing.T, network, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout(network, addr, ioTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		t.Fatal(err)
	}
	return c
}
