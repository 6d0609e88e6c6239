package sdk

import (
	"context"
	"crypto/tls"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netrun/netrun/bindings/plugin/proto/pluginv1"
	"github.com/netrun/netrun/runtime/event"
	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
	"github.com/netrun/netrun/runtime/websocket"
)

// This file is runtime/websocket as a plugin uses it: MessageWebSocket
// and StreamWebSocket clients, and AcceptMessage and AcceptStream, which
// make the server ends of a StreamSocket a listener accepted. The
// WebSockets live in the host, which connects them with the plugin's
// capabilities. Names, events and errors are runtime/websocket's; the
// enumerations and AcceptOptions are its own types.

// wsAckEvery is how many bytes of handled messages (data plus 64 each)
// the SDK acknowledges at once while more messages wait; the host stops
// reading past 1 MiB unacknowledged.
const wsAckEvery = 256 << 10

// MessageReceivedEventArgs is runtime/websocket's MessageReceivedEventArgs
// (WinRT's MessageWebSocketMessageReceivedEventArgs): one message
// received, or in PartialMessage mode one piece of one. As in the
// runtime, the bytes of Data are valid only until the handler returns.
type MessageReceivedEventArgs = websocket.MessageReceivedEventArgs

// ClosedEventArgs is runtime/websocket's ClosedEventArgs (WinRT's
// WebSocketClosedEventArgs): how a connection ended. Err is a
// *websocket.Error with the WebErrorStatus around the *socketerror.Error
// for a connection no close handshake ended.
type ClosedEventArgs = websocket.ClosedEventArgs

// WebSocketInformation is the part of runtime/websocket's
// WebSocketInformation the protocol carries: the negotiated subprotocol
// and the addresses. The server certificate properties are not carried.
type WebSocketInformation struct {
	protocol string
	info     *pluginv1.SocketInfo
}

// Protocol returns the subprotocol the server chose, or "" if none was
// (or the handshake has not completed).
func (i *WebSocketInformation) Protocol() string { return i.protocol }

// LocalAddress returns the local address of the connection, or nil
// before it connects.
func (i *WebSocketInformation) LocalAddress() *networking.HostName {
	return hostName(i.info.GetLocalAddress())
}

// wsCore is what the four WebSocket classes share: the id in the host,
// the events, sends, reads and closing.
type wsCore struct {
	// immutable after construction
	h        *Host
	class    string // "MessageWebSocket", "ServerStreamWebSocket", ...
	message  bool   // a message WebSocket
	received event.Event[*MessageReceivedEventArgs]
	closedEv event.Event[*ClosedEventArgs]
	sendLock chan struct{} // capacity 1: held by the send in progress
	readTurn chan struct{} // capacity 1: held by the Read in progress
	wake     chan struct{} // capacity 1: events were added
	closing  chan struct{} // closed by Close: held events are dropped
	done     chan struct{} // closed by stop: the event goroutine returns
	msgType  atomic.Int32  // Control.MessageType of a message WebSocket

	mu        sync.Mutex // guards the fields below
	id        uint64
	state     uint8 // stCreated, stConnecting, stConnected
	closed    bool  // Close was called
	closeDone bool  // Close's command completed: the goroutine may end once idle
	stopped   bool
	started   bool
	protocol  string
	info      *pluginv1.SocketInfo
	items     []*pluginv1.Event
	consumed  uint64 // messages handled, for WebSocketAck
	toAck     int    // bytes of handled messages not acknowledged yet
	frameOpen bool   // SendNonfinalFrame began a message
}

func (w *wsCore) init(h *Host, class string, message bool) {
	w.h, w.class, w.message = h, class, message
	w.sendLock = make(chan struct{}, 1)
	w.readTurn = make(chan struct{}, 1)
	w.wake = make(chan struct{}, 1)
	w.closing = make(chan struct{})
	w.done = make(chan struct{})
}

// ID returns the WebSocket's id in the host (0 before it connects).
func (w *wsCore) ID() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.id
}

// Closed is raised once when the connection ends, after every message
// before it. Raised with no handler, it waits for the first one, unless
// the owner calls Close first.
func (w *wsCore) Closed() *event.Event[*ClosedEventArgs] { return &w.closedEv }

// Information returns the negotiated subprotocol and the addresses.
func (w *wsCore) Information() *WebSocketInformation {
	w.mu.Lock()
	defer w.mu.Unlock()
	return &WebSocketInformation{protocol: w.protocol, info: w.info}
}

// beforeConnect fails once Connect has been called, for Control setters.
func (w *wsCore) beforeConnect(prop string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state != stCreated || w.closed {
		return socketerror.IllegalCall(w.class+"Control."+prop, "cannot be changed once Connect has been called")
	}
	return nil
}

// start runs a WebSocketConnect or WebSocketAccept and makes w the
// WebSocket the completion names.
func (w *wsCore) start(ctx context.Context, op string, cmd *pluginv1.Command) error {
	w.mu.Lock()
	switch {
	case w.closed:
		w.mu.Unlock()
		return socketerror.Closed(op)
	case w.state == stConnecting:
		w.mu.Unlock()
		return socketerror.IllegalCall(op, "a connect is already in progress")
	case w.state == stConnected:
		w.mu.Unlock()
		return socketerror.IllegalCall(op, "the WebSocket is already connected")
	}
	w.state = stConnecting
	w.mu.Unlock()
	res, err := w.h.s.do(ctx, op, cmd, w)
	if err != nil {
		w.mu.Lock()
		w.state = stCreated
		w.mu.Unlock()
		return err
	}
	cr := res.GetCreated()
	w.mu.Lock()
	w.id, w.info, w.protocol, w.state = cr.Socket, cr.Info, cr.Protocol, stConnected
	closed := w.closed
	w.mu.Unlock()
	w.h.track(w)
	if closed { // Close ran during the connect
		w.closeInHost(op, 0, "")
		return socketerror.Closed(op)
	}
	return nil
}

