package websocket

import (
	"context"
	"io"
	"sync"

	"github.com/netrun/netrun/runtime/event"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
)

// StreamWebSocket is WinRT's StreamWebSocket: a WebSocket client used as a
// byte stream. Every write goes out as one binary message; reads return
// the received messages' bytes with their boundaries removed.
//
// Make one with [NewStreamWebSocket], set its Control and request headers,
// then Connect, and read and write through InputStream and OutputStream.
// A reader goroutine receives ahead of the application into a small queue
// (64 KiB), and answers pings meanwhile; when the queue is full it stops
// reading until the application reads.
//
// Concurrency: all methods are safe for concurrent use. Reads are served
// one at a time and writes one at a time, each in the order issued.
//
// Closing: the owner must call Close, as for [MessageWebSocket]. A close
// frame from the peer ends the input stream (Read returns io.EOF once the
// bytes before it are read); Closed reports its code.
//
// Contexts: a context that ends during a Read ends that Read only, and
// the connection stays usable (unlike a coder/websocket read, whose
// context closes the connection). Writes and Connect are as for
// MessageWebSocket.
//
// Departures from WinRT: text messages are accepted too (their bytes are
// read like binary ones); ProxyCredential and BandwidthStatistics do not
// exist.
type StreamWebSocket struct {
	// immutable after construction
	cl  client
	ctl StreamWebSocketControl
	in  InputStream
	out OutputStream
}

// NewStreamWebSocket returns a StreamWebSocket that connects through env
// (nil for the zero Env).
func NewStreamWebSocket(env *sockets.Env) *StreamWebSocket {
	s := &StreamWebSocket{}
	s.cl.init(env, "StreamWebSocket")
	s.ctl.cl = &s.cl
	s.ctl.noDelay = true
	s.in = InputStream{s: &s.cl, op: "StreamWebSocket.InputStream"}
	s.out = OutputStream{s: &s.cl, op: "StreamWebSocket.OutputStream"}
	return s
}

// Control returns the socket's options.
func (s *StreamWebSocket) Control() *StreamWebSocketControl { return &s.ctl }

// Information returns the negotiated subprotocol, the local address and
// the server's certificate.
func (s *StreamWebSocket) Information() *WebSocketInformation { return &s.cl.info }

// Closed is raised once when the connection ends.
func (s *StreamWebSocket) Closed() *event.Event[*ClosedEventArgs] { return &s.cl.closed }

// ServerCustomValidationRequested is raised during a wss Connect once the
// server's certificate chain has passed validation; see
// [ServerCustomValidationRequestedEventArgs].
func (s *StreamWebSocket) ServerCustomValidationRequested() *event.Event[*ServerCustomValidationRequestedEventArgs] {
	return &s.cl.validation
}

// SetRequestHeader sets a header of the handshake request; see
// [MessageWebSocket.SetRequestHeader].
func (s *StreamWebSocket) SetRequestHeader(name, value string) error {
	return s.cl.setRequestHeader(name, value)
}

// Connect connects to uri and runs the opening handshake; see
// [MessageWebSocket.Connect].
func (s *StreamWebSocket) Connect(ctx context.Context, uri string) error {
	return s.cl.connect(ctx, uri, func() dialSettings {
		set := s.ctl.snapshotLocked()
		set.noDelay = s.ctl.noDelay
		set.stream = true
		return set
	})
}

// InputStream returns the stream that reads the received bytes.
func (s *StreamWebSocket) InputStream() *InputStream { return &s.in }

// OutputStream returns the stream whose writes go out as binary messages.
func (s *StreamWebSocket) OutputStream() *OutputStream { return &s.out }

// Close closes the WebSocket, sending a close frame without a status code.
// It is idempotent and returns nil.
func (s *StreamWebSocket) Close() error {
	s.cl.close(closeNoStatus, "")
	return nil
}

// CloseWithStatus closes the WebSocket, sending code and reason; see
// [MessageWebSocket.CloseWithStatus].
func (s *StreamWebSocket) CloseWithStatus(code uint16, reason string) error {
	if err := checkClose("StreamWebSocket.Close", code, reason); err != nil {
		return err
	}
	s.cl.close(code, reason)
	return nil
}

// connSource is what a stream reads from and writes to.
type connSource interface {
	conn(op string) (*conn, error)
}

