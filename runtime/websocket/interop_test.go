package websocket_test

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netrun/netrun/internal/testpeer"
	"github.com/netrun/netrun/runtime/event"
	"github.com/netrun/netrun/runtime/sockets"
	"github.com/netrun/netrun/runtime/websocket"
)

// The interop tests run netrun's clients against WebSocket servers we did
// not write (Node's ws, Python's websockets) and those peers' clients
// against netrun's servers. The peers echo every message and obey "cmd:"
// commands (internal/testpeer/wspeer/peer.js).

// endpoint is what the tests drive on either side: a MessageWebSocket or
// a ServerMessageWebSocket.
type endpoint struct {
	send     func(context.Context, []byte) error
	nonfinal func(context.Context, []byte) (int, error)
	final    func(context.Context, []byte) (int, error)
	close    func(uint16, string) error
	setType  func(websocket.SocketMessageType) error
	received *event.Event[*websocket.MessageReceivedEventArgs]
	closed   *event.Event[*websocket.ClosedEventArgs]
	protocol func() string
}

func clientEndpoint(c *websocket.MessageWebSocket) endpoint {
	return endpoint{c.Send, c.SendNonfinalFrame, c.SendFinalFrame, c.CloseWithStatus,
		c.Control().SetMessageType, c.MessageReceived(), c.Closed(), c.Information().Protocol}
}

func serverEndpoint(s *websocket.ServerMessageWebSocket) endpoint {
	return endpoint{s.Send, s.SendNonfinalFrame, s.SendFinalFrame, s.CloseWithStatus,
		s.Control().SetMessageType, s.MessageReceived(), s.Closed(), s.Information().Protocol}
}

// conversation holds one connection's endpoint and its events.
type conversation struct {
	t      *testing.T
	e      endpoint
	got    chan msg
	closed chan closedArgs
}

func talk(t *testing.T, e endpoint) *conversation {
	return &conversation{t, e, messages(e.received), closings(e.closed)}
}

func (c *conversation) sendText(s string) {
	c.t.Helper()
	c.e.setType(websocket.Utf8)
	if err := c.e.send(testCtx(c.t), []byte(s)); err != nil {
		c.t.Fatalf("send %q: %v", s, err)
	}
}

// expect receives a whole message and checks it.
func (c *conversation) expect(typ websocket.SocketMessageType, want []byte) {
	c.t.Helper()
	m := recvWhole(c.t, c.got)
	if m.typ != typ || !bytes.Equal(m.data, want) {
		c.t.Fatalf("got a %d-byte %s message (%.40q), want %d-byte %s (%.40q)", len(m.data), m.typ, m.data, len(want), typ, want)
	}
}

