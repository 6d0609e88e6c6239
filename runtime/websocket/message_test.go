package websocket_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/websocket"
)

// echo makes the server send every message back with its type.
func echo(t testing.TB, s *websocket.ServerMessageWebSocket) {
	s.MessageReceived().Add(func(a *websocket.MessageReceivedEventArgs) {
		s.Control().SetMessageType(a.MessageType())
		if err := s.Send(context.Background(), a.Data()); err != nil {
			t.Errorf("echo: %v", err)
		}
	})
}

func TestMessageEcho(t *testing.T) {
	c, s := pair(t, websocket.AcceptOptions{}, nil)
	echo(t, s)
	got := messages(c.MessageReceived())
	for _, tc := range []struct {
		typ  websocket.SocketMessageType
		data string
	}{
		{websocket.Utf8, "hello, wörld"},
		{websocket.Binary, "\x00\x01\xff binary"},
		{websocket.Utf8, ""},
		{websocket.Binary, ""},
		{websocket.Binary, string(pattern(200 << 10))},
	} {
		if err := c.Control().SetMessageType(tc.typ); err != nil {
			t.Fatal(err)
		}
		send(t, c, []byte(tc.data))
		m := recv(t, got)
		if m.typ != tc.typ || !m.complete || string(m.data) != tc.data {
			t.Fatalf("echo of a %d-byte %s message: got %s complete=%v %d bytes", len(tc.data), tc.typ, m.typ, m.complete, len(m.data))
		}
	}
	// OutputStream writes are messages too.
	c.Control().SetMessageType(websocket.Utf8)
	if n, err := c.OutputStream().Write(testCtx(t), []byte("stored")); err != nil || n != 6 {
		t.Fatalf("OutputStream.Write = %d, %v", n, err)
	}
	if err := c.OutputStream().Flush(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, got); string(m.data) != "stored" || m.typ != websocket.Utf8 {
		t.Fatalf("got %q %s", m.data, m.typ)
	}
	if c.Information().LocalAddress() == nil || c.Information().Protocol() != "" {
		t.Fatalf("Information: LocalAddress %v, Protocol %q", c.Information().LocalAddress(), c.Information().Protocol())
	}
}

func TestSendRejectsInvalidUTF8(t *testing.T) {
	c, _ := pair(t, websocket.AcceptOptions{}, nil)
	c.Control().SetMessageType(websocket.Utf8)
	err := c.Send(testCtx(t), []byte{0xff, 'a'})
	if socketerror.HResultOf(err) != socketerror.EInvalidArg {
		t.Fatalf("Send of invalid UTF-8 as Utf8 = %v, want E_INVALIDARG", err)
	}
	if _, err := c.SendNonfinalFrame(testCtx(t), []byte{0xe2, 0x82}); err != nil {
		t.Fatalf("a rune split between frames: %v", err)
	}
	if _, err := c.SendFinalFrame(testCtx(t), nil); socketerror.HResultOf(err) != socketerror.EInvalidArg {
		t.Fatalf("ending a text message inside a rune = %v, want E_INVALIDARG", err)
	}
	if _, err := c.SendFinalFrame(testCtx(t), []byte{0xac}); err != nil {
		t.Fatalf("completing the rune: %v", err)
	}
}

func TestSubprotocols(t *testing.T) {
	for _, tc := range []struct {
		name           string
		client, server []string
		want           string
	}{
		{"server preference", []string{"v2.chat", "v1.chat"}, []string{"v1.chat", "v2.chat"}, "v1.chat"},
		{"one in common", []string{"a", "b"}, []string{"c", "b"}, "b"},
		{"none in common", []string{"a"}, []string{"b"}, ""},
		{"client offers none", nil, []string{"b"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, s := pair(t, websocket.AcceptOptions{Protocols: tc.server}, func(c *websocket.MessageWebSocket) {
				for _, p := range tc.client {
					if err := c.Control().AppendSupportedProtocol(p); err != nil {
						t.Fatal(err)
					}
				}
			})
			if c.Information().Protocol() != tc.want || s.Information().Protocol() != tc.want {
				t.Fatalf("Protocol: client %q, server %q, want %q", c.Information().Protocol(), s.Information().Protocol(), tc.want)
			}
		})
	}
	c := websocket.NewMessageWebSocket(nil)
	defer c.Close()
	for _, bad := range []string{"", "two words", "a,b", "é"} {
		if err := c.Control().AppendSupportedProtocol(bad); socketerror.HResultOf(err) != socketerror.EInvalidArg {
			t.Errorf("AppendSupportedProtocol(%q) = %v, want E_INVALIDARG", bad, err)
		}
	}
	c.Control().AppendSupportedProtocol("x")
	if err := c.Control().AppendSupportedProtocol("x"); socketerror.HResultOf(err) != socketerror.EInvalidArg {
		t.Errorf("a protocol offered twice: %v", err)
	}
}

