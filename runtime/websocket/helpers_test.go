package websocket_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/netrun/netrun/internal/testpeer"
	"github.com/netrun/netrun/runtime/event"
	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
	"github.com/netrun/netrun/runtime/websocket"
)

func TestMain(m *testing.M) { testpeer.VerifyTestMain(m) }

// wait bounds every wait for an event, so that a hang fails the test with
// a message rather than the whole run.
const wait = 15 * time.Second

// testCtx returns a context that ends with the test, bounded so that a
// hung operation fails the test.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// server is a StreamSocketListener on 127.0.0.1 whose accepted sockets
// queue on socks.
type server struct {
	URL   string // ws://127.0.0.1:port or wss://...
	Addr  string // 127.0.0.1:port
	socks chan *sockets.StreamSocket
}

// listen binds a listener on 127.0.0.1, serving TLS with cert if it is not
// nil. Everything is closed when the test ends.
func listen(t testing.TB, cert *tls.Certificate) *server {
	t.Helper()
	l := sockets.NewStreamSocketListener()
	srv := &server{socks: make(chan *sockets.StreamSocket, 64)}
	l.ConnectionReceived().Add(func(a *sockets.ConnectionReceivedEventArgs) { srv.socks <- a.Socket })
	level, scheme := sockets.PlainSocket, "ws"
	if cert != nil {
		if err := l.Control().SetServerCertificate(cert); err != nil {
			t.Fatal(err)
		}
		level, scheme = sockets.Unspecified, "wss"
	}
	h, _ := networking.NewHostName("127.0.0.1")
	if err := l.BindEndpointTLS(testCtx(t), h, "", level); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		l.Close()
		for {
			select {
			case s := <-srv.socks:
				s.Close()
			default:
				return
			}
		}
	})
	srv.Addr = "127.0.0.1:" + l.Information().LocalPort()
	srv.URL = scheme + "://" + srv.Addr
	return srv
}

// next returns the next accepted socket.
func (s *server) next(t testing.TB) *sockets.StreamSocket {
	t.Helper()
	select {
	case sock := <-s.socks:
		return sock
	case <-time.After(wait):
		t.Fatal("no connection accepted")
		return nil
	}
}

// accepted is the result of a server handshake run beside a client's.
type accepted[T any] struct {
	ws  T
	err error
}

// acceptMessage runs AcceptMessage on the next connection, in the
// background; the result arrives on the channel. The socket is closed at
// cleanup.
func (s *server) acceptMessage(t testing.TB, opts websocket.AcceptOptions) <-chan accepted[*websocket.ServerMessageWebSocket] {
	ch := make(chan accepted[*websocket.ServerMessageWebSocket], 1)
	go func() {
		select {
		case sock := <-s.socks:
			ws, err := websocket.AcceptMessage(testCtx(t), sock, opts)
			if ws != nil {
				t.Cleanup(func() { ws.Close() })
			}
			ch <- accepted[*websocket.ServerMessageWebSocket]{ws, err}
		case <-time.After(wait):
			ch <- accepted[*websocket.ServerMessageWebSocket]{nil, errors.New("no connection accepted")}
		}
	}()
	return ch
}

// acceptStream is acceptMessage for AcceptStream.
func (s *server) acceptStream(t testing.TB, opts websocket.AcceptOptions) <-chan accepted[*websocket.ServerStreamWebSocket] {
	ch := make(chan accepted[*websocket.ServerStreamWebSocket], 1)
	go func() {
		select {
		case sock := <-s.socks:
			ws, err := websocket.AcceptStream(testCtx(t), sock, opts)
			if ws != nil {
				t.Cleanup(func() { ws.Close() })
			}
			ch <- accepted[*websocket.ServerStreamWebSocket]{ws, err}
		case <-time.After(wait):
			ch <- accepted[*websocket.ServerStreamWebSocket]{nil, errors.New("no connection accepted")}
		}
	}()
	return ch
}