// conn returns the WebSocket's id for an operation.
func (w *wsCore) conn(op string) (uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.closed:
		return 0, socketerror.Closed(op)
	case w.state != stConnected:
		return 0, socketerror.IllegalCall(op, "the WebSocket is not connected")
	}
	return w.id, nil
}

// lock takes l (a channel of capacity 1) unless ctx ends first.
func lock(ctx context.Context, op string, l chan struct{}) error {
	select {
	case l <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctxErr(ctx, op)
	}
}

// send sends p as a whole message (frame WHOLE) or a frame of one, of
// the current MessageType, in commands of at most max_payload bytes: a
// longer message goes as frames (a stream WebSocket's as several
// messages). Sends of one WebSocket are served one at a time, in order.
func (w *wsCore) send(ctx context.Context, op string, p []byte, frame pluginv1.WebSocketFrame) (int, error) {
	id, err := w.conn(op)
	if err != nil {
		return 0, err
	}
	if err := lock(ctx, op, w.sendLock); err != nil {
		return 0, err
	}
	defer func() { <-w.sendLock }()
	w.mu.Lock()
	open := w.frameOpen
	w.mu.Unlock()
	if open && frame == pluginv1.WebSocketFrame_WEB_SOCKET_FRAME_WHOLE {
		return 0, socketerror.IllegalCall(op, "a message begun with SendNonfinalFrame is open: end it with SendFinalFrame first")
	}
	var typ *pluginv1.WebSocketMessageType
	if w.message {
		t := pluginv1.WebSocketMessageType(w.msgType.Load())
		typ = &t
	}
	max := int(w.h.s.hello.MaxPayload)
	n := 0
	for {
		chunk := p[n:min(len(p), n+max)]
		last := n+len(chunk) == len(p)
		f := frame
		if !last && w.message {
			f = pluginv1.WebSocketFrame_WEB_SOCKET_FRAME_NONFINAL
		} else if last && w.message && frame == pluginv1.WebSocketFrame_WEB_SOCKET_FRAME_WHOLE && n > 0 {
			f = pluginv1.WebSocketFrame_WEB_SOCKET_FRAME_FINAL
		}
		res, err := w.h.s.do(ctx, op, &pluginv1.Command{Command: &pluginv1.Command_WebSocketSend{WebSocketSend: &pluginv1.WebSocketSend{
			Socket: id, Data: chunk, MessageType: typ, Frame: f}}}, nil)
		if err != nil {
			return n, err
		}
		n += int(res.GetWritten().GetBytes())
		w.mu.Lock()
		w.frameOpen = f == pluginv1.WebSocketFrame_WEB_SOCKET_FRAME_NONFINAL
		w.mu.Unlock()
		if last {
			return n, nil
		}
	}
}

// flush waits for the sends issued before it.
func (w *wsCore) flush(ctx context.Context, op string) error {
	id, err := w.conn(op)
	if err != nil {
		return err
	}
	if err := lock(ctx, op, w.sendLock); err != nil {
		return err
	}
	defer func() { <-w.sendLock }()
	_, err = w.h.s.do(ctx, op, &pluginv1.Command{Command: &pluginv1.Command_WebSocketFlush{WebSocketFlush: &pluginv1.WebSocketFlush{Socket: id}}}, nil)
	return err
}

// read reads a stream WebSocket into p.
func (w *wsCore) read(ctx context.Context, op string, p []byte, opts sockets.InputStreamOptions) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	id, err := w.conn(op)
	if err != nil {
		return 0, err
	}
	if err := lock(ctx, op, w.readTurn); err != nil {
		return 0, err
	}
	defer func() { <-w.readTurn }()
	max := int(w.h.s.hello.MaxPayload)
	n := 0
	for {
		res, err := w.h.s.do(ctx, op, &pluginv1.Command{Command: &pluginv1.Command_WebSocketRead{WebSocketRead: &pluginv1.WebSocketRead{
			Socket: id, Count: uint32(min(len(p)-n, max)), Options: uint32(opts)}}}, nil)
		if err != nil {
			return n, err
		}
		r := res.GetRead()
		if r.GetEof() {
			if n > 0 {
				return n, nil
			}
			return 0, io.EOF
		}
		n += copy(p[n:], r.GetData())
		if n == len(p) || opts != sockets.InputStreamNone {
			return n, nil
		}
	}
}

// Close closes the WebSocket, sending a close frame without a status
// code (WinRT's Close()), and waits for the closing handshake in the
// host. Messages held for want of a handler are dropped; Closed is still
// raised to the handlers there are. It is idempotent and returns nil.
func (w *wsCore) Close() error {
	w.closeWith(false, 0, "")
	return nil
}