// InputStream is the reading side of a StreamWebSocket or
// ServerStreamWebSocket: WinRT's IInputStream.
type InputStream struct {
	s  connSource
	op string
}

// Read reads into p. With sockets.Partial (or ReadAhead) it returns as
// soon as any bytes are there; with sockets.InputStreamNone it fills p
// unless the stream ends first. After the peer's close frame it returns
// the bytes left and then io.EOF; after a lost connection, an [*Error]
// with ConnectionAborted. A context that ends returns what was read and
// the context's error, leaving the connection as it was.
func (in *InputStream) Read(ctx context.Context, p []byte, opts sockets.InputStreamOptions) (int, error) {
	op := in.op + ".Read"
	c, err := in.s.conn(op)
	if err != nil {
		return 0, err
	}
	return c.read(ctx, op, p, opts)
}

// OutputStream is the writing side of a StreamWebSocket or
// ServerStreamWebSocket: WinRT's IOutputStream.
type OutputStream struct {
	s  connSource
	op string
}

// Write sends p as one binary message and returns len(p), or 0 and the
// error. See [StreamWebSocket] for what a context that ends does.
func (out *OutputStream) Write(ctx context.Context, p []byte) (int, error) {
	op := out.op + ".Write"
	c, err := out.s.conn(op)
	if err != nil {
		return 0, err
	}
	if err := c.send(ctx, op, Binary, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush returns once every write issued before it has been sent.
func (out *OutputStream) Flush(ctx context.Context) error {
	op := out.op + ".Flush"
	c, err := out.s.conn(op)
	if err != nil {
		return err
	}
	return c.flush(ctx, op)
}

// chunkSize is the size of the pieces the reader queues; inboxDepth how
// many it queues ahead of the application.
const (
	chunkSize  = 16 << 10
	inboxDepth = 4
)

// chunk is a piece of received data waiting in the inbox.
type chunk struct {
	b      []byte // chunkSize bytes
	n, off int    // bytes held, bytes already read
}

// chunkPool holds the inbox's buffers: scratch buffers, the one kind of
// package-level state we allow.
var chunkPool = sync.Pool{New: func() any { return &chunk{b: make([]byte, chunkSize)} }}

// readStream queues the bytes of one message for InputStream.Read.
func (c *conn) readStream(r io.Reader, mt SocketMessageType) error {
	var text utf8Stream
	for {
		ch := chunkPool.Get().(*chunk)
		n, err := r.Read(ch.b)
		if err != nil && err != io.EOF {
			chunkPool.Put(ch)
			return err
		}
		if mt == Utf8 && (!text.feed(ch.b[:n]) || err == io.EOF && !text.end()) {
			chunkPool.Put(ch)
			return errInvalidUTF8
		}
		if n == 0 {
			chunkPool.Put(ch)
		} else {
			ch.n, ch.off = n, 0
			c.loops.add(-1) // waiting for the application, as in a handler
			select {
			case c.inbox <- ch:
			case <-c.done:
				chunkPool.Put(ch)
				c.loops.add(1)
				return errClosing
			}
			c.loops.add(1)
		}
		if err == io.EOF {
			return nil
		}
	}
}

// read serves InputStream.Read from the inbox.
func (c *conn) read(ctx context.Context, op string, p []byte, opts sockets.InputStreamOptions) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if err := c.readLock.Lock(ctx); err != nil {
		return 0, c.ctxError(ctx, op, err)
	}
	defer c.readLock.Unlock()
	if c.closing() {
		return 0, socketerror.Closed(op)
	}
	n := 0
	for n < len(p) {
		if c.cur == nil {
			var ok bool
			if n > 0 && opts != sockets.InputStreamNone {
				select { // take more only if it is already here
				case c.cur, ok = <-c.inbox:
				default:
					return n, nil
				}
			} else {
				select {
				case c.cur, ok = <-c.inbox:
				case <-ctx.Done():
					return n, c.ctxError(ctx, op, ctx.Err())
				}
			}
			if !ok {
				c.cur = nil
				if n > 0 {
					return n, nil
				}
				return 0, c.inErr
			}
		}
		k := copy(p[n:], c.cur.b[c.cur.off:c.cur.n])
		c.cur.off += k
		n += k
		if c.cur.off == c.cur.n {
			chunkPool.Put(c.cur)
			c.cur = nil
		}
	}
	return n, nil
}

var _ connSource = (*client)(nil)