// exchange runs the message part of the interop suite on one connection.
func (c *conversation) exchange() {
	t := c.t
	if p := c.e.protocol(); p != "chat" {
		t.Fatalf("Protocol = %q, want chat", p)
	}
	c.sendText("cmd:proto")
	c.expect(websocket.Utf8, []byte("proto:chat"))

	// Text and binary echo.
	c.sendText("héllo, wörld")
	c.expect(websocket.Utf8, []byte("héllo, wörld"))
	c.e.setType(websocket.Binary)
	send(t, sendFunc(c.e.send), []byte{0, 1, 2, 0xff})
	c.expect(websocket.Binary, []byte{0, 1, 2, 0xff})

	// Fragmented messages from the peer.
	c.sendText("cmd:frag text 3 a fragmented text message")
	c.expect(websocket.Utf8, []byte("a fragmented text message"))
	c.sendText("cmd:frag binary 5 100000")
	c.expect(websocket.Binary, pattern(100000))

	// Fragmented messages to the peer, echoed whole.
	c.e.setType(websocket.Utf8)
	for _, f := range []string{"frag", "ment", "ed é"} {
		if _, err := c.e.nonfinal(testCtx(t), []byte(f)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.e.final(testCtx(t), []byte(" end")); err != nil {
		t.Fatal(err)
	}
	c.expect(websocket.Utf8, []byte("fragmented é end"))

	// 16 MiB there and back.
	big := pattern(16 << 20)
	c.e.setType(websocket.Binary)
	send(t, sendFunc(c.e.send), big)
	c.expect(websocket.Binary, big)

	// The peer pings; netrun answers.
	c.sendText("cmd:ping p1ng")
	c.expect(websocket.Utf8, []byte("pong:p1ng"))
}

// unsolicitedPongs checks that the peer has seen pongs it did not ask for.
func (c *conversation) unsolicitedPongs() {
	c.t.Helper()
	deadline := time.Now().Add(wait)
	for {
		c.sendText("cmd:pongs")
		m := recvWhole(c.t, c.got)
		n, err := strconv.Atoi(strings.TrimPrefix(string(m.data), "pongs:"))
		if err != nil {
			c.t.Fatalf("answer %q", m.data)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatal("the peer saw no unsolicited pong")
		}
		time.Sleep(10 * time.Millisecond) // the pongs are sent on a timer
	}
}

type sendFunc func(context.Context, []byte) error

func (f sendFunc) Send(ctx context.Context, p []byte) error { return f(ctx, p) }

// ending is how one interop connection ends.
type ending struct {
	name string
	run  func(c *conversation)
	// peer is what the peer prints; code what netrun's Closed reports.
	peer string
	code uint16
}

var endings = []ending{
	{"peer closes", func(c *conversation) { c.sendText("cmd:close 4001 peer says bye") }, "closed 4001 peer says bye", 4001},
	{"netrun closes", func(c *conversation) {
		if err := c.e.close(4002, "netrun says bye"); err != nil {
			c.t.Fatal(err)
		}
	}, "closed 4002 netrun says bye", 4002},
	{"invalid UTF-8", func(c *conversation) { c.sendText("cmd:badutf8") }, "closed 1007", 1007},
}

func TestInteropPeerServer(t *testing.T) {
	for _, kind := range testpeer.WSPeerKinds() {
		t.Run(string(kind), func(t *testing.T) {
			peer := testpeer.StartWSServer(t, kind, testpeer.WSPeerOptions{Protocols: []string{"chat"}})
			connect := func(t *testing.T) *conversation {
				c := websocket.NewMessageWebSocket(nil)
				t.Cleanup(func() { c.Close() })
				c.Control().AppendSupportedProtocol("other")
				c.Control().AppendSupportedProtocol("chat")
				c.Control().SetDesiredUnsolicitedPongInterval(5 * time.Millisecond)
				if err := c.Connect(testCtx(t), peer.URL+"/interop"); err != nil {
					t.Fatal(err)
				}
				return talk(t, clientEndpoint(c))
			}
			for i, end := range endings {
				t.Run(end.name, func(t *testing.T) {
					c := connect(t)
					if i == 0 {
						c.exchange()
						c.unsolicitedPongs()
					}
					end.run(c)
					if cl := recvClosed(t, c.closed); cl.code != end.code {
						t.Fatalf("Closed %d %q %v, want %d", cl.code, cl.reason, cl.err, end.code)
					}
					peer.WaitOutput(t, end.peer)
				})
			}
		})
	}
}

func TestInteropPeerClient(t *testing.T) {
	for _, kind := range testpeer.WSPeerKinds() {
		t.Run(string(kind), func(t *testing.T) {
			srv := listen(t, nil)
			for i, end := range endings {
				t.Run(end.name, func(t *testing.T) {
					ch := srv.acceptMessage(t, websocket.AcceptOptions{Protocols: []string{"chat"},
						UnsolicitedPongInterval: 5 * time.Millisecond})
					peer := testpeer.StartWSClient(t, kind, srv.URL+"/interop", testpeer.WSPeerOptions{Protocols: []string{"other", "chat"}})
					c := talk(t, serverEndpoint(get(t, ch)))
					peer.WaitOutput(t, "open chat")
					if i == 0 {
						c.exchange()
						c.unsolicitedPongs()
					}
					end.run(c)
					if cl := recvClosed(t, c.closed); cl.code != end.code {
						t.Fatalf("Closed %d %q %v, want %d", cl.code, cl.reason, cl.err, end.code)
					}
					peer.WaitOutput(t, end.peer)
					if err := peer.Wait(); err != nil {
						t.Fatal(err)
					}
				})
			}
		})
	}
}

func TestInteropStream(t *testing.T) {
	for _, kind := range testpeer.WSPeerKinds() {
		t.Run(string(kind), func(t *testing.T) {
			check := func(t *testing.T, in *websocket.InputStream, out *websocket.OutputStream) {
				data := pattern(200 << 10)
				for i := 0; i < len(data); i += 50 << 10 {
					if _, err := out.Write(testCtx(t), data[i:i+50<<10]); err != nil {
						t.Fatal(err)
					}
				}
				got := make([]byte, len(data))
				if n, err := in.Read(testCtx(t), got, sockets.InputStreamNone); err != nil || !bytes.Equal(got[:n], data) {
					t.Fatalf("read back %d bytes, %v", n, err)
				}
			}
			t.Run("netrun client", func(t *testing.T) {
				peer := testpeer.StartWSServer(t, kind, testpeer.WSPeerOptions{})
				c := websocket.NewStreamWebSocket(nil)
				defer c.Close()
				if err := c.Connect(testCtx(t), peer.URL); err != nil {
					t.Fatal(err)
				}
				check(t, c.InputStream(), c.OutputStream())
			})
			t.Run("netrun server", func(t *testing.T) {
				srv := listen(t, nil)
				ch := srv.acceptStream(t, websocket.AcceptOptions{})
				testpeer.StartWSClient(t, kind, srv.URL, testpeer.WSPeerOptions{})
				s := get(t, ch)
				check(t, s.InputStream(), s.OutputStream())
			})
		})
	}
}

func TestInteropTLS(t *testing.T) {
	ca := testpeer.NewCA(t, "netrun interop CA")
	leaf := ca.Issue(t, testpeer.LeafOptions{})
	for _, kind := range testpeer.WSPeerKinds() {
		t.Run(string(kind), func(t *testing.T) {
			t.Run("netrun client", func(t *testing.T) {
				peer := testpeer.StartWSServer(t, kind, testpeer.WSPeerOptions{Leaf: leaf})
				c := websocket.NewMessageWebSocket(&sockets.Env{RootCAs: ca.Pool})
				defer c.Close()
				if err := c.Connect(testCtx(t), peer.URL); err != nil {
					t.Fatal(err)
				}
				conv := talk(t, clientEndpoint(c))
				conv.sendText("secure")
				conv.expect(websocket.Utf8, []byte("secure"))
			})
			t.Run("netrun server", func(t *testing.T) {
				srv := listen(t, &leaf.TLS)
				ch := srv.acceptMessage(t, websocket.AcceptOptions{})
				peer := testpeer.StartWSClient(t, kind, srv.URL, testpeer.WSPeerOptions{CAFile: ca.CertFile})
				conv := talk(t, serverEndpoint(get(t, ch)))
				peer.WaitOutput(t, "open -")
				conv.sendText("secure")
				conv.expect(websocket.Utf8, []byte("secure"))
			})
		})
	}
}