// CloseWithStatus closes the WebSocket, sending code and reason (WinRT's
// Close(code, reason)). code must be one an endpoint may send
// (1000-1003, 1007-1014, 3000-4999) and reason at most 123 bytes of UTF-8;
// E_INVALIDARG otherwise, and the WebSocket stays open.
func (w *wsCore) CloseWithStatus(code uint16, reason string) error {
	if err := websocket.CheckCloseStatus(code, reason); err != nil {
		return err
	}
	w.closeWith(true, code, reason)
	return nil
}

func (w *wsCore) closeWith(withCode bool, code uint16, reason string) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	close(w.closing)
	connected := w.state == stConnected
	w.mu.Unlock()
	if !connected {
		w.stop()
		return
	}
	if !withCode {
		code = 0
	}
	w.closeInHost(w.class+".Close", code, reason)
}

// closeInHost sends WebSocketClose and waits for it; the event goroutine
// then ends once it has raised what came before (Closed among it).
func (w *wsCore) closeInHost(op string, code uint16, reason string) {
	w.h.untrack(w)
	w.mu.Lock()
	id := w.id
	w.mu.Unlock()
	_, err := w.h.s.do(context.Background(), op, &pluginv1.Command{Command: &pluginv1.Command_WebSocketClose{WebSocketClose: &pluginv1.WebSocketClose{
		Socket: id, Code: uint32(code), Reason: reason}}}, nil)
	if err != nil {
		w.h.log.Debug("close failed", "socket", id, "err", err)
		w.stop()
		w.h.s.forget(id)
		return
	}
	w.mu.Lock()
	w.closeDone = true
	running := w.started && !w.stopped
	w.mu.Unlock()
	if !running {
		w.stop()
		w.h.s.forget(id)
		return
	}
	w.signal() // the goroutine forgets the id once it has raised the rest
}

func (w *wsCore) isTransferred() bool { return false }

// event and sessionEnded make w a sink.
func (w *wsCore) event(ev *pluginv1.Event) {
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return
	}
	w.items = append(w.items, ev)
	if !w.started {
		w.started = true
		go w.loop()
	}
	w.mu.Unlock()
	w.signal()
}

func (w *wsCore) sessionEnded() { w.stop() }

func (w *wsCore) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// stop ends the event goroutine without waiting for it (it may be
// running a handler that is the caller).
func (w *wsCore) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	w.stopped = true
	w.items = nil
	close(w.done)
}

// loop raises the WebSocket's events in order, one at a time, on a
// goroutine of its own, as the runtime's reader does: an event with no
// handler waits for the first one (until Close); handled messages are
// acknowledged to the host. It ends after Closed, or at stop.
func (w *wsCore) loop() {
	var partial []byte
	for {
		w.mu.Lock()
		if w.stopped {
			w.mu.Unlock()
			return
		}
		if len(w.items) == 0 {
			finished := w.closeDone
			id := w.id
			w.mu.Unlock()
			if finished { // closed, and the host sent all it had
				w.stop()
				w.h.s.forget(id)
				return
			}
			select {
			case <-w.wake:
				continue
			case <-w.done:
				return
			}
		}
		ev := w.items[0]
		w.items[0] = nil
		w.items = w.items[1:]
		w.mu.Unlock()
		switch e := ev.Event.(type) {
		case *pluginv1.Event_WebSocketMessageReceived:
			m := e.WebSocketMessageReceived
			if m.More {
				partial = append(partial, m.Data...)
				continue
			}
			data := m.Data
			if partial != nil {
				data, partial = append(partial, m.Data...), nil
			}
			a := websocket.NewMessageReceivedEventArgs(data, websocket.SocketMessageType(m.MessageType), m.IsMessageComplete)
			if !raiseHeld(&w.received, a, w.closing, w.done) {
				select {
				case <-w.done:
					return
				default: // closing: the message is dropped
				}
			}
			w.handled(len(data))
		case *pluginv1.Event_WebSocketClosed:
			c := e.WebSocketClosed
			var err error
			if c.Error != nil {
				err = errorFrom(c.Error)
			}
			a := websocket.NewClosedEventArgs(uint16(c.Code), c.Reason, err)
			raiseHeld(&w.closedEv, a, w.closing, w.done)
			w.mu.Lock()
			id, closed := w.id, w.closed
			w.mu.Unlock()
			w.stop()
			if closed {
				w.h.s.forget(id)
			}
			return
		}
	}
}

// raiseHeld raises a on ev, waiting for a handler if there is none yet;
// it reports false if closing or done ended the wait first.
func raiseHeld[A any](ev *event.Event[A], a A, closing, done <-chan struct{}) bool {
	for !ev.Raise(a) {
		select {
		case <-ev.Ready():
		case <-closing:
			return false
		case <-done:
			return false
		}
	}
	return true
}

// handled counts a message as handled and acknowledges what was handled
// once no more messages wait, or enough did.
func (w *wsCore) handled(n int) {
	w.mu.Lock()
	w.consumed++
	w.toAck += n + 64
	// Once Close has been sent the host has forgotten the id: no ack.
	if w.closed || len(w.items) > 0 && w.toAck < wsAckEvery {
		w.mu.Unlock()
		return
	}
	w.toAck = 0
	cmd := &pluginv1.Command{Command: &pluginv1.Command_WebSocketAck{WebSocketAck: &pluginv1.WebSocketAck{Socket: w.id, Consumed: w.consumed}}}
	w.mu.Unlock()
	w.h.s.sendNow(cmd)
}

