package websocket

import (
	"context"

	"github.com/netrun/netrun/runtime/event"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
)

// MessageWebSocket is WinRT's MessageWebSocket: a WebSocket client that
// sends and receives whole messages, text or binary, or their pieces.
//
// Make one with [NewMessageWebSocket], set its Control and request
// headers, add handlers, then Connect. Received messages are raised
// through MessageReceived on the connection's reader goroutine, one at a
// time: the next message is not read until the handlers return, so a slow
// handler slows the peer down (TCP flow control) rather than filling
// memory. A message that arrives before the first MessageReceived handler
// is added is held, not dropped: the reader waits for a handler. Pings are
// answered while the reader reads, so a handler that blocks for long also
// delays pongs.
//
// Concurrency: all methods are safe for concurrent use. Sends are queued
// and go out whole, in the order they were issued.
//
// Closing: the owner must call Close (or CloseWithStatus), which runs the
// closing handshake (waiting up to 5 s for the peer's close frame, and up
// to 5 s more for a send in progress), closes the socket and waits for the
// connection's goroutines, except one that is running the caller's own
// handler. Closed is raised once, when the connection ends for any
// reason; see [ClosedEventArgs].
//
// Contexts: Connect's context covers resolving, connecting, TLS and the
// handshake; once connected it no longer matters. A send's context that
// ends while the send waits in the queue abandons that send; one that ends
// while the message is being written closes the connection (as
// coder/websocket does), because a half-written frame cannot be taken
// back. Receiving takes no context.
//
// Departures from WinRT: MessageReceived handlers may be added after
// Connect (WinRT requires them before); a message over MaxMessageSize
// closes the connection with 1009 instead of failing GetDataReader; a lost
// connection raises Closed with code 1006 (WinRT raises nothing and fails
// GetDataReader); ProxyCredential and BandwidthStatistics do not exist.
type MessageWebSocket struct {
	// immutable after construction
	cl       client
	ctl      MessageWebSocketControl
	received event.Event[*MessageReceivedEventArgs]
	out      MessageOutputStream
}

// NewMessageWebSocket returns a MessageWebSocket that connects through env
// (nil for the zero Env): its resolver, its capability Guard and its trust
// roots apply.
func NewMessageWebSocket(env *sockets.Env) *MessageWebSocket {
	m := &MessageWebSocket{}
	m.cl.init(env, "MessageWebSocket")
	m.ctl.cl = &m.cl
	m.ctl.maxSize = DefaultMaxMessageSize
	m.out = MessageOutputStream{s: m, op: "MessageWebSocket.OutputStream"}
	return m
}

// Control returns the socket's options.
func (m *MessageWebSocket) Control() *MessageWebSocketControl { return &m.ctl }

// Information returns the negotiated subprotocol, the local address and
// the server's certificate.
func (m *MessageWebSocket) Information() *WebSocketInformation { return &m.cl.info }

// MessageReceived is raised for each message received (each piece, in
// PartialMessage mode).
func (m *MessageWebSocket) MessageReceived() *event.Event[*MessageReceivedEventArgs] {
	return &m.received
}

// Closed is raised once when the connection ends.
func (m *MessageWebSocket) Closed() *event.Event[*ClosedEventArgs] { return &m.cl.closed }

// ServerCustomValidationRequested is raised during a wss Connect once the
// server's certificate chain has passed validation, so that the
// application can check it further; see
// [ServerCustomValidationRequestedEventArgs].
func (m *MessageWebSocket) ServerCustomValidationRequested() *event.Event[*ServerCustomValidationRequestedEventArgs] {
	return &m.cl.validation
}

// SetRequestHeader sets a header of the handshake request (Cookie,
// Authorization, Origin, ...), replacing an earlier value; only before
// Connect. Hop-by-hop headers and those the handshake sets itself
// (Connection, Upgrade, Host, Sec-WebSocket-*, ...) are refused with
// E_INVALIDARG naming the header.
func (m *MessageWebSocket) SetRequestHeader(name, value string) error {
	return m.cl.setRequestHeader(name, value)
}

// Connect connects to uri, "ws://host[:port]/path[?query]" or wss, and
// runs the opening handshake offering Control().SupportedProtocols. On
// failure the error is an [*Error] whose Status says why (GetStatus): a
// refused handshake gives the server's HTTP status. After a failed
// Connect the socket may connect again, for instance after listing
// certificate errors as ignorable.
func (m *MessageWebSocket) Connect(ctx context.Context, uri string) error {
	return m.cl.connect(ctx, uri, func() dialSettings {
		s := m.ctl.snapshotLocked()
		s.maxSize = m.ctl.maxSize
		s.partial = m.ctl.mode == PartialMessage
		s.received = &m.received
		return s
	})
}

