package isolation_test

// Capabilities enforced by real sockets on loopback.

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/netrun/netrun/internal/testpeer"
	"github.com/netrun/netrun/runtime/isolation"
	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
)

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func hostName(t testing.TB, s string) *networking.HostName {
	t.Helper()
	h, err := networking.NewHostName(s)
	if err != nil {
		t.Fatalf("NewHostName(%q): %v", s, err)
	}
	return h
}

func TestStreamSocketConnectLoopback(t *testing.T) {
	t.Parallel()
	addr := testpeer.TCPEchoServer(t, "tcp4", "127.0.0.1")
	h, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		guard isolation.Capabilities
		want  string // capability a refusal names, "" to succeed
	}{
		{"none", 0, "loopback"},
		{"internet", isolation.Capabilities(isolation.InternetClient | isolation.InternetClientServer), "loopback"},
		{"private", isolation.Capabilities(isolation.PrivateNetworkClientServer), "loopback"},
		{"loopback", isolation.Capabilities(isolation.Loopback), ""},
		{"all", isolation.All, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := &sockets.Env{Guard: tt.guard}
			s := env.NewStreamSocket()
			defer s.Close()
			err := s.Connect(testCtx(t), hostName(t, h), port, sockets.PlainSocket)
			if tt.want != "" {
				if err == nil {
					t.Fatal("Connect succeeded, want access denied")
				}
				wantAccessDenied(t, err, tt.want)
				if !strings.HasPrefix(err.Error(), "StreamSocket.Connect ") {
					t.Errorf("error %q does not name the operation", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Connect: %v", err)
			}
			echo(t, s, "granted")
		})
	}
}

func echo(t *testing.T, s *sockets.StreamSocket, msg string) {
	t.Helper()
	if _, err := s.OutputStream().Write(testCtx(t), []byte(msg)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	buf := make([]byte, len(msg))
	got := 0
	for got < len(buf) {
		n, err := s.InputStream().Read(testCtx(t), buf[got:], sockets.Partial)
		if err != nil {
			t.Fatalf("Read after %d bytes: %v", got, err)
		}
		if n == 0 {
			t.Fatalf("end of stream after %d bytes", got)
		}
		got += n
	}
	if string(buf) != msg {
		t.Fatalf("echo = %q, want %q", buf, msg)
	}
}

func TestStreamSocketListenerBindLoopback(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		guard isolation.Capabilities
		host  string
		want  string
	}{
		{"none", 0, "127.0.0.1", "loopback"},
		{"internetClientServer", isolation.Capabilities(isolation.InternetClientServer), "127.0.0.1", "loopback"},
		{"privateNetworkClientServer v6", isolation.Capabilities(isolation.PrivateNetworkClientServer), "::1", "loopback"},
		{"loopback", isolation.Capabilities(isolation.Loopback), "127.0.0.1", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := &sockets.Env{Guard: tt.guard}
			l := env.NewStreamSocketListener()
			defer l.Close()
			err := l.BindEndpoint(testCtx(t), hostName(t, tt.host), "")
			if tt.want != "" {
				if err == nil {
					t.Fatalf("BindEndpoint(%s) succeeded, want access denied", tt.host)
				}
				wantAccessDenied(t, err, tt.want)
				if l.Information().LocalPort() != "" {
					t.Errorf("refused listener has LocalPort %q", l.Information().LocalPort())
				}
				return
			}
			if err != nil {
				t.Fatalf("BindEndpoint(%s): %v", tt.host, err)
			}
			// A client with the capability reaches it.
			c := env.NewStreamSocket()
			defer c.Close()
			if err := c.Connect(testCtx(t), hostName(t, tt.host), l.Information().LocalPort(), sockets.PlainSocket); err != nil {
				t.Fatalf("Connect to the listener: %v", err)
			}
		})
	}
}

// TestWildcardBind: with no capability that lets anything in, a bind on
// every address is refused; with loopback alone it is allowed.
func TestWildcardBind(t *testing.T) {
	t.Parallel()
	l := (&sockets.Env{Guard: isolation.Capabilities(isolation.InternetClient)}).NewStreamSocketListener()
	defer l.Close()
	err := l.BindServiceName(testCtx(t), "", sockets.PlainSocket)
	if err == nil {
		t.Fatal("BindServiceName with internetClient only succeeded, want access denied")
	}
	wantAccessDenied(t, err, "loopback, privateNetworkClientServer or internetClientServer")
	if socketerror.HResultOf(err) != socketerror.EAccessDenied {
		t.Errorf("HRESULT = %s", socketerror.HResultOf(err))
	}

	l2 := (&sockets.Env{Guard: isolation.Capabilities(isolation.Loopback)}).NewStreamSocketListener()
	defer l2.Close()
	if err := l2.BindServiceName(testCtx(t), "", sockets.PlainSocket); err != nil {
		t.Fatalf("BindServiceName with loopback: %v", err)
	}
}

// TestWildcardAcceptChecksSender: a wildcard bind allowed by
// privateNetworkClientServer still refuses each connection from loopback,
// which that capability does not cover; the client sees the connection
// closed and no ConnectionReceived is raised.
func TestWildcardAcceptChecksSender(t *testing.T) {
	t.Parallel()
	env := &sockets.Env{
		Guard:  isolation.Capabilities(isolation.PrivateNetworkClientServer),
		Logger: slog.New(slog.DiscardHandler),
	}
	l := env.NewStreamSocketListener()
	defer l.Close()
	got := make(chan *sockets.StreamSocket, 1)
	l.ConnectionReceived().Add(func(a *sockets.ConnectionReceivedEventArgs) { got <- a.Socket })
	if err := l.BindServiceName(testCtx(t), "", sockets.PlainSocket); err != nil {
		t.Fatalf("BindServiceName with privateNetworkClientServer: %v", err)
	}
	conn, err := net.Dial("tcp4", "127.0.0.1:"+l.Information().LocalPort())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := conn.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read from a refused connection = %d, %v; want it closed by the listener", n, err)
	}
	select {
	case s := <-got:
		s.Close()
		t.Fatal("ConnectionReceived raised for a connection from loopback")
	default:
	}
}
