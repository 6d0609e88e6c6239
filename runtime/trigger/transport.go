package trigger

import (
	"context"
	"syscall"

	"github.com/netrun/netrun/runtime/event"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
	"github.com/netrun/netrun/runtime/websocket"
)

// transport is what a ControlChannelTrigger needs of the object given to
// UsingTransport.
type transport interface {
	// object returns the transport as given.
	object() any
	// rawConn returns the raw connection of the connected socket, or an
	// error if it is not connected yet; (nil, nil) for a transport with
	// nothing to watch (tests' fakes).
	rawConn() (syscall.RawConn, error)
	// keepAlive sends the transport's own keep-alive, if it has one
	// (WebSockets: an unsolicited pong); it may block on a full send
	// buffer.
	keepAlive() error
	// flush waits for the writes issued so far to be sent.
	flush(ctx context.Context) error
	// closed is the transport's own end-of-connection event, if it has
	// one (WebSockets), else nil.
	closed() *event.Event[*websocket.ClosedEventArgs]
}

// transportOf adapts the object given to UsingTransport.
func transportOf(op string, obj any) (transport, error) {
	switch t := obj.(type) {
	case *sockets.StreamSocket:
		if t != nil {
			return streamTransport{t}, nil
		}
	case *websocket.MessageWebSocket:
		if t != nil {
			return messageTransport{t}, nil
		}
	case *websocket.StreamWebSocket:
		if t != nil {
			return streamWebTransport{t}, nil
		}
	}
	return nil, socketerror.InvalidArg(op, "transport", "a StreamSocket, MessageWebSocket or StreamWebSocket expected, got %T", obj)
}

type streamTransport struct{ s *sockets.StreamSocket }

func (t streamTransport) object() any                                      { return t.s }
func (t streamTransport) rawConn() (syscall.RawConn, error)                { return t.s.SyscallConn() }
func (t streamTransport) keepAlive() error                                 { return nil }
func (t streamTransport) flush(ctx context.Context) error                  { return t.s.OutputStream().Flush(ctx) }
func (t streamTransport) closed() *event.Event[*websocket.ClosedEventArgs] { return nil }

type messageTransport struct{ m *websocket.MessageWebSocket }

func (t messageTransport) object() any      { return t.m }
func (t messageTransport) keepAlive() error { return t.m.SendKeepAlive() }
func (t messageTransport) rawConn() (syscall.RawConn, error) {
	return webRawConn("MessageWebSocket", t.m.Socket())
}
func (t messageTransport) flush(ctx context.Context) error { return t.m.OutputStream().Flush(ctx) }
func (t messageTransport) closed() *event.Event[*websocket.ClosedEventArgs] {
	return t.m.Closed()
}

type streamWebTransport struct{ s *websocket.StreamWebSocket }

func (t streamWebTransport) object() any      { return t.s }
func (t streamWebTransport) keepAlive() error { return t.s.SendKeepAlive() }
func (t streamWebTransport) rawConn() (syscall.RawConn, error) {
	return webRawConn("StreamWebSocket", t.s.Socket())
}
func (t streamWebTransport) flush(ctx context.Context) error { return t.s.OutputStream().Flush(ctx) }
func (t streamWebTransport) closed() *event.Event[*websocket.ClosedEventArgs] {
	return t.s.Closed()
}

func webRawConn(class string, s *sockets.StreamSocket) (syscall.RawConn, error) {
	if s == nil {
		return nil, socketerror.IllegalCall("ControlChannelTrigger.WaitForPushEnabled", "the %s is not connected", class)
	}
	return s.SyscallConn()
}
