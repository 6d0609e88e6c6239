package sockets_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
)

// testCtx returns a context that ends with the test, bounded so that a hung
// operation fails the test instead of the whole run.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func host(t testing.TB, s string) *networking.HostName {
	t.Helper()
	h, err := networking.NewHostName(s)
	if err != nil {
		t.Fatalf("NewHostName(%q): %v", s, err)
	}
	return h
}

// splitHostPort splits "host:port" for Connect.
func splitHostPort(t testing.TB, addr string) (*networking.HostName, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return host(t, h), p
}

// connect returns a socket connected to addr, closed at cleanup.
func connect(t testing.TB, env *sockets.Env, addr string, level sockets.SocketProtectionLevel) *sockets.StreamSocket {
	t.Helper()
	s := env.NewStreamSocket()
	t.Cleanup(func() { s.Close() })
	h, p := splitHostPort(t, addr)
	if err := s.Connect(testCtx(t), h, p, level); err != nil {
		t.Fatalf("Connect(%s): %v", addr, err)
	}
	return s
}

func write(t testing.TB, s *sockets.StreamSocket, data string) {
	t.Helper()
	n, err := s.OutputStream().Write(testCtx(t), []byte(data))
	if err != nil || n != len(data) {
		t.Fatalf("Write(%q) = %d, %v", data, n, err)
	}
}

// readN reads exactly n bytes.
func readN(t testing.TB, s *sockets.StreamSocket, n int) string {
	t.Helper()
	buf := make([]byte, n)
	got, err := s.InputStream().Read(testCtx(t), buf, sockets.InputStreamNone)
	if err != nil || got != n {
		t.Fatalf("Read(%d) = %d %q, %v", n, got, buf[:got], err)
	}
	return string(buf)
}

// wantStatus fails unless err carries status st and its HRESULT.
func wantStatus(t testing.TB, err error, st socketerror.Status) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", st)
	}
	var se *socketerror.Error
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a *socketerror.Error", err, err)
	}
	if se.Status != st {
		t.Fatalf("status = %s, want %s (error: %v)", se.Status, st, err)
	}
	if se.HResult != st.HResult() && !(st == socketerror.OperationAborted && se.HResult == socketerror.EClosed) {
		t.Fatalf("HRESULT = %s, want %s (error: %v)", se.HResult, st.HResult(), err)
	}
	if got := socketerror.GetStatus(err); got != st {
		t.Fatalf("GetStatus = %s, want %s", got, st)
	}
}

// wantHResult fails unless err carries HRESULT h.
func wantHResult(t testing.TB, err error, h socketerror.HResult) {
	t.Helper()
	if got := socketerror.HResultOf(err); got != h {
		t.Fatalf("HRESULT = %s, want %s (error: %v)", got, h, err)
	}
}

// eventually polls cond until it holds, failing the test after 10 s. It
// waits on a condition of the system under test, never a fixed time.
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

func waitQueued(s *sockets.StreamSocket, n int) {
	for s.WritesIssued() < n {
		time.Sleep(50 * time.Microsecond)
	}
}

func waitReading(s *sockets.StreamSocket) {
	for !s.ReadPending() {
		time.Sleep(50 * time.Microsecond)
	}
}

func waitReadable(t testing.TB, s *sockets.StreamSocket) {
	eventually(t, "data in the receive queue", func() bool { n, err := s.Unread(); return err == nil && n > 0 })
}

func networkingHost(s string) (*networking.HostName, error) { return networking.NewHostName(s) }
