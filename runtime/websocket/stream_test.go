package websocket_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
	"github.com/netrun/netrun/runtime/websocket"
)

// streamPair connects a StreamWebSocket to a ServerStreamWebSocket.
func streamPair(t *testing.T) (*websocket.StreamWebSocket, *websocket.ServerStreamWebSocket) {
	t.Helper()
	srv := listen(t, nil)
	ch := srv.acceptStream(t, websocket.AcceptOptions{})
	c := websocket.NewStreamWebSocket(nil)
	t.Cleanup(func() { c.Close() })
	if err := c.Connect(testCtx(t), srv.URL); err != nil {
		t.Fatal(err)
	}
	return c, get(t, ch)
}

func TestStreamWebSocket(t *testing.T) {
	c, s := streamPair(t)
	if !c.Control().NoDelay() {
		t.Error("NoDelay defaults to false")
	}
	ctx := testCtx(t)
	// Three writes are three messages; the reader sees one byte stream.
	for _, p := range []string{"abc", "defg", "hij"} {
		if n, err := c.OutputStream().Write(ctx, []byte(p)); err != nil || n != len(p) {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	buf := make([]byte, 10)
	if n, err := s.InputStream().Read(ctx, buf, sockets.InputStreamNone); err != nil || string(buf[:n]) != "abcdefghij" {
		t.Fatalf("Read(None) = %q, %v", buf[:n], err)
	}
	// Partial returns what is there.
	s.OutputStream().Write(ctx, []byte("xy"))
	n, err := c.InputStream().Read(ctx, buf, sockets.Partial)
	if err != nil || string(buf[:n]) != "xy" {
		t.Fatalf("Read(Partial) = %q, %v", buf[:n], err)
	}
	// A large write arrives whole, in pieces.
	big := pattern(300 << 10)
	go s.OutputStream().Write(ctx, big)
	got := make([]byte, len(big))
	if n, err := c.InputStream().Read(ctx, got, sockets.InputStreamNone); err != nil || !bytes.Equal(got[:n], big) {
		t.Fatalf("Read of 300 KiB = %d, %v", n, err)
	}
}

// TestStreamReadContext checks that a Read whose context ends leaves the
// connection usable.
func TestStreamReadContext(t *testing.T) {
	c, s := streamPair(t)
	ctx, cancel := context.WithTimeout(testCtx(t), 20*time.Millisecond)
	defer cancel()
	buf := make([]byte, 4)
	_, err := c.InputStream().Read(ctx, buf, sockets.Partial)
	wantWebStatus(t, err, websocket.Timeout)
	if _, err := s.OutputStream().Write(testCtx(t), []byte("more")); err != nil {
		t.Fatal(err)
	}
	if n, err := c.InputStream().Read(testCtx(t), buf, sockets.InputStreamNone); err != nil || string(buf[:n]) != "more" {
		t.Fatalf("Read after a timed-out one = %q, %v", buf[:n], err)
	}
}

func TestStreamEOF(t *testing.T) {
	c, s := streamPair(t)
	closed := closings(c.Closed())
	s.OutputStream().Write(testCtx(t), []byte("last words"))
	if err := s.CloseWithStatus(4000, "done"); err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(readerOf(c.InputStream()))
	if err != nil || string(all) != "last words" {
		t.Fatalf("ReadAll = %q, %v", all, err)
	}
	if cl := recvClosed(t, closed); cl.code != 4000 || cl.reason != "done" {
		t.Fatalf("Closed %d %q", cl.code, cl.reason)
	}
	c.Close()
	if _, err := c.InputStream().Read(testCtx(t), make([]byte, 1), sockets.Partial); socketerror.HResultOf(err) != socketerror.EClosed {
		t.Fatalf("Read after Close = %v, want RO_E_CLOSED", err)
	}
}

// readerOf adapts an InputStream to io.Reader.
func readerOf(in *websocket.InputStream) io.Reader { return streamReader{in} }

type streamReader struct{ in *websocket.InputStream }

func (r streamReader) Read(p []byte) (int, error) {
	n, err := r.in.Read(context.Background(), p, sockets.Partial)
	if n > 0 && errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err
}