func TestFragmentedSend(t *testing.T) {
	for _, mode := range []websocket.MessageWebSocketReceiveMode{websocket.FullMessage, websocket.PartialMessage} {
		t.Run(mode.String(), func(t *testing.T) {
			c, s := pair(t, websocket.AcceptOptions{ReceiveMode: mode}, nil)
			got := messages(s.MessageReceived())
			c.Control().SetMessageType(websocket.Utf8)
			for _, f := range []string{"fra", "gme", "nted "} {
				if n, err := c.SendNonfinalFrame(testCtx(t), []byte(f)); err != nil || n != len(f) {
					t.Fatalf("SendNonfinalFrame = %d, %v", n, err)
				}
			}
			// The message's type is fixed by its first frame.
			c.Control().SetMessageType(websocket.Binary)
			if _, err := c.SendFinalFrame(testCtx(t), []byte("text")); err != nil {
				t.Fatal(err)
			}
			m := recvWhole(t, got)
			if string(m.data) != "fragmented text" || m.typ != websocket.Utf8 {
				t.Fatalf("got %q (%s)", m.data, m.typ)
			}
			// SendFinalFrame alone is a whole message.
			if _, err := c.SendFinalFrame(testCtx(t), []byte{1, 2}); err != nil {
				t.Fatal(err)
			}
			if m := recvWhole(t, got); !bytes.Equal(m.data, []byte{1, 2}) || m.typ != websocket.Binary {
				t.Fatalf("got %v (%s)", m.data, m.typ)
			}
		})
	}
}

// TestPartialPiecesAsTheyArrive checks that a piece of a message is raised
// as soon as it arrives, before the rest of the message is sent.
func TestPartialPiecesAsTheyArrive(t *testing.T) {
	c, s := pair(t, websocket.AcceptOptions{ReceiveMode: websocket.PartialMessage}, nil)
	got := messages(s.MessageReceived())
	c.Control().SetMessageType(websocket.Utf8)
	var all []byte
	for _, f := range []string{"first ", "sécond ", ""} {
		if _, err := c.SendNonfinalFrame(testCtx(t), []byte(f)); err != nil {
			t.Fatal(err)
		}
		if f == "" {
			continue
		}
		m := recv(t, got)
		if string(m.data) != f || m.complete || m.typ != websocket.Utf8 {
			t.Fatalf("piece %q: got %q complete=%v", f, m.data, m.complete)
		}
		all = append(all, m.data...)
	}
	if _, err := c.SendFinalFrame(testCtx(t), []byte("last")); err != nil {
		t.Fatal(err)
	}
	rest := recvWhole(t, got)
	all = append(all, rest.data...)
	if string(all) != "first sécond last" {
		t.Fatalf("message %q", all)
	}
}

func TestPartialLargeMessage(t *testing.T) {
	c, s := pair(t, websocket.AcceptOptions{ReceiveMode: websocket.PartialMessage}, nil)
	got := messages(s.MessageReceived())
	data := pattern(1<<20 + 17)
	send(t, c, data)
	var pieces int
	var whole []byte
	for {
		m := recv(t, got)
		pieces++
		whole = append(whole, m.data...)
		if m.complete {
			break
		}
	}
	if !bytes.Equal(whole, data) || pieces < 2 {
		t.Fatalf("%d bytes in %d pieces, want %d bytes in several", len(whole), pieces, len(data))
	}
}

func TestHeldMessages(t *testing.T) {
	c, s := pair(t, websocket.AcceptOptions{}, nil)
	// Both sides send before the other has a handler.
	for i := range 5 {
		send(t, c, []byte{byte(i)})
		send(t, s, []byte{byte(10 + i)})
	}
	time.Sleep(20 * time.Millisecond) // let the messages arrive; they must wait, not drop
	fromClient, fromServer := messages(s.MessageReceived()), messages(c.MessageReceived())
	for i := range 5 {
		if m := recv(t, fromClient); m.data[0] != byte(i) {
			t.Fatalf("server got %v, want %d", m.data, i)
		}
		if m := recv(t, fromServer); m.data[0] != byte(10+i) {
			t.Fatalf("client got %v, want %d", m.data, 10+i)
		}
	}
}

