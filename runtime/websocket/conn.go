package websocket

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/netrun/netrun/internal/fifo"
	"github.com/netrun/netrun/runtime/event"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
)

// Close codes netrun sends or reports (RFC 6455 section 7.4.1).
const (
	closeNormal       = 1000
	closeProtocol     = 1002
	closeNoStatus     = 1005 // reported for a close frame without a code
	closeAbnormal     = 1006 // reported for a connection lost without a close frame
	closeInvalidData  = 1007 // invalid UTF-8 in a text message
	closeMessageBig   = 1009 // a message over MaxMessageSize
	maxCloseReasonLen = 123  // a control frame carries 125 bytes, 2 are the code
)

// closeTimeout bounds the reads of a closing handshake, as
// coder/websocket bounds its own waits. The library's Close first skips
// the rest of the frame being read, with no bound: without this deadline
// a peer that declared a large frame and stalled would hold Close (and
// the reader, after a 1009 or 1007) for as long as it keeps the
// connection open.
const closeTimeout = 5 * time.Second

// partialChunk is the most a PartialMessage event carries.
const partialChunk = 64 << 10

// keepBuffer is the largest message buffer a connection keeps between
// messages; a larger one is dropped so that an idle connection does not
// hold on to the memory of its biggest message.
const keepBuffer = 1 << 20

// conn is what the four WebSocket classes share once connected: the
// coder/websocket connection over the socket, the send queue, and the
// goroutine that reads and raises the events.
type conn struct {
	// immutable after newConn
	ws       *websocket.Conn
	wire     *wire
	sock     *sockets.StreamSocket
	class    string // "MessageWebSocket", ..., for error messages
	peer     string // the URI, or the client's address on a server
	stream   bool   // stream class: data goes to the inbox, not to events
	partial  bool   // PartialMessage mode
	log      *slog.Logger
	received *event.Event[*MessageReceivedEventArgs] // nil for stream classes
	closedEv *event.Event[*ClosedEventArgs]
	done     chan struct{} // closed when Close begins
	ended    chan struct{} // closed when the reader has seen the end
	inbox    chan *chunk   // stream classes: received bytes, closed at the end

	sendLock fifo.Lock // the send queue; guards frag
	frag     struct {  // a message being sent frame by frame
		open   bool
		isText bool
		text   utf8Stream
	}

	closeOnce     sync.Once
	local         atomic.Pointer[ClosedEventArgs] // the close this side began
	closeReceived atomic.Bool                     // the peer's close frame ended the connection
	inErr         error                           // why the inbox closed; set before it closes
	readLock      fifo.Lock                       // stream classes: the read queue; guards cur
	cur           *chunk                          // the chunk being read
	loops         loops                           // the reader and the pong ticker

	// the reader's state, touched by the reader goroutine only (and by
	// the partial-message flusher, which the reader waits for)
	args     MessageReceivedEventArgs
	buf      []byte
	flushed  chan struct{} // closed when the flusher's handler returned
	flushEnd bool          // the flusher found the connection closing
	flushFn  func()
}

// connConfig is what newConn needs besides the connection.
type connConfig struct {
	class        string
	peer         string
	stream       bool
	partial      bool
	maxSize      uint32 // MaxMessageSize; noLimit for none
	pongInterval time.Duration
	received     *event.Event[*MessageReceivedEventArgs]
	closed       *event.Event[*ClosedEventArgs]
	log          *slog.Logger
}

// noLimit as MaxMessageSize means no limit (WinRT's INFINITE).
const noLimit = ^uint32(0)

// newConn takes over ws and starts its reader (and its pong ticker).
func newConn(ws *websocket.Conn, w *wire, sock *sockets.StreamSocket, cfg connConfig) *conn {
	c := &conn{
		ws: ws, wire: w, sock: sock, class: cfg.class, peer: cfg.peer,
		stream: cfg.stream, partial: cfg.partial, log: cfg.log,
		received: cfg.received, closedEv: cfg.closed,
		done: make(chan struct{}), ended: make(chan struct{}),
	}
	if cfg.maxSize == noLimit {
		ws.SetReadLimit(-1)
	} else {
		ws.SetReadLimit(int64(cfg.maxSize))
	}
	if c.stream {
		c.inbox = make(chan *chunk, inboxDepth)
	}
	if c.partial {
		c.flushFn = c.flushPending
	}
	w.track()
	c.loops.start()
	go c.readLoop()
	if cfg.pongInterval > 0 {
		c.loops.start()
		go c.pongLoop(cfg.pongInterval)
	}
	return c
}

