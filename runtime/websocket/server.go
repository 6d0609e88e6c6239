package websocket

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/coder/websocket"

	"github.com/netrun/netrun/runtime/event"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
)

// DefaultHandshakeTimeout bounds a server's handshake when AcceptOptions
// leave HandshakeTimeout 0.
const DefaultHandshakeTimeout = 10 * time.Second

// maxRequestBytes bounds the handshake request a server reads.
const maxRequestBytes = 64 << 10

// AcceptOptions configure a server handshake. The zero value accepts any
// path, chooses no subprotocol, allows same-origin and non-browser clients
// only, and uses the defaults below.
type AcceptOptions struct {
	// Protocols are the subprotocols the server speaks, in its order of
	// preference: the first one the client also offers is chosen and
	// reported by Information().Protocol. None is chosen when nothing
	// matches; the handshake still succeeds, as RFC 6455 allows.
	Protocols []string
	// Path, if set, is the only request path accepted (e.g. "/chat");
	// another gets 404 Not Found. "" accepts any path.
	Path string
	// MaxMessageSize is the largest message accepted, in bytes; a larger
	// one closes the connection with 1009. 0 means DefaultMaxMessageSize
	// and 0xFFFFFFFF no limit.
	MaxMessageSize uint32
	// ReceiveMode is FullMessage (the zero value) or PartialMessage, for
	// a ServerMessageWebSocket.
	ReceiveMode MessageWebSocketReceiveMode
	// OriginPatterns lists the browser origins allowed besides the
	// request's own host, as host patterns ("example.com",
	// "*.example.com") or, with a scheme, "https://example.com" (path.Match
	// syntax). By default a request with an Origin header whose host is
	// not the Host header's gets 403 Forbidden, which stops other sites'
	// pages from using a browser's credentials against the server
	// (cross-site WebSocket hijacking). Requests without Origin (clients
	// that are not browsers) are always allowed.
	OriginPatterns []string
	// InsecureSkipOriginVerify accepts every Origin. Prefer
	// OriginPatterns.
	InsecureSkipOriginVerify bool
	// UnsolicitedPongInterval, if positive, sends an unsolicited pong at
	// that interval as a one-way heartbeat, as a client's
	// DesiredUnsolicitedPongInterval does.
	UnsolicitedPongInterval time.Duration
	// HandshakeTimeout bounds reading the request and answering it; 0
	// means DefaultHandshakeTimeout. The context passed to Accept bounds
	// it too.
	HandshakeTimeout time.Duration
	// Logger receives the connection's logs; nil means slog.Default.
	Logger *slog.Logger
}

// ServerMessageWebSocket is WinRT's ServerMessageWebSocket: the server end
// of a message WebSocket. WinRT gives applications no way to make one;
// netrun makes one of an accepted StreamSocket with [AcceptMessage].
//
// It behaves as [MessageWebSocket] does once connected: MessageReceived,
// held messages, Closed, Send, frames, OutputStream and Close, with the
// same concurrency, closing and context rules. Messages that arrive
// before the first MessageReceived handler is added (including before
// AcceptMessage returns) are held, not dropped.
type ServerMessageWebSocket struct {
	// immutable after AcceptMessage
	ctl      ServerMessageWebSocketControl
	info     WebSocketInformation
	received event.Event[*MessageReceivedEventArgs]
	closed   event.Event[*ClosedEventArgs]
	out      MessageOutputStream
	c        *conn
}

// AcceptMessage runs the server side of the opening handshake on s, a
// socket from a StreamSocketListener (plain or TLS), and returns the
// WebSocket, which owns s from then on. It reads the HTTP request
// (keeping any bytes the client sent after it), checks Path, the upgrade
// headers and the origin, chooses a subprotocol and answers 101.
//
// A request that is not a valid upgrade gets an HTTP error response (400
// Bad Request for malformed requests or a bad key or version, 404 Not
// Found for another path, 403 Forbidden for an origin not allowed, 405
// for a method other than GET, 426 Upgrade Required for a plain HTTP
// request); then s is closed and the error, an [*Error] with that HTTP
// status, says what was wrong. s is closed on every failure.
func AcceptMessage(ctx context.Context, s *sockets.StreamSocket, opts AcceptOptions) (*ServerMessageWebSocket, error) {
	const class = "ServerMessageWebSocket"
	if err := checkNotNil(class+".Accept", "socket", s == nil); err != nil {
		return nil, err
	}
	m := &ServerMessageWebSocket{}
	m.out = MessageOutputStream{s: m, op: class + ".OutputStream"}
	c, err := accept(ctx, class, s, &opts, &m.info, connConfig{
		class: class, partial: opts.ReceiveMode == PartialMessage,
		received: &m.received, closed: &m.closed,
	})
	if err != nil {
		return nil, err
	}
	m.c = c
	return m, nil
}