// ---- Controls ----

// WebSocketControl holds the options MessageWebSocketControl and
// StreamWebSocketControl share, as runtime/websocket's WebSocketControl:
// each must be set before Connect (E_ILLEGAL_METHOD_CALL after). The
// values are checked as the runtime checks them.
type WebSocketControl struct {
	w      *wsCore
	shadow *websocket.WebSocketControl // holds and checks the values; never connects
}

// SupportedProtocols returns a copy of the subprotocols offered, in order
// of preference.
func (c *WebSocketControl) SupportedProtocols() []string { return c.shadow.SupportedProtocols() }

// AppendSupportedProtocol adds p to SupportedProtocols; p must be an HTTP
// token not offered already.
func (c *WebSocketControl) AppendSupportedProtocol(p string) error {
	if err := c.w.beforeConnect("SupportedProtocols"); err != nil {
		return err
	}
	return c.shadow.AppendSupportedProtocol(p)
}

// ServerCredential returns a copy of the credential sent to the server,
// or nil.
func (c *WebSocketControl) ServerCredential() *websocket.PasswordCredential {
	return c.shadow.ServerCredential()
}

// SetServerCredential sets the user name and password sent with the
// first request as HTTP Basic authentication (nil sends none).
func (c *WebSocketControl) SetServerCredential(v *websocket.PasswordCredential) error {
	if err := c.w.beforeConnect("ServerCredential"); err != nil {
		return err
	}
	return c.shadow.SetServerCredential(v)
}

// IgnorableServerCertificateErrors returns a copy of the certificate
// errors a wss connect tolerates.
func (c *WebSocketControl) IgnorableServerCertificateErrors() []sockets.ChainValidationResult {
	return c.shadow.IgnorableServerCertificateErrors()
}

// SetIgnorableServerCertificateErrors replaces the certificate errors a
// wss connect tolerates; only ignorable results may be listed.
func (c *WebSocketControl) SetIgnorableServerCertificateErrors(v []sockets.ChainValidationResult) error {
	if err := c.w.beforeConnect("IgnorableServerCertificateErrors"); err != nil {
		return err
	}
	return c.shadow.SetIgnorableServerCertificateErrors(v)
}

// ClientCertificate returns the certificate offered when a wss server
// asks for one, or nil.
func (c *WebSocketControl) ClientCertificate() *tls.Certificate { return c.shadow.ClientCertificate() }

// SetClientCertificate sets the certificate (a chain, leaf first, and its
// private key) offered when a wss server asks for one; nil offers none.
// It travels to the host as PEM with the connect, so the key must be one
// x509.MarshalPKCS8PrivateKey accepts (RSA, ECDSA or Ed25519); another is
// E_INVALIDARG.
func (c *WebSocketControl) SetClientCertificate(cert *tls.Certificate) error {
	if err := c.w.beforeConnect("ClientCertificate"); err != nil {
		return err
	}
	if cert != nil {
		if _, _, err := encodeCertificate(c.w.class+"Control.ClientCertificate", cert); err != nil {
			return err
		}
	}
	return c.shadow.SetClientCertificate(cert)
}

// DesiredUnsolicitedPongInterval returns how often an unsolicited pong is
// sent as a one-way heartbeat; 0, the default, sends none.
func (c *WebSocketControl) DesiredUnsolicitedPongInterval() time.Duration {
	return c.shadow.DesiredUnsolicitedPongInterval()
}

// SetDesiredUnsolicitedPongInterval sets DesiredUnsolicitedPongInterval,
// in whole milliseconds.
func (c *WebSocketControl) SetDesiredUnsolicitedPongInterval(d time.Duration) error {
	if err := c.w.beforeConnect("DesiredUnsolicitedPongInterval"); err != nil {
		return err
	}
	return c.shadow.SetDesiredUnsolicitedPongInterval(d)
}

// OutboundBufferSizeInBytes returns the send buffer size asked for, or 0
// for the system's.
func (c *WebSocketControl) OutboundBufferSizeInBytes() uint32 {
	return c.shadow.OutboundBufferSizeInBytes()
}

// SetOutboundBufferSizeInBytes sets the socket's send buffer size; once
// Connect has been called it is ignored, as in WinRT.
func (c *WebSocketControl) SetOutboundBufferSizeInBytes(v uint32) error {
	if c.w.beforeConnect("OutboundBufferSizeInBytes") != nil {
		return nil
	}
	return c.shadow.SetOutboundBufferSizeInBytes(v)
}

// connectOptions fills the shared options of a WebSocketConnect.
func (c *WebSocketControl) connectOptions(cmd *pluginv1.WebSocketConnect) {
	cmd.SupportedProtocols = c.shadow.SupportedProtocols()
	if cred := c.shadow.ServerCredential(); cred != nil {
		cmd.ServerCredentialUserName, cmd.ServerCredentialPassword = cred.UserName, cred.Password
	}
	for _, e := range c.shadow.IgnorableServerCertificateErrors() {
		cmd.IgnorableServerCertificateErrors = append(cmd.IgnorableServerCertificateErrors, int32(e))
	}
	cmd.DesiredUnsolicitedPongIntervalMs = uint32(c.shadow.DesiredUnsolicitedPongInterval() / time.Millisecond)
	cmd.OutboundBufferSizeInBytes = c.shadow.OutboundBufferSizeInBytes()
	if cert := c.shadow.ClientCertificate(); cert != nil {
		// SetClientCertificate checked that it encodes.
		cmd.ClientCertificatePem, cmd.ClientKeyPem, _ = encodeCertificate("", cert)
	}
}