// closing reports whether Close has begun.
func (c *conn) closing() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// send sends p as one message of type typ, after every send issued before
// it. A context that ends while the send waits for its turn abandons it;
// one that ends while the message is being written closes the connection,
// because a half-written frame cannot be taken back.
func (c *conn) send(ctx context.Context, op string, typ SocketMessageType, p []byte) error {
	if typ == Utf8 && !utf8.Valid(p) {
		return socketerror.InvalidArg(op, "data", "is not valid UTF-8, which a Utf8 message must be")
	}
	if err := c.sendLock.Lock(ctx); err != nil {
		return c.ctxError(ctx, op, err)
	}
	defer c.sendLock.Unlock()
	if c.closing() {
		return socketerror.Closed(op)
	}
	if err := ctx.Err(); err != nil { // the library would close the connection
		return c.ctxError(ctx, op, err)
	}
	if c.frag.open {
		return socketerror.IllegalCall(op, "a message sent frame by frame is not finished: end it with SendFinalFrame first")
	}
	return c.sendError(ctx, op, c.ws.Write(ctx, coderType(typ), p))
}

// sendFrame sends p as one frame of the message that SendNonfinalFrame
// began, or begins one; final ends it. The message has the type typ had
// when its first frame was sent.
//
// coder/websocket's streaming writer buffers frames without FIN until its
// buffer fills, so a piece would not leave when sent; these frames go
// through the wire instead, which keeps them whole between the library's
// own (control) frames. The library writes no data frame meanwhile: its
// data messages are all sent under sendLock, which this holds.
func (c *conn) sendFrame(ctx context.Context, op string, typ SocketMessageType, p []byte, final bool) (int, error) {
	if err := c.sendLock.Lock(ctx); err != nil {
		return 0, c.ctxError(ctx, op, err)
	}
	defer c.sendLock.Unlock()
	if c.closing() {
		return 0, socketerror.Closed(op)
	}
	if err := ctx.Err(); err != nil {
		return 0, c.ctxError(ctx, op, err)
	}
	opcode := opContinuation
	if !c.frag.open {
		if final { // a whole message in one frame
			if typ == Utf8 && !utf8.Valid(p) {
				return 0, socketerror.InvalidArg(op, "data", "is not valid UTF-8, which a Utf8 message must be")
			}
			if err := c.sendError(ctx, op, c.ws.Write(ctx, coderType(typ), p)); err != nil {
				return 0, err
			}
			return len(p), nil
		}
		c.frag.isText, c.frag.text = typ == Utf8, utf8Stream{}
		opcode = opBinary
		if c.frag.isText {
			opcode = opText
		}
	}
	if c.frag.isText {
		v := c.frag.text
		if !v.feed(p) || final && !v.end() {
			return 0, socketerror.InvalidArg(op, "data", "is not valid UTF-8, which a Utf8 message must be (a rune may be split between frames, but not left unfinished)")
		}
		c.frag.text = v
	}
	// As for the library's writes: a context that ends mid-frame closes
	// the connection, since the frame cannot be finished.
	stop := context.AfterFunc(ctx, func() { c.ws.CloseNow() })
	err := c.wire.writeFrame(final, opcode, p)
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		c.frag.open = false
		return 0, c.sendError(ctx, op, err)
	}
	c.frag.open = !final
	return len(p), nil
}

// flush returns once every send issued before it has completed.
func (c *conn) flush(ctx context.Context, op string) error {
	if err := c.sendLock.Lock(ctx); err != nil {
		return c.ctxError(ctx, op, err)
	}
	c.sendLock.Unlock()
	if c.closing() {
		return socketerror.Closed(op)
	}
	return nil
}

// ctxError is the error of an operation that ctx ended before it began.
func (c *conn) ctxError(ctx context.Context, op string, err error) error {
	if ctx.Err() == context.DeadlineExceeded {
		return wrapError(op, c.peer, Timeout, socketerror.WithStatus(op, c.peer, socketerror.ConnectionTimedOut, err))
	}
	return wrapError(op, c.peer, OperationCanceled, socketerror.WithStatus(op, c.peer, socketerror.OperationAborted, err))
}

// sendError classifies the error of a write by the library.
func (c *conn) sendError(ctx context.Context, op string, err error) error {
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return c.ctxError(ctx, op, err)
	case c.closing():
		return socketerror.Closed(op)
	}
	select {
	case <-c.ended: // the close handshake (or a loss) came first; see Closed
		if c.closeReceived.Load() {
			return socketerror.Closed(op)
		}
	default:
	}
	return abortedError(op, c.peer, err)
}

// close runs the closing handshake with code and reason (code 1005 sends a
// close frame without a code), closes the socket, and waits for the
// connection's goroutines, except one running the caller's handler.
func (c *conn) close(code uint16, reason string) {
	c.closeOnce.Do(func() {
		c.local.Store(&ClosedEventArgs{code: code, reason: reason})
		close(c.done)
		c.wire.SetReadDeadline(time.Now().Add(closeTimeout))
		if err := c.ws.Close(websocket.StatusCode(code), reason); err != nil && !errors.Is(err, net.ErrClosed) {
			c.log.Debug("websocket close handshake incomplete", "peer", c.peer, "err", err)
		}
		c.sock.Close()
	})
	c.loops.wait()
}