// get waits for a background accept.
func get[T any](t testing.TB, ch <-chan accepted[T]) T {
	t.Helper()
	r := <-ch
	if r.err != nil {
		t.Fatalf("accept: %v", r.err)
	}
	return r.ws
}

// pair connects a new MessageWebSocket (prepared by setup, if not nil) to
// a new server and returns both ends, closed at cleanup.
func pair(t testing.TB, opts websocket.AcceptOptions, setup func(*websocket.MessageWebSocket)) (*websocket.MessageWebSocket, *websocket.ServerMessageWebSocket) {
	t.Helper()
	srv := listen(t, nil)
	ch := srv.acceptMessage(t, opts)
	c := websocket.NewMessageWebSocket(nil)
	t.Cleanup(func() { c.Close() })
	if setup != nil {
		setup(c)
	}
	if err := c.Connect(testCtx(t), srv.URL+"/"); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	return c, get(t, ch)
}

// msg is a copy of a MessageReceived event.
type msg struct {
	typ      websocket.SocketMessageType
	complete bool
	data     []byte
}

// messages collects ev's events.
func messages(ev *event.Event[*websocket.MessageReceivedEventArgs]) chan msg {
	ch := make(chan msg, 4096)
	ev.Add(func(a *websocket.MessageReceivedEventArgs) {
		ch <- msg{a.MessageType(), a.IsMessageComplete(), bytes.Clone(a.Data())}
	})
	return ch
}

// recv returns the next event from ch.
func recv(t testing.TB, ch <-chan msg) msg {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(wait):
		t.Fatal("no message received")
		return msg{}
	}
}

// recvWhole gathers the pieces of one message, for either receive mode.
func recvWhole(t testing.TB, ch <-chan msg) msg {
	t.Helper()
	var whole msg
	for {
		m := recv(t, ch)
		whole.typ = m.typ
		whole.data = append(whole.data, m.data...)
		if m.complete {
			whole.complete = true
			return whole
		}
	}
}

// closedArgs is a copy of a Closed event.
type closedArgs struct {
	code   uint16
	reason string
	err    error
}

// closings collects ev's events.
func closings(ev *event.Event[*websocket.ClosedEventArgs]) chan closedArgs {
	ch := make(chan closedArgs, 4)
	ev.Add(func(a *websocket.ClosedEventArgs) { ch <- closedArgs{a.Code(), a.Reason(), a.Err()} })
	return ch
}

// recvClosed returns the Closed event from ch.
func recvClosed(t testing.TB, ch <-chan closedArgs) closedArgs {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(wait):
		t.Fatal("no Closed event")
		return closedArgs{}
	}
}

// send sends data as a message of type typ.
func send(t testing.TB, s interface {
	Send(context.Context, []byte) error
}, data []byte) {
	t.Helper()
	if err := s.Send(testCtx(t), data); err != nil {
		t.Fatalf("Send(%d bytes): %v", len(data), err)
	}
}

// wantWebStatus fails unless err carries WebErrorStatus st.
func wantWebStatus(t testing.TB, err error, st websocket.WebErrorStatus) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", st)
	}
	if got := websocket.GetStatus(err); got != st {
		t.Fatalf("GetStatus = %s, want %s (error: %v)", got, st, err)
	}
	var se *socketerror.Error
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) does not wrap a *socketerror.Error", err, err)
	}
	if got := websocket.StatusOf(se.HResult); got != st && st < 300 && got != websocket.Unknown {
		t.Errorf("StatusOf(%s) = %s, want %s", se.HResult, got, st)
	}
}

// wantHResult fails unless err carries HRESULT h.
func wantHResult(t testing.TB, err error, h socketerror.HResult) {
	t.Helper()
	if got := socketerror.HResultOf(err); got != h {
		t.Fatalf("HRESULT = %s, want %s (error: %v)", got, h, err)
	}
}

// rawDial opens a plain TCP connection to addr, closed at cleanup.
func rawDial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// pattern returns n bytes of a repeating, position-dependent pattern.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}