// Control returns the type of the messages the socket sends.
func (m *ServerMessageWebSocket) Control() *ServerMessageWebSocketControl { return &m.ctl }

// Information returns the negotiated subprotocol and the local address.
func (m *ServerMessageWebSocket) Information() *WebSocketInformation { return &m.info }

// MessageReceived is raised for each message received (each piece, in
// PartialMessage mode).
func (m *ServerMessageWebSocket) MessageReceived() *event.Event[*MessageReceivedEventArgs] {
	return &m.received
}

// Closed is raised once when the connection ends.
func (m *ServerMessageWebSocket) Closed() *event.Event[*ClosedEventArgs] { return &m.closed }

// OutputStream returns the stream whose every Write sends one message of
// Control().MessageType.
func (m *ServerMessageWebSocket) OutputStream() *MessageOutputStream { return &m.out }

// Send sends p as one message of Control().MessageType; see
// [MessageWebSocket.Send].
func (m *ServerMessageWebSocket) Send(ctx context.Context, p []byte) error {
	return m.c.send(ctx, "ServerMessageWebSocket.Send", m.ctl.MessageType(), p)
}

// SendNonfinalFrame sends p as a frame of a message that goes on; see
// [MessageWebSocket.SendNonfinalFrame]. A netrun extension: WinRT's server
// class has no frame methods.
func (m *ServerMessageWebSocket) SendNonfinalFrame(ctx context.Context, p []byte) (int, error) {
	return m.c.sendFrame(ctx, "ServerMessageWebSocket.SendNonfinalFrame", m.ctl.MessageType(), p, false)
}

// SendFinalFrame ends the message SendNonfinalFrame began; see
// [MessageWebSocket.SendFinalFrame]. A netrun extension.
func (m *ServerMessageWebSocket) SendFinalFrame(ctx context.Context, p []byte) (int, error) {
	return m.c.sendFrame(ctx, "ServerMessageWebSocket.SendFinalFrame", m.ctl.MessageType(), p, true)
}

// Close closes the WebSocket, sending a close frame without a status code,
// and closes its socket. It is idempotent and returns nil.
func (m *ServerMessageWebSocket) Close() error {
	m.c.close(closeNoStatus, "")
	return nil
}

// CloseWithStatus closes the WebSocket, sending code and reason; see
// [MessageWebSocket.CloseWithStatus].
func (m *ServerMessageWebSocket) CloseWithStatus(code uint16, reason string) error {
	if err := checkClose("ServerMessageWebSocket.Close", code, reason); err != nil {
		return err
	}
	m.c.close(code, reason)
	return nil
}

func (m *ServerMessageWebSocket) conn(op string) (*conn, error) {
	if m.c.closing() {
		return nil, socketerror.Closed(op)
	}
	return m.c, nil
}

func (m *ServerMessageWebSocket) messageType() SocketMessageType { return m.ctl.MessageType() }

// ServerStreamWebSocket is WinRT's ServerStreamWebSocket: the server end of
// a stream WebSocket, made of an accepted StreamSocket with
// [AcceptStream]. It behaves as [StreamWebSocket] does once connected.
type ServerStreamWebSocket struct {
	// immutable after AcceptStream
	info   WebSocketInformation
	closed event.Event[*ClosedEventArgs]
	in     InputStream
	out    OutputStream
	c      *conn
}

// AcceptStream runs the server side of the opening handshake on s and
// returns a stream WebSocket, which owns s from then on; see
// [AcceptMessage]. ReceiveMode is ignored.
func AcceptStream(ctx context.Context, s *sockets.StreamSocket, opts AcceptOptions) (*ServerStreamWebSocket, error) {
	const class = "ServerStreamWebSocket"
	if err := checkNotNil(class+".Accept", "socket", s == nil); err != nil {
		return nil, err
	}
	m := &ServerStreamWebSocket{}
	m.in = InputStream{s: m, op: class + ".InputStream"}
	m.out = OutputStream{s: m, op: class + ".OutputStream"}
	c, err := accept(ctx, class, s, &opts, &m.info, connConfig{class: class, stream: true, closed: &m.closed})
	if err != nil {
		return nil, err
	}
	m.c = c
	return m, nil
}