// OutputStream returns the stream whose every Write sends one message of
// Control().MessageType: WinRT's OutputStream, where each StoreAsync of a
// DataWriter is one message.
func (m *MessageWebSocket) OutputStream() *MessageOutputStream { return &m.out }

// Send sends p as one message of Control().MessageType, after every send
// issued before it. A Utf8 message must be valid UTF-8 (E_INVALIDARG
// otherwise).
func (m *MessageWebSocket) Send(ctx context.Context, p []byte) error {
	const op = "MessageWebSocket.Send"
	c, err := m.cl.conn(op)
	if err != nil {
		return err
	}
	return c.send(ctx, op, m.ctl.MessageType(), p)
}

// SendNonfinalFrame sends p as a frame of a message that goes on (FIN
// clear): the first such frame begins a message of Control().MessageType,
// later ones continue it, and SendFinalFrame ends it. Each frame leaves at
// once. While the message is open, Send and OutputStream writes fail with
// E_ILLEGAL_METHOD_CALL (one message cannot interleave another). A Utf8
// message may split a rune between frames but must end on a whole one.
// It returns len(p) on success.
func (m *MessageWebSocket) SendNonfinalFrame(ctx context.Context, p []byte) (int, error) {
	const op = "MessageWebSocket.SendNonfinalFrame"
	c, err := m.cl.conn(op)
	if err != nil {
		return 0, err
	}
	return c.sendFrame(ctx, op, m.ctl.MessageType(), p, false)
}

// SendFinalFrame sends p as the last frame (FIN set) of the message
// SendNonfinalFrame began, or, with none begun, as a whole message in one
// frame. It returns len(p) on success.
func (m *MessageWebSocket) SendFinalFrame(ctx context.Context, p []byte) (int, error) {
	const op = "MessageWebSocket.SendFinalFrame"
	c, err := m.cl.conn(op)
	if err != nil {
		return 0, err
	}
	return c.sendFrame(ctx, op, m.ctl.MessageType(), p, true)
}

// Close closes the WebSocket, sending a close frame without a status code
// (WinRT's Close()). A connect in progress is abandoned. Close is
// idempotent and returns nil; see [MessageWebSocket] for what it waits for.
func (m *MessageWebSocket) Close() error {
	m.cl.close(closeNoStatus, "")
	return nil
}

// CloseWithStatus closes the WebSocket, sending code and reason (WinRT's
// Close(code, reason)). code must be one an endpoint may send (1000-1003,
// 1007-1014, 3000-4999) and reason at most 123 bytes of UTF-8;
// E_INVALIDARG otherwise.
func (m *MessageWebSocket) CloseWithStatus(code uint16, reason string) error {
	if err := checkClose("MessageWebSocket.Close", code, reason); err != nil {
		return err
	}
	m.cl.close(code, reason)
	return nil
}

func (m *MessageWebSocket) conn(op string) (*conn, error) { return m.cl.conn(op) }

func (m *MessageWebSocket) messageType() SocketMessageType { return m.ctl.MessageType() }

// messageSocket is what a MessageOutputStream writes to.
type messageSocket interface {
	conn(op string) (*conn, error)
	messageType() SocketMessageType
}

// MessageOutputStream is the OutputStream of a MessageWebSocket or
// ServerMessageWebSocket: WinRT's IOutputStream, each write one message.
type MessageOutputStream struct {
	s  messageSocket
	op string
}

// Write sends p as one message of the socket's Control().MessageType and
// returns len(p), or 0 and the error.
func (o *MessageOutputStream) Write(ctx context.Context, p []byte) (int, error) {
	op := o.op + ".Write"
	c, err := o.s.conn(op)
	if err != nil {
		return 0, err
	}
	if err := c.send(ctx, op, o.s.messageType(), p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush returns once every message written before it has been sent:
// WinRT's FlushAsync. It fails with RO_E_CLOSED once the socket is closed.
func (o *MessageOutputStream) Flush(ctx context.Context) error {
	op := o.op + ".Flush"
	c, err := o.s.conn(op)
	if err != nil {
		return err
	}
	return c.flush(ctx, op)
}

var _ messageSocket = (*MessageWebSocket)(nil)

// checkNotNil is the E_INVALIDARG for a nil required argument.
func checkNotNil(op, arg string, isNil bool) error {
	if isNil {
		return socketerror.InvalidArg(op, arg, "must not be nil")
	}
	return nil
}