// MessageWebSocketControl is runtime/websocket's MessageWebSocketControl:
// the options of a MessageWebSocket, with those of WebSocketControl.
type MessageWebSocketControl struct {
	WebSocketControl
	shadowMsg *websocket.MessageWebSocketControl
}

// MaxMessageSize returns the largest message accepted, in bytes; a larger
// one closes the connection with 1009. The default is
// websocket.DefaultMaxMessageSize; 0xFFFFFFFF means no limit.
func (c *MessageWebSocketControl) MaxMessageSize() uint32 { return c.shadowMsg.MaxMessageSize() }

// SetMaxMessageSize sets MaxMessageSize; it fails once Connect was
// called, and for 0.
func (c *MessageWebSocketControl) SetMaxMessageSize(v uint32) error {
	if err := c.w.beforeConnect("MaxMessageSize"); err != nil {
		return err
	}
	return c.shadowMsg.SetMaxMessageSize(v)
}

// ReceiveMode returns whether MessageReceived carries whole messages
// (FullMessage, the default) or pieces as they arrive (PartialMessage).
func (c *MessageWebSocketControl) ReceiveMode() websocket.MessageWebSocketReceiveMode {
	return c.shadowMsg.ReceiveMode()
}

// SetReceiveMode sets ReceiveMode; it fails once Connect was called.
func (c *MessageWebSocketControl) SetReceiveMode(m websocket.MessageWebSocketReceiveMode) error {
	if err := c.w.beforeConnect("ReceiveMode"); err != nil {
		return err
	}
	return c.shadowMsg.SetReceiveMode(m)
}

// MessageType returns the type of the messages Send, OutputStream and
// the first frame of SendNonfinalFrame send. The default is Binary.
func (c *MessageWebSocketControl) MessageType() websocket.SocketMessageType {
	return websocket.SocketMessageType(c.w.msgType.Load())
}

// SetMessageType sets MessageType. It may change at any time and applies
// to messages sent afterwards.
func (c *MessageWebSocketControl) SetMessageType(t websocket.SocketMessageType) error {
	return setMessageType(c.w, "MessageWebSocketControl.MessageType", t)
}

func setMessageType(w *wsCore, op string, t websocket.SocketMessageType) error {
	if t != websocket.Binary && t != websocket.Utf8 {
		return socketerror.InvalidArg(op, "value", "%s is not a SocketMessageType", t)
	}
	w.msgType.Store(int32(t))
	return nil
}

// StreamWebSocketControl is runtime/websocket's StreamWebSocketControl:
// the options of a StreamWebSocket, with those of WebSocketControl.
type StreamWebSocketControl struct {
	WebSocketControl
	shadowStream *websocket.StreamWebSocketControl
}

// NoDelay reports whether Nagle's algorithm is off (TCP_NODELAY). The
// default is true.
func (c *StreamWebSocketControl) NoDelay() bool { return c.shadowStream.NoDelay() }

// SetNoDelay sets NoDelay; it fails once Connect was called.
func (c *StreamWebSocketControl) SetNoDelay(v bool) error {
	if err := c.w.beforeConnect("NoDelay"); err != nil {
		return err
	}
	return c.shadowStream.SetNoDelay(v)
}

// ServerMessageWebSocketControl is runtime/websocket's
// ServerMessageWebSocketControl: the type of the messages a
// ServerMessageWebSocket sends.
type ServerMessageWebSocketControl struct{ w *wsCore }

// MessageType returns the type of messages sent. The default is Binary.
func (c *ServerMessageWebSocketControl) MessageType() websocket.SocketMessageType {
	return websocket.SocketMessageType(c.w.msgType.Load())
}

// SetMessageType sets MessageType; it may change at any time.
func (c *ServerMessageWebSocketControl) SetMessageType(t websocket.SocketMessageType) error {
	return setMessageType(c.w, "ServerMessageWebSocketControl.MessageType", t)
}

// ---- streams ----

// MessageOutputStream is the OutputStream of a message WebSocket: each
// Write sends one message of Control().MessageType.
type MessageOutputStream struct {
	w  *wsCore
	op string
}

// Write sends p as one message and returns len(p), or the bytes sent and
// the error.
func (o *MessageOutputStream) Write(ctx context.Context, p []byte) (int, error) {
	return o.w.send(ctx, o.op+".Write", p, pluginv1.WebSocketFrame_WEB_SOCKET_FRAME_WHOLE)
}

// Flush returns once every message written before it has been sent.
func (o *MessageOutputStream) Flush(ctx context.Context) error { return o.w.flush(ctx, o.op+".Flush") }

// WebSocketOutputStream is the OutputStream of a stream WebSocket
// (runtime/websocket's OutputStream): each Write goes out as a binary
// message (as several for more than max_payload bytes).
type WebSocketOutputStream struct {
	w  *wsCore
	op string
}

