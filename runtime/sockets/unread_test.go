package sockets_test

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/netrun/netrun/internal/testpeer"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
)

// TestUnread checks that bytes put back are read first, in order, by every
// read method, and then the connection's.
func TestUnread(t *testing.T) {
	addr := testpeer.TCPEchoServer(t, "tcp4", "127.0.0.1")
	s := connect(t, nil, addr, sockets.PlainSocket)
	in := s.InputStream()
	if err := in.Unread(testCtx(t), []byte("cd")); err != nil {
		t.Fatal(err)
	}
	if err := in.Unread(testCtx(t), []byte("ab")); err != nil { // goes before "cd"
		t.Fatal(err)
	}
	buf := make([]byte, 3)
	if n, err := in.Read(testCtx(t), buf, sockets.Partial); err != nil || string(buf[:n]) != "abc" {
		t.Fatalf("Partial Read = %q, %v; want \"abc\"", buf[:n], err)
	}
	b, err := in.ReadBufferIdle(16, time.Second)
	if err != nil || string(b.Bytes()) != "d" {
		t.Fatalf("ReadBufferIdle = %v, %v; want \"d\"", b, err)
	}
	b.Release()

	// InputStreamNone fills the buffer from the put-back bytes, then the
	// connection.
	write(t, s, "-tail")
	if err := in.Unread(testCtx(t), []byte("head")); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, s, 9); got != "head-tail" {
		t.Fatalf("read %q, want \"head-tail\"", got)
	}
	if err := in.Unread(testCtx(t), []byte("buffered")); err != nil {
		t.Fatal(err)
	}
	b, err = in.ReadBuffer(testCtx(t), 4, sockets.Partial)
	if err != nil || string(b.Bytes()) != "buff" {
		t.Fatalf("ReadBuffer = %q, %v", b.Bytes(), err)
	}
	b.Release()

	// NetConn hands what is left over to the layered protocol.
	c, err := s.NetConn()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("!")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 5)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "ered!" {
		t.Fatalf("NetConn read %q, %v; want \"ered!\"", got, err)
	}
	s.Close()
	if err := in.Unread(testCtx(t), []byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Unread after Close = %v, want RO_E_CLOSED", err)
	}
	if err := sockets.NewStreamSocket().InputStream().Unread(testCtx(t), []byte("x")); socketerror.HResultOf(err) != socketerror.EIllegalMethodCall {
		t.Fatalf("Unread before connect = %v, want E_ILLEGAL_METHOD_CALL", err)
	}
}