func TestConcurrentSends(t *testing.T) {
	c, s := pair(t, websocket.AcceptOptions{}, nil)
	got := messages(s.MessageReceived())
	const senders, each = 8, 50
	var wg sync.WaitGroup
	for g := range senders {
		wg.Go(func() {
			for i := range each {
				msg := bytes.Repeat([]byte{byte(g)}, 1000+i)
				if err := c.Send(testCtx(t), msg); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	next := make([]int, senders)
	for range senders * each {
		m := recv(t, got)
		g := int(m.data[0])
		if len(m.data) != 1000+next[g] || !bytes.Equal(m.data, bytes.Repeat([]byte{byte(g)}, len(m.data))) {
			t.Fatalf("sender %d: got %d bytes, want %d of %d", g, len(m.data), 1000+next[g], g)
		}
		next[g]++
	}
}

func TestMaxMessageSize(t *testing.T) {
	for _, mode := range []websocket.MessageWebSocketReceiveMode{websocket.FullMessage, websocket.PartialMessage} {
		t.Run(mode.String(), func(t *testing.T) {
			c, s := pair(t, websocket.AcceptOptions{}, func(c *websocket.MessageWebSocket) {
				if err := c.Control().SetMaxMessageSize(1000); err != nil {
					t.Fatal(err)
				}
				c.Control().SetReceiveMode(mode)
			})
			got, cClosed, sClosed := messages(c.MessageReceived()), closings(c.Closed()), closings(s.Closed())
			send(t, s, pattern(1000)) // at the limit: fine
			if m := recvWhole(t, got); len(m.data) != 1000 {
				t.Fatalf("got %d bytes", len(m.data))
			}
			send(t, s, pattern(1001))
			if cl := recvClosed(t, cClosed); cl.code != 1009 || socketerror.GetStatus(cl.err) != socketerror.MessageTooLong {
				t.Fatalf("client Closed: %d %q %v, want 1009 and MessageTooLong", cl.code, cl.reason, cl.err)
			}
			if cl := recvClosed(t, sClosed); cl.code != 1009 {
				t.Fatalf("server Closed: %d %q, want the client's 1009", cl.code, cl.reason)
			}
		})
	}
	c := websocket.NewMessageWebSocket(nil)
	defer c.Close()
	if c.Control().MaxMessageSize() != websocket.DefaultMaxMessageSize {
		t.Errorf("default MaxMessageSize %d", c.Control().MaxMessageSize())
	}
	if err := c.Control().SetMaxMessageSize(0); socketerror.HResultOf(err) != socketerror.EInvalidArg {
		t.Errorf("SetMaxMessageSize(0) = %v", err)
	}
}

func TestCloseCodes(t *testing.T) {
	t.Run("client closes with a status", func(t *testing.T) {
		c, s := pair(t, websocket.AcceptOptions{}, nil)
		cClosed, sClosed := closings(c.Closed()), closings(s.Closed())
		if err := c.CloseWithStatus(4001, "bye now"); err != nil {
			t.Fatal(err)
		}
		if cl := recvClosed(t, sClosed); cl.code != 4001 || cl.reason != "bye now" || cl.err != nil {
			t.Fatalf("server Closed %d %q %v", cl.code, cl.reason, cl.err)
		}
		if cl := recvClosed(t, cClosed); cl.code != 4001 || cl.reason != "bye now" {
			t.Fatalf("client Closed %d %q", cl.code, cl.reason)
		}
		if err := c.Send(testCtx(t), []byte("x")); socketerror.HResultOf(err) != socketerror.EClosed {
			t.Fatalf("Send after Close = %v, want RO_E_CLOSED", err)
		}
	})
	t.Run("server closes without a status", func(t *testing.T) {
		c, s := pair(t, websocket.AcceptOptions{}, nil)
		cClosed := closings(c.Closed())
		s.Close()
		if cl := recvClosed(t, cClosed); cl.code != 1005 || cl.reason != "" || cl.err != nil {
			t.Fatalf("client Closed %d %q %v, want 1005", cl.code, cl.reason, cl.err)
		}
	})
	t.Run("close from a handler", func(t *testing.T) {
		c, s := pair(t, websocket.AcceptOptions{}, nil)
		sClosed := closings(s.Closed())
		s.MessageReceived().Add(func(a *websocket.MessageReceivedEventArgs) {
			s.CloseWithStatus(1000, string(a.Data()))
		})
		send(t, c, []byte("done"))
		if cl := recvClosed(t, sClosed); cl.code != 1000 || cl.reason != "done" {
			t.Fatalf("server Closed %d %q", cl.code, cl.reason)
		}
	})
	t.Run("invalid", func(t *testing.T) {
		c, _ := pair(t, websocket.AcceptOptions{}, nil)
		for _, tc := range []struct {
			code   uint16
			reason string
		}{{999, ""}, {1004, ""}, {1005, ""}, {1006, ""}, {1015, ""}, {2999, ""}, {5000, ""},
			{1000, strings.Repeat("x", 124)}, {1000, "\xff"}} {
			if err := c.CloseWithStatus(tc.code, tc.reason); socketerror.HResultOf(err) != socketerror.EInvalidArg {
				t.Errorf("CloseWithStatus(%d, %d bytes) = %v, want E_INVALIDARG", tc.code, len(tc.reason), err)
			}
		}
	})
}

// TestCloseWithHeldMessage closes a socket whose reader holds a message
// for want of a handler: Close must not wait for a handler.
func TestCloseWithHeldMessage(t *testing.T) {
	c, s := pair(t, websocket.AcceptOptions{}, nil)
	sClosed := closings(s.Closed())
	send(t, c, []byte("never handled"))
	send(t, c, []byte("nor this"))
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatal("Close hung on a held message")
	}
	if cl := recvClosed(t, sClosed); cl.code != 1005 {
		t.Fatalf("server Closed %d", cl.code)
	}
}

// TestContexts checks that Connect's context no longer matters once
// connected, and that a send whose context ends while it waits in the
// queue is abandoned without harm to the connection.
func TestContexts(t *testing.T) {
	srv := listen(t, nil)
	ch := srv.acceptMessage(t, websocket.AcceptOptions{})
	c := websocket.NewMessageWebSocket(nil)
	defer c.Close()
	ctx, cancel := context.WithCancel(testCtx(t))
	if err := c.Connect(ctx, srv.URL); err != nil {
		t.Fatal(err)
	}
	cancel()
	s := get(t, ch)
	echo(t, s)
	got := messages(c.MessageReceived())
	send(t, c, []byte("after the connect context ended"))
	if m := recv(t, got); string(m.data) != "after the connect context ended" {
		t.Fatalf("got %q", m.data)
	}
	// Hold the queue with an open frame-by-frame message, so that a Send
	// waits for its turn; its context ends there.
	if _, err := c.SendNonfinalFrame(testCtx(t), []byte("open ")); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(testCtx(t), nil); socketerror.HResultOf(err) != socketerror.EIllegalMethodCall {
		t.Fatalf("Send inside a frame-by-frame message = %v", err)
	}
	if _, err := c.SendFinalFrame(testCtx(t), []byte("message")); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, got); string(m.data) != "open message" {
		t.Fatalf("got %q", m.data)
	}
	done, cancel2 := context.WithCancel(testCtx(t))
	cancel2()
	wantWebStatus(t, c.Send(done, []byte("never")), websocket.OperationCanceled)
	send(t, c, []byte("still open"))
	if m := recv(t, got); string(m.data) != "still open" {
		t.Fatalf("got %q", m.data)
	}
}

func TestSendAfterPeerClosed(t *testing.T) {
	c, s := pair(t, websocket.AcceptOptions{}, nil)
	closed := closings(c.Closed())
	s.CloseWithStatus(1001, "going away")
	if cl := recvClosed(t, closed); cl.code != 1001 || cl.reason != "going away" {
		t.Fatalf("Closed %d %q", cl.code, cl.reason)
	}
	if err := c.Send(testCtx(t), []byte("late")); socketerror.HResultOf(err) != socketerror.EClosed {
		t.Fatalf("Send after the peer's close = %v, want RO_E_CLOSED", err)
	}
}

// TestClosedHeldUntilHandler: a connection that ends before its owner
// adds a Closed handler still raises Closed, once the handler is added.
func TestClosedHeldUntilHandler(t *testing.T) {
	c, s := pair(t, websocket.AcceptOptions{}, nil)
	// The client's Close returns once the server has answered its close
	// frame, so the server's connection has ended, with no handler yet.
	if err := c.CloseWithStatus(4001, "early"); err != nil {
		t.Fatal(err)
	}
	got := recvClosed(t, closings(s.Closed()))
	if got.code != 4001 || got.reason != "early" {
		t.Fatalf("held Closed = %d %q, want 4001 \"early\"", got.code, got.reason)
	}
}