// Write sends p and returns len(p), or the bytes sent and the error.
func (o *WebSocketOutputStream) Write(ctx context.Context, p []byte) (int, error) {
	return o.w.send(ctx, o.op+".Write", p, pluginv1.WebSocketFrame_WEB_SOCKET_FRAME_WHOLE)
}

// Flush returns once every write issued before it has been sent.
func (o *WebSocketOutputStream) Flush(ctx context.Context) error {
	return o.w.flush(ctx, o.op+".Flush")
}

// WebSocketInputStream is the InputStream of a stream WebSocket
// (runtime/websocket's InputStream).
type WebSocketInputStream struct {
	w  *wsCore
	op string
}

// Read reads into p: with sockets.Partial as soon as any bytes are
// there, with sockets.InputStreamNone until p is full or the stream ends.
// After the peer's close frame it returns the bytes left, then io.EOF.
// A context that ends returns what was read and OperationAborted or
// ConnectionTimedOut; the connection stays usable.
func (in *WebSocketInputStream) Read(ctx context.Context, p []byte, opts sockets.InputStreamOptions) (int, error) {
	return in.w.read(ctx, in.op+".Read", p, opts)
}

// ---- the classes ----

// MessageWebSocket is runtime/websocket's MessageWebSocket (WinRT's) as a
// plugin uses it: a WebSocket client that sends and receives whole
// messages, text or binary, or their pieces; the connection lives in the
// host and connects with the plugin's capabilities.
//
// Make one with Host.NewMessageWebSocket, set its Control and request
// headers, add handlers, then Connect. Messages are raised through
// MessageReceived on the WebSocket's own goroutine, one at a time; a
// message that arrives before the first handler is added waits for it,
// and while messages wait the host stops reading the connection. All
// methods are safe for concurrent use; sends go out whole, one at a time,
// in the order issued. The owner must Close it.
type MessageWebSocket struct {
	wsCore
	ctl     MessageWebSocketControl
	out     MessageOutputStream
	headers []*pluginv1.WebSocketHeader // guarded by wsCore.mu
	shadow  *websocket.MessageWebSocket // checks request headers; never connects
}

// NewMessageWebSocket returns a MessageWebSocket that is not connected.
func (h *Host) NewMessageWebSocket() *MessageWebSocket {
	m := &MessageWebSocket{shadow: websocket.NewMessageWebSocket(nil)}
	m.init(h, "MessageWebSocket", true)
	m.ctl = MessageWebSocketControl{WebSocketControl{&m.wsCore, &m.shadow.Control().WebSocketControl}, m.shadow.Control()}
	m.out = MessageOutputStream{&m.wsCore, "MessageWebSocket.OutputStream"}
	return m
}

// Control returns the socket's options.
func (m *MessageWebSocket) Control() *MessageWebSocketControl { return &m.ctl }

// MessageReceived is raised for each message received (each piece, in
// PartialMessage mode).
func (m *MessageWebSocket) MessageReceived() *event.Event[*MessageReceivedEventArgs] {
	return &m.received
}

// OutputStream returns the stream whose every Write sends one message.
func (m *MessageWebSocket) OutputStream() *MessageOutputStream { return &m.out }

// SetRequestHeader sets a header of the handshake request, replacing an
// earlier value; only before Connect. Hop-by-hop headers and those the
// handshake sets itself are refused with E_INVALIDARG naming the header.
func (m *MessageWebSocket) SetRequestHeader(name, value string) error {
	return setRequestHeader(&m.wsCore, &m.headers, m.shadow.SetRequestHeader, name, value)
}

func setRequestHeader(w *wsCore, headers *[]*pluginv1.WebSocketHeader, check func(string, string) error, name, value string) error {
	if err := w.beforeConnect("RequestHeaders"); err != nil {
		return err
	}
	if err := check(name, value); err != nil {
		return err
	}
	w.mu.Lock()
	*headers = append(*headers, &pluginv1.WebSocketHeader{Name: name, Value: value})
	w.mu.Unlock()
	return nil
}

// Connect connects to uri (ws:// or wss://) in the host, with the
// plugin's capabilities, and runs the opening handshake offering
// Control().SupportedProtocols. A failure is a *websocket.Error with the
// WebErrorStatus (websocket.GetStatus) around the *socketerror.Error; a
// refused handshake carries the server's HTTP status. After a failed
// Connect the socket may connect again.
func (m *MessageWebSocket) Connect(ctx context.Context, uri string) error {
	cmd := &pluginv1.WebSocketConnect{Kind: pluginv1.SocketKind_SOCKET_KIND_MESSAGE_WEB_SOCKET, Uri: uri,
		MaxMessageSize: m.ctl.MaxMessageSize(), ReceiveMode: int32(m.ctl.ReceiveMode()),
		MessageType: pluginv1.WebSocketMessageType(m.msgType.Load())}
	m.ctl.connectOptions(cmd)
	m.mu.Lock()
	cmd.RequestHeaders = m.headers
	m.mu.Unlock()
	return m.start(ctx, "MessageWebSocket.Connect", &pluginv1.Command{Command: &pluginv1.Command_WebSocketConnect{WebSocketConnect: cmd}})
}

// Send sends p as one message of Control().MessageType, after every send
// issued before it. A Utf8 message must be valid UTF-8 (E_INVALIDARG).
func (m *MessageWebSocket) Send(ctx context.Context, p []byte) error {
	_, err := m.send(ctx, "MessageWebSocket.Send", p, pluginv1.WebSocketFrame_WEB_SOCKET_FRAME_WHOLE)
	return err
}