// checkClose validates the arguments of Close(code, reason).
func checkClose(op string, code uint16, reason string) error {
	switch {
	case !validCloseCode(code):
		return socketerror.InvalidArg(op, "code", "%d is not a close code an endpoint may send (1000-1003, 1007-1014, 3000-4999)", code)
	case len(reason) > maxCloseReasonLen:
		return socketerror.InvalidArg(op, "reason", "is %d bytes; a close reason is at most %d bytes of UTF-8", len(reason), maxCloseReasonLen)
	case !utf8.ValidString(reason):
		return socketerror.InvalidArg(op, "reason", "is not valid UTF-8")
	}
	return nil
}

// validCloseCode reports whether code may be sent in a close frame.
func validCloseCode(code uint16) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// pongLoop sends an unsolicited pong every d until the connection closes.
func (c *conn) pongLoop(d time.Duration) {
	defer c.loops.exit()
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := c.wire.pong(); err != nil {
				return
			}
		case <-c.done:
			return
		case <-c.ended:
			return
		}
	}
}

// readLoop reads messages until the connection ends, raising
// MessageReceived for each (or filling the inbox), then raises Closed.
func (c *conn) readLoop() {
	defer c.loops.exit()
	ctx := context.Background() // the connection's end stops the reader, not a context
	var err error
	for err == nil {
		var typ websocket.MessageType
		var r io.Reader
		typ, r, err = c.ws.Reader(ctx)
		if err != nil {
			break
		}
		mt := fromCoder(typ)
		switch {
		case c.stream:
			err = c.readStream(r, mt)
		case c.partial:
			err = c.readPartial(r, mt)
		default:
			err = c.readFull(r, mt)
		}
	}
	c.finish(err)
}