// Information returns the negotiated subprotocol and the local address.
func (m *ServerStreamWebSocket) Information() *WebSocketInformation { return &m.info }

// Closed is raised once when the connection ends.
func (m *ServerStreamWebSocket) Closed() *event.Event[*ClosedEventArgs] { return &m.closed }

// InputStream returns the stream that reads the received bytes.
func (m *ServerStreamWebSocket) InputStream() *InputStream { return &m.in }

// OutputStream returns the stream whose writes go out as binary messages.
func (m *ServerStreamWebSocket) OutputStream() *OutputStream { return &m.out }

// Close closes the WebSocket, sending a close frame without a status code,
// and closes its socket. It is idempotent and returns nil.
func (m *ServerStreamWebSocket) Close() error {
	m.c.close(closeNoStatus, "")
	return nil
}

// CloseWithStatus closes the WebSocket, sending code and reason; see
// [MessageWebSocket.CloseWithStatus].
func (m *ServerStreamWebSocket) CloseWithStatus(code uint16, reason string) error {
	if err := checkClose("ServerStreamWebSocket.Close", code, reason); err != nil {
		return err
	}
	m.c.close(code, reason)
	return nil
}

func (m *ServerStreamWebSocket) conn(op string) (*conn, error) {
	if m.c.closing() {
		return nil, socketerror.Closed(op)
	}
	return m.c, nil
}

// accept runs the handshake on s and starts the connection; on failure
// it closes s.
func accept(ctx context.Context, class string, s *sockets.StreamSocket, opts *AcceptOptions, info *WebSocketInformation, cfg connConfig) (*conn, error) {
	op := class + ".Accept"
	peer := s.Information().RemotePort()
	if a := s.Information().RemoteAddress(); a != nil {
		peer = net.JoinHostPort(a.String(), peer)
	}
	nc, err := s.NetConn()
	if err != nil {
		s.Close()
		return nil, classify(op, peer, err)
	}
	ws, w, err := handshake(ctx, op, peer, nc, opts)
	if err != nil {
		s.Close()
		return nil, err
	}
	info.set(s, ws.Subprotocol())
	cfg.peer = peer
	cfg.maxSize = opts.MaxMessageSize
	cfg.pongInterval = opts.UnsolicitedPongInterval
	if cfg.maxSize == 0 {
		cfg.maxSize = DefaultMaxMessageSize
	}
	cfg.log = opts.Logger
	if cfg.log == nil {
		cfg.log = slog.Default()
	}
	cfg.log = cfg.log.With("websocket", peer)
	return newConn(ws, w, s, cfg), nil
}

// handshake reads the request from nc and answers it through
// coder/websocket's Accept.
func handshake(ctx context.Context, op, peer string, nc net.Conn, opts *AcceptOptions) (*websocket.Conn, *wire, error) {
	timeout := opts.HandshakeTimeout
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	nc.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	ws, w, err := serve(op, peer, nc, opts)
	if !stop() && err == nil { // ctx ended as the handshake completed
		ws.CloseNow()
		err = ctx.Err()
	}
	if err != nil {
		var we *Error
		switch {
		case errors.As(err, &we):
		case ctx.Err() == context.DeadlineExceeded, errors.Is(err, os.ErrDeadlineExceeded):
			err = wrapError(op, peer, Timeout, socketerror.WithStatus(op, peer, socketerror.ConnectionTimedOut,
				fmt.Errorf("no complete handshake request within %v: %w", timeout, err)))
		case ctx.Err() != nil:
			err = wrapError(op, peer, OperationCanceled, socketerror.WithStatus(op, peer, socketerror.OperationAborted, err))
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			err = abortedError(op, peer, fmt.Errorf("the client closed the connection during the handshake: %w", err))
		default:
			err = classify(op, peer, err)
		}
		return nil, nil, err
	}
	nc.SetDeadline(time.Time{})
	return ws, w, nil
}