// SendNonfinalFrame sends p as a frame of a message that goes on: the
// first one begins a message of Control().MessageType, SendFinalFrame
// ends it. While it is open, Send fails with E_ILLEGAL_METHOD_CALL.
func (m *MessageWebSocket) SendNonfinalFrame(ctx context.Context, p []byte) (int, error) {
	return m.send(ctx, "MessageWebSocket.SendNonfinalFrame", p, pluginv1.WebSocketFrame_WEB_SOCKET_FRAME_NONFINAL)
}

// SendFinalFrame sends p as the last frame of the message
// SendNonfinalFrame began, or with none begun as a whole message.
func (m *MessageWebSocket) SendFinalFrame(ctx context.Context, p []byte) (int, error) {
	return m.send(ctx, "MessageWebSocket.SendFinalFrame", p, pluginv1.WebSocketFrame_WEB_SOCKET_FRAME_FINAL)
}

// StreamWebSocket is runtime/websocket's StreamWebSocket (WinRT's) as a
// plugin uses it: a WebSocket client used as a byte stream; every write
// goes out as a binary message and reads return the received messages'
// bytes. Make one with Host.NewStreamWebSocket, then Connect. Reads are
// served one at a time, and so are writes. The owner must Close it.
type StreamWebSocket struct {
	wsCore
	ctl     StreamWebSocketControl
	in      WebSocketInputStream
	out     WebSocketOutputStream
	headers []*pluginv1.WebSocketHeader // guarded by wsCore.mu
	shadow  *websocket.StreamWebSocket  // checks request headers; never connects
}

// NewStreamWebSocket returns a StreamWebSocket that is not connected.
func (h *Host) NewStreamWebSocket() *StreamWebSocket {
	s := &StreamWebSocket{shadow: websocket.NewStreamWebSocket(nil)}
	s.init(h, "StreamWebSocket", false)
	s.ctl = StreamWebSocketControl{WebSocketControl{&s.wsCore, &s.shadow.Control().WebSocketControl}, s.shadow.Control()}
	s.in = WebSocketInputStream{&s.wsCore, "StreamWebSocket.InputStream"}
	s.out = WebSocketOutputStream{&s.wsCore, "StreamWebSocket.OutputStream"}
	return s
}

// Control returns the socket's options.
func (s *StreamWebSocket) Control() *StreamWebSocketControl { return &s.ctl }

// InputStream returns the stream that reads the received bytes.
func (s *StreamWebSocket) InputStream() *WebSocketInputStream { return &s.in }

// OutputStream returns the stream whose writes go out as binary messages.
func (s *StreamWebSocket) OutputStream() *WebSocketOutputStream { return &s.out }

// SetRequestHeader sets a header of the handshake request; see
// MessageWebSocket.SetRequestHeader.
func (s *StreamWebSocket) SetRequestHeader(name, value string) error {
	return setRequestHeader(&s.wsCore, &s.headers, s.shadow.SetRequestHeader, name, value)
}

// Connect connects to uri and runs the opening handshake; see
// MessageWebSocket.Connect.
func (s *StreamWebSocket) Connect(ctx context.Context, uri string) error {
	cmd := &pluginv1.WebSocketConnect{Kind: pluginv1.SocketKind_SOCKET_KIND_STREAM_WEB_SOCKET, Uri: uri}
	s.ctl.connectOptions(cmd)
	nd := s.ctl.NoDelay()
	cmd.NoDelay = &nd
	s.mu.Lock()
	cmd.RequestHeaders = s.headers
	s.mu.Unlock()
	return s.start(ctx, "StreamWebSocket.Connect", &pluginv1.Command{Command: &pluginv1.Command_WebSocketConnect{WebSocketConnect: cmd}})
}

// ServerMessageWebSocket is runtime/websocket's ServerMessageWebSocket as
// a plugin uses it: the server end of a message WebSocket, made of an
// accepted StreamSocket with AcceptMessage. It behaves as MessageWebSocket
// does once connected.
type ServerMessageWebSocket struct {
	wsCore
	ctl ServerMessageWebSocketControl
	out MessageOutputStream
}

// Control returns the type of the messages the socket sends.
func (m *ServerMessageWebSocket) Control() *ServerMessageWebSocketControl { return &m.ctl }

// MessageReceived is raised for each message received (each piece, in
// PartialMessage mode).
func (m *ServerMessageWebSocket) MessageReceived() *event.Event[*MessageReceivedEventArgs] {
	return &m.received
}

// OutputStream returns the stream whose every Write sends one message.
func (m *ServerMessageWebSocket) OutputStream() *MessageOutputStream { return &m.out }

// Send sends p as one message of Control().MessageType; see
// MessageWebSocket.Send.
func (m *ServerMessageWebSocket) Send(ctx context.Context, p []byte) error {
	_, err := m.send(ctx, "ServerMessageWebSocket.Send", p, pluginv1.WebSocketFrame_WEB_SOCKET_FRAME_WHOLE)
	return err
}

// SendNonfinalFrame sends p as a frame of a message that goes on; see
// MessageWebSocket.SendNonfinalFrame.
func (m *ServerMessageWebSocket) SendNonfinalFrame(ctx context.Context, p []byte) (int, error) {
	return m.send(ctx, "ServerMessageWebSocket.SendNonfinalFrame", p, pluginv1.WebSocketFrame_WEB_SOCKET_FRAME_NONFINAL)
}