// readFull reads one message whole and raises MessageReceived with it.
func (c *conn) readFull(r io.Reader, mt SocketMessageType) error {
	b := c.buf[:0]
	// Text is checked as it arrives, so that invalid UTF-8 fails the
	// connection at the frame that holds it, not after the rest of a
	// message of up to MaxMessageSize (Autobahn's fail-fast, 6.4.*).
	var text utf8Stream
	for {
		if len(b) == cap(b) {
			nb := make([]byte, len(b), max(512, 2*cap(b)))
			copy(nb, b)
			b = nb
		}
		n, err := r.Read(b[len(b):cap(b)])
		if mt == Utf8 && !text.feed(b[len(b):len(b)+n]) {
			return errInvalidUTF8
		}
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	c.buf = b
	if cap(b) > keepBuffer {
		c.buf = nil
	}
	if mt == Utf8 && !text.end() {
		return errInvalidUTF8
	}
	c.args = MessageReceivedEventArgs{typ: mt, complete: true, data: b}
	if !c.raise(&c.args, true) {
		return errClosing
	}
	return nil
}

// readPartial reads one message in pieces, raising MessageReceived for
// each as it arrives. The last event has IsMessageComplete set: it carries
// the last piece if the end of the message was already here when that
// piece was read, else nothing.
//
// After each piece it makes an empty read, which returns at once at the
// end of the message or inside a frame; it waits only when a frame ended
// without ending the message and the next is not here yet. The wire runs
// flushPending before that wait, so the piece is raised (on a goroutine of
// its own, which the reader waits for) instead of waiting too.
func (c *conn) readPartial(r io.Reader, mt SocketMessageType) error {
	if cap(c.buf) < partialChunk {
		c.buf = make([]byte, partialChunk)
	}
	var text utf8Stream
	for {
		n, err := r.Read(c.buf[:partialChunk])
		if err != nil && err != io.EOF {
			return err
		}
		piece := c.buf[:n]
		if mt == Utf8 && (!text.feed(piece) || err == io.EOF && !text.end()) {
			return errInvalidUTF8
		}
		if err == io.EOF { // only for an empty message
			return c.raisePiece(mt, piece, true)
		}
		c.args = MessageReceivedEventArgs{typ: mt, data: piece}
		c.flushed = nil
		c.wire.beforeRead.Store(&c.flushFn)
		_, perr := r.Read(c.buf[n:n])
		c.wire.beforeRead.Store(nil)
		flushed := c.flushed != nil
		if flushed {
			// The piece is being raised while the read waited; wait for
			// its handler as raise would, not counted as running.
			c.loops.add(-1)
			<-c.flushed
			c.loops.add(1)
			if c.flushEnd {
				return errClosing
			}
		}
		switch {
		case perr == io.EOF:
			if mt == Utf8 && !text.end() {
				return errInvalidUTF8
			}
			if flushed {
				return c.raisePiece(mt, nil, true)
			}
			return c.raisePiece(mt, piece, true)
		case perr != nil:
			return perr
		case !flushed:
			if err := c.raisePiece(mt, piece, false); err != nil {
				return err
			}
		}
	}
}

// flushPending raises the pending piece of a partial message on a
// goroutine of its own; the wire runs it on the reader goroutine just
// before a read waits on the network.
func (c *conn) flushPending() {
	done := make(chan struct{})
	c.flushed = done
	go func() {
		defer close(done)
		c.flushEnd = !c.raise(&c.args, false)
	}()
}

// raisePiece raises one piece of a partial message.
func (c *conn) raisePiece(mt SocketMessageType, p []byte, complete bool) error {
	c.args = MessageReceivedEventArgs{typ: mt, complete: complete, data: p}
	if !c.raise(&c.args, true) {
		return errClosing
	}
	return nil
}

// raise raises MessageReceived with args. With no handler it holds the
// message until one is added, or until Close; it reports false in that
// case. counted says the caller is the reader, which does not count as
// running while handlers run.
func (c *conn) raise(args *MessageReceivedEventArgs, counted bool) bool {
	if counted {
		c.loops.add(-1)
		defer c.loops.add(1)
	}
	for !c.received.Raise(args) {
		select {
		case <-c.received.Ready():
		case <-c.done:
			return false
		}
	}
	return true
}

var (
	// errInvalidUTF8 ends a connection whose peer sent a text message
	// that is not UTF-8.
	errInvalidUTF8 = errors.New("a text message is not valid UTF-8")
	// errClosing ends the reader when Close began while it held a message.
	errClosing = errors.New("closing")
)

// finish ends the connection after the reader stopped on err: it
// completes a close the peer or the data began, records why the inbox
// closed, and raises Closed.
func (c *conn) finish(err error) {
	op := c.class + ".Closed"
	c.wire.SetReadDeadline(time.Now().Add(closeTimeout))
	args := &ClosedEventArgs{code: closeAbnormal}
	var ce websocket.CloseError
	switch {
	case errors.As(err, &ce):
		// The peer's close frame: its code, or 1005 for none.
		c.closeReceived.Store(true)
		args.code, args.reason = uint16(ce.Code), ce.Reason
		if !utf8.ValidString(args.reason) {
			args.reason = ""
		}
	case c.local.Load() != nil:
		l := c.local.Load()
		args.code, args.reason = l.code, l.reason
	case err == errInvalidUTF8:
		args.code, args.reason = closeInvalidData, "invalid UTF-8 in a text message"
		args.err = &Error{Op: op, URI: c.peer, Status: Unknown,
			Err: socketerror.WithStatus(op, c.peer, socketerror.Unknown, err)}
		c.ws.Close(closeInvalidData, args.reason)
	case errors.Is(err, websocket.ErrMessageTooBig):
		// The library has sent the 1009 close frame; wait for the reply.
		args.code, args.reason = closeMessageBig, "message too big"
		args.err = &Error{Op: op, URI: c.peer, Status: Unknown,
			Err: socketerror.WithStatus(op, c.peer, socketerror.MessageTooLong, err)}
		c.ws.Close(closeMessageBig, "")
	case isNetworkError(err):
		args.err = abortedError(op, c.peer, err)
		c.ws.CloseNow()
	default:
		// A protocol violation the library detected; it has sent 1002.
		args.code, args.reason = closeProtocol, "protocol error"
		args.err = protocolError(op, c.peer, err)
		c.ws.Close(closeProtocol, "")
	}
	if c.stream {
		switch {
		case args.err != nil:
			c.inErr = args.err
		case c.local.Load() != nil && !errors.As(err, &ce):
			c.inErr = socketerror.Closed(c.class + ".InputStream.Read")
		default:
			c.inErr = io.EOF
		}
		close(c.inbox)
	}
	close(c.ended)
	c.loops.add(-1)
	raised := c.closedEv.Raise(args)
	c.loops.add(1)
	if raised {
		return
	}
	// No handler yet (the connection ended before the owner added one,
	// e.g. right after Accept returned): hold the event, as messages are
	// held, until a handler is added or the owner closes the socket.
	select {
	case <-c.closedEv.Ready():
	case <-c.done:
		return
	}
	c.loops.add(-1)
	c.closedEv.Raise(args)
	c.loops.add(1)
}

// isNetworkError reports whether err is the connection failing rather than
// the peer breaking the protocol.
func isNetworkError(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	return socketerror.Classify(err) != socketerror.Unknown
}

func coderType(t SocketMessageType) websocket.MessageType {
	if t == Utf8 {
		return websocket.MessageText
	}
	return websocket.MessageBinary
}

func fromCoder(t websocket.MessageType) SocketMessageType {
	if t == websocket.MessageText {
		return Utf8
	}
	return Binary
}