// serve reads one request and answers it: 101 and a connection, or an
// HTTP error and an *Error.
func serve(op, peer string, nc net.Conn, opts *AcceptOptions) (*websocket.Conn, *wire, error) {
	lim := &limitedReader{r: nc, n: maxRequestBytes}
	br := bufio.NewReaderSize(lim, 4096)
	req, err := http.ReadRequest(br)
	if err != nil {
		if tc, ok := nc.(*tls.Conn); ok && !tc.ConnectionState().HandshakeComplete {
			return nil, nil, classify(op, peer, err) // a TLS failure, not a bad request
		}
		switch {
		case lim.n <= 0:
			return nil, nil, refuse(op, peer, nc, http.StatusRequestHeaderFieldsTooLarge,
				fmt.Sprintf("the handshake request is over %d bytes", maxRequestBytes))
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
			// A malformed request target is a *url.Error, which is a
			// net.Error too, but the client's mistake: it gets the 400.
			isNetworkError(err) && !errors.As(err, new(*url.Error)):
			return nil, nil, err
		}
		return nil, nil, refuse(op, peer, nc, http.StatusBadRequest, "the request is not valid HTTP: "+err.Error())
	}
	if opts.Path != "" && req.URL.Path != opts.Path {
		return nil, nil, refuse(op, peer, nc, http.StatusNotFound,
			fmt.Sprintf("no WebSocket endpoint at %q (the path must be %q)", req.URL.Path, opts.Path))
	}
	w := newWire(nc, false)
	hw := &handshakeWriter{conn: nc, wire: w, br: br, header: http.Header{}}
	ws, err := websocket.Accept(hw, req, &websocket.AcceptOptions{
		Subprotocols:       opts.Protocols,
		OriginPatterns:     opts.OriginPatterns,
		InsecureSkipVerify: opts.InsecureSkipOriginVerify,
	})
	if err != nil {
		if hw.hijacked { // the 101 went out; the failure came after
			return nil, nil, err
		}
		status := hw.status
		if status == 0 {
			status = http.StatusInternalServerError
		}
		msg := fmt.Sprintf("refused the WebSocket handshake with %d %s: %v", status, http.StatusText(status), err)
		if werr := hw.respond(); werr != nil {
			msg += fmt.Sprintf(" (sending the response failed: %v)", werr)
		}
		return nil, nil, httpError(op, peer, status, msg)
	}
	return ws, w, nil
}

// refuse answers the request with status and a one-line body, and returns
// the *Error naming what was wrong.
func refuse(op, peer string, nc net.Conn, status int, why string) error {
	hw := &handshakeWriter{conn: nc, header: http.Header{}}
	http.Error(hw, why, status)
	msg := fmt.Sprintf("refused the WebSocket handshake with %d %s: %s", status, http.StatusText(status), why)
	if err := hw.respond(); err != nil {
		msg += fmt.Sprintf(" (sending the response failed: %v)", err)
	}
	return httpError(op, peer, status, msg)
}

// handshakeWriter is the http.ResponseWriter and http.Hijacker
// coder/websocket's Accept answers through. It collects the response;
// Hijack sends the 101 and hands over the connection with the bytes read
// past the request; respond sends an error response.
type handshakeWriter struct {
	conn     net.Conn
	wire     *wire
	br       *bufio.Reader
	header   http.Header
	status   int
	body     []byte
	hijacked bool
}

func (w *handshakeWriter) Header() http.Header { return w.header }

func (w *handshakeWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *handshakeWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	if len(w.body) < 4096 {
		w.body = append(w.body, p[:min(len(p), 4096-len(w.body))]...)
	}
	return len(p), nil
}

// Hijack sends the 101 response and returns the connection. The bytes
// read past the request are handed to the wire, so that every frame the
// library reads goes through the wire's checks.
func (w *handshakeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if err := w.send(nil); err != nil {
		return nil, nil, err
	}
	w.hijacked = true
	rest, _ := w.br.Peek(w.br.Buffered())
	w.wire.pending = bytes.Clone(rest)
	return w.wire, bufio.NewReadWriter(bufio.NewReaderSize(w.wire, 4096), bufio.NewWriterSize(w.wire, 4096)), nil
}

// respond sends the collected error response; the connection is closed
// after it.
func (w *handshakeWriter) respond() error {
	w.header.Set("Connection", "close")
	w.header.Set("Content-Length", fmt.Sprint(len(w.body)))
	return w.send(w.body)
}

func (w *handshakeWriter) send(body []byte) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", w.status, http.StatusText(w.status))
	w.header.Write(&b)
	b.WriteString("\r\n")
	b.Write(body)
	_, err := w.conn.Write(b.Bytes())
	return err
}

// limitedReader is io.LimitedReader that also says when it ran out.
type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

var (
	_ messageSocket = (*ServerMessageWebSocket)(nil)
	_ connSource    = (*ServerMessageWebSocket)(nil)
	_ connSource    = (*ServerStreamWebSocket)(nil)
)