// SendFinalFrame ends the message SendNonfinalFrame began; see
// MessageWebSocket.SendFinalFrame.
func (m *ServerMessageWebSocket) SendFinalFrame(ctx context.Context, p []byte) (int, error) {
	return m.send(ctx, "ServerMessageWebSocket.SendFinalFrame", p, pluginv1.WebSocketFrame_WEB_SOCKET_FRAME_FINAL)
}

// ServerStreamWebSocket is runtime/websocket's ServerStreamWebSocket as a
// plugin uses it: the server end of a stream WebSocket, made of an
// accepted StreamSocket with AcceptStream. It behaves as StreamWebSocket
// does once connected.
type ServerStreamWebSocket struct {
	wsCore
	in  WebSocketInputStream
	out WebSocketOutputStream
}

// InputStream returns the stream that reads the received bytes.
func (s *ServerStreamWebSocket) InputStream() *WebSocketInputStream { return &s.in }

// OutputStream returns the stream whose writes go out as binary messages.
func (s *ServerStreamWebSocket) OutputStream() *WebSocketOutputStream { return &s.out }

// AcceptMessage runs the server side of the opening handshake on s, a
// socket a StreamSocketListener accepted, and returns the WebSocket,
// which owns the connection from then on: s is closed for the plugin.
// opts are runtime/websocket's (Logger is not used: the host logs). It
// must be called before s is read from, and waits for s's writes. A
// request that is not a valid upgrade is answered with an HTTP error, the
// connection is closed, and the error is a *websocket.Error with that
// HTTPStatus.
func AcceptMessage(ctx context.Context, s *StreamSocket, opts websocket.AcceptOptions) (*ServerMessageWebSocket, error) {
	m := &ServerMessageWebSocket{}
	m.init(s.h, "ServerMessageWebSocket", true)
	m.ctl = ServerMessageWebSocketControl{&m.wsCore}
	m.out = MessageOutputStream{&m.wsCore, "ServerMessageWebSocket.OutputStream"}
	if err := accept(ctx, "AcceptMessage", s, &m.wsCore, pluginv1.SocketKind_SOCKET_KIND_MESSAGE_WEB_SOCKET, opts); err != nil {
		return nil, err
	}
	return m, nil
}

// AcceptStream is AcceptMessage for a stream WebSocket; opts.ReceiveMode
// is ignored.
func AcceptStream(ctx context.Context, s *StreamSocket, opts websocket.AcceptOptions) (*ServerStreamWebSocket, error) {
	m := &ServerStreamWebSocket{}
	m.init(s.h, "ServerStreamWebSocket", false)
	m.in = WebSocketInputStream{&m.wsCore, "ServerStreamWebSocket.InputStream"}
	m.out = WebSocketOutputStream{&m.wsCore, "ServerStreamWebSocket.OutputStream"}
	opts.ReceiveMode = websocket.FullMessage
	if err := accept(ctx, "AcceptStream", s, &m.wsCore, pluginv1.SocketKind_SOCKET_KIND_STREAM_WEB_SOCKET, opts); err != nil {
		return nil, err
	}
	return m, nil
}

// accept sends WebSocketAccept for s and makes w the WebSocket; s stops
// naming a socket of the plugin, whatever the outcome, once the command
// is sent.
func accept(ctx context.Context, op string, s *StreamSocket, w *wsCore, kind pluginv1.SocketKind, opts websocket.AcceptOptions) error {
	if s == nil {
		return socketerror.InvalidArg(op, "socket", "must not be nil")
	}
	if opts.ReceiveMode != websocket.FullMessage && opts.ReceiveMode != websocket.PartialMessage {
		return socketerror.InvalidArg(op, "opts", "ReceiveMode %s is not a MessageWebSocketReceiveMode", opts.ReceiveMode)
	}
	id, err := s.conn(op)
	if err != nil {
		return err
	}
	if s.isTransferred() {
		return socketerror.IllegalCall(op, "socket %d is transferred (TransferOwnership); a WebSocket cannot be", id)
	}
	if err := s.output.Flush(ctx); err != nil {
		return err
	}
	s.rd.mu.Lock()
	inflight, unread := s.rd.inflight, s.rd.buf
	s.rd.mu.Unlock()
	if inflight {
		return socketerror.IllegalCall(op, "socket %d has been read from: accept a WebSocket before reading", id)
	}
	// From here on the host takes the socket: s no longer names it.
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.h.untrack(s)
	cmd := &pluginv1.WebSocketAccept{Socket: id, Kind: kind, Protocols: opts.Protocols, Path: opts.Path,
		MaxMessageSize: opts.MaxMessageSize, ReceiveMode: int32(opts.ReceiveMode), OriginPatterns: opts.OriginPatterns,
		InsecureSkipOriginVerify:  opts.InsecureSkipOriginVerify,
		UnsolicitedPongIntervalMs: uint32(opts.UnsolicitedPongInterval / time.Millisecond),
		HandshakeTimeoutMs:        uint32(opts.HandshakeTimeout / time.Millisecond), Unread: unread}
	return w.start(ctx, op, &pluginv1.Command{Command: &pluginv1.Command_WebSocketAccept{WebSocketAccept: cmd}})
}
