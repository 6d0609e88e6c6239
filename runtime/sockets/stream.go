package sockets

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/netrun/netrun/internal/fifo"
	"github.com/netrun/netrun/runtime/socketerror"
)

// InputStream is the reading side of a StreamSocket: WinRT's IInputStream.
type InputStream struct{ s *StreamSocket }

// OutputStream is the writing side of a StreamSocket: WinRT's
// IOutputStream.
type OutputStream struct{ s *StreamSocket }

// Read reads into p. With Partial (or ReadAhead) it returns as soon as any
// bytes have arrived; with InputStreamNone it fills p unless the stream
// ends first. At end of stream it returns the bytes read so far and, if
// none, io.EOF (WinRT's zero-length read).
//
// Reads are served one at a time, in the order issued. See [StreamSocket]
// for what a context that ends does.
func (in *InputStream) Read(ctx context.Context, p []byte, opts InputStreamOptions) (int, error) {
	const op = "StreamSocket.InputStream.Read"
	if len(p) == 0 {
		return 0, nil
	}
	s := in.s
	conn, tc, gen, err := s.begin(ctx, op, &s.readLock)
	if err != nil {
		return 0, err
	}
	defer s.readLock.Unlock()
	n := 0
	if len(s.unread) > 0 {
		n = s.takeUnread(p)
		if opts != InputStreamNone || n == len(p) {
			return n, nil
		}
	}
	stop := s.watch(ctx, conn, false)
	for n < len(p) {
		var m int
		if tc {
			m, err = conn.Read(p[n:])
		} else {
			m, err = s.rawRead(p[n:])
		}
		n += m
		if err != nil || opts != InputStreamNone {
			break
		}
	}
	stop(gen)
	if err == io.EOF && n > 0 {
		err = nil
	}
	if err != nil && err != io.EOF {
		err = s.ioError(ctx, op, gen, err)
	}
	return n, err
}

// ReadBuffer reads up to count bytes, as Read does, into a buffer borrowed
// from a pool. With Partial on a plain TCP connection the buffer is taken
// only once bytes are there to read, so an idle connection waiting in
// ReadBuffer holds no buffer. A Partial read returns at most 16 KiB, the
// pooled buffer's size, however large count is. The caller must Release
// the buffer. At end of stream it returns nil and io.EOF.
func (in *InputStream) ReadBuffer(ctx context.Context, count int, opts InputStreamOptions) (*Buffer, error) {
	const op = "StreamSocket.InputStream.ReadBuffer"
	if count <= 0 {
		return nil, socketerror.InvalidArg(op, "count", "must be positive, got %d", count)
	}
	s := in.s
	if opts == InputStreamNone {
		b := getBuffer(count)
		n, err := in.Read(ctx, b.b, InputStreamNone)
		if n == 0 {
			b.Release()
			return nil, err
		}
		b.b = b.b[:n]
		return b, err
	}
	conn, tc, gen, err := s.begin(ctx, op, &s.readLock)
	if err != nil {
		return nil, err
	}
	defer s.readLock.Unlock()
	if b := s.unreadBuffer(count); b != nil {
		return b, nil
	}
	stop := s.watch(ctx, conn, false)
	var b *Buffer
	if tc {
		b = getBuffer(min(count, bufferSize))
		var n int
		n, err = conn.Read(b.b)
		b.b = b.b[:n]
	} else {
		b, err = s.rawReadBuffer(min(count, bufferSize))
	}
	stop(gen)
	if b != nil && len(b.b) == 0 {
		b.Release()
		b = nil
	}
	if err != nil && err != io.EOF {
		err = s.ioError(ctx, op, gen, err)
	}
	if b == nil && err == nil {
		err = io.EOF
	}
	return b, err
}

// Write writes all of p, after every write issued before it. It returns
// the number of bytes written, which is len(p) unless err is set.
func (out *OutputStream) Write(ctx context.Context, p []byte) (int, error) {
	const op = "StreamSocket.OutputStream.Write"
	s := out.s
	conn, _, gen, err := s.begin(ctx, op, &s.writeLock)
	if err != nil {
		return 0, err
	}
	defer s.writeLock.Unlock()
	stop := s.watch(ctx, conn, true)
	n, err := conn.Write(p)
	stop(gen)
	if err != nil {
		err = s.ioError(ctx, op, gen, err)
	}
	return n, err
}

// TryWrite writes as much of p as the kernel accepts at once, without
// blocking, and reports how much it wrote and whether that was all of p.
// It writes nothing, and returns (0, false, nil), when another write is
// queued or in progress, or on a TLS connection; the caller then writes
// the rest with Write. Bindings use it to complete a write without handing
// it to another goroutine.
func (out *OutputStream) TryWrite(p []byte) (int, bool, error) {
	const op = "StreamSocket.OutputStream.TryWrite"
	s := out.s
	if len(p) == 0 {
		return 0, true, nil
	}
	if !s.writeLock.TryLock() {
		return 0, false, nil
	}
	defer s.writeLock.Unlock()
	gen := s.cancelGen.Load()
	_, tc, err := s.ioConn(op, gen)
	if err != nil {
		return 0, false, err
	}
	if tc {
		return 0, false, nil
	}
	s.wr.p, s.wr.n, s.wr.err = p, 0, nil
	if err := s.raw.Write(s.wr.fn); err != nil {
		s.wr.p = nil
		return 0, false, s.ioError(context.Background(), op, gen, err)
	}
	n, werr := s.wr.n, s.wr.err
	s.wr.p = nil
	if werr != nil {
		return n, false, s.ioError(context.Background(), op, gen, werr)
	}
	return n, n == len(p), nil
}

// rawWriteFD makes one non-blocking write attempt for TryWrite.
func (s *StreamSocket) rawWriteFD(fd uintptr) bool {
	for {
		n, err := syscall.Write(int(fd), s.wr.p)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			s.wr.n = 0
		case err != nil:
			s.wr.err = err
		default:
			s.wr.n = n
		}
		return true
	}
}

// Flush returns once every write issued before it has completed: WinRT's
// FlushAsync. netrun keeps no write buffer of its own, so there is nothing
// else to push.
func (out *OutputStream) Flush(ctx context.Context) error {
	const op = "StreamSocket.OutputStream.Flush"
	s := out.s
	if err := s.writeLock.Lock(ctx); err != nil {
		return ctxError(ctx, op, "", err)
	}
	defer s.writeLock.Unlock()
	_, _, err := s.ioConn(op, s.cancelGen.Load())
	return err
}

// begin starts a read or a write: it notes the CancelIO generation, takes
// its turn on l, and returns the connection as ioConn does. On error l is
// not held; otherwise the caller must unlock it.
func (s *StreamSocket) begin(ctx context.Context, op string, l *fifo.Lock) (net.Conn, bool, uint64, error) {
	gen := s.cancelGen.Load()
	if err := l.Lock(ctx); err != nil {
		return nil, false, gen, ctxError(ctx, op, "", err)
	}
	conn, tc, err := s.ioConn(op, gen)
	if err != nil {
		l.Unlock()
		return nil, false, gen, err
	}
	return conn, tc, gen, nil
}

// ioConn returns the connection for an operation that was issued at
// cancel generation gen and now holds its stream lock, and whether it is
// TLS. It fails if the socket is not connected, is closing, or CancelIO
// ran since the operation was issued.
func (s *StreamSocket) ioConn(op string, gen uint64) (net.Conn, bool, error) {
	s.mu.Lock()
	conn, st, tc := s.conn, s.state, s.tlsConn != nil
	s.mu.Unlock()
	switch {
	case st == stateClosed || s.closing.Load():
		return nil, false, socketerror.Closed(op)
	case conn == nil:
		return nil, false, socketerror.IllegalCall(op, "the socket is not connected")
	case s.cancelGen.Load() != gen:
		return nil, false, socketerror.WithStatus(op, "", socketerror.OperationAborted, context.Canceled)
	}
	return conn, tc, nil
}

// watch arranges for ctx's end to interrupt the operation by setting a
// deadline in the past, and returns the function that disarms it. The
// disarm clears that deadline again, unless CancelIO has run since gen (it
// owns the deadline then). A context that cannot end costs nothing.
func (s *StreamSocket) watch(ctx context.Context, conn net.Conn, write bool) func(gen uint64) {
	if ctx.Done() == nil {
		return noStop
	}
	setDeadline := conn.SetReadDeadline
	if write {
		setDeadline = conn.SetWriteDeadline
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		setDeadline(aLongTimeAgo)
		close(fired)
	})
	return func(gen uint64) {
		if stop() {
			return
		}
		<-fired
		if s.cancelGen.Load() == gen && !s.closing.Load() {
			setDeadline(time.Time{})
		}
	}
}

func noStop(uint64) {}

// ioError classifies a read or write failure: a Close or CancelIO in
// progress, or the caller's context, say more than the deadline error
// they caused.
func (s *StreamSocket) ioError(ctx context.Context, op string, gen uint64, err error) error {
	switch {
	case s.closing.Load(), s.cancelGen.Load() != gen:
		return socketerror.WithStatus(op, "", socketerror.OperationAborted, err)
	case ctx.Err() != nil:
		return ctxError(ctx, op, "", err)
	}
	return socketerror.New(op, s.info.remoteString(), err)
}

// ErrIdle is returned by ReadBufferIdle when no byte arrived within the
// idle time: nothing was read and the connection is as it was.
var ErrIdle = errors.New("sockets: no data within the idle time")

// ReadBufferIdle is ReadBuffer with Partial, except that it gives up with
// ErrIdle if no byte arrives within idle. Bindings use it to notice that a
// connection has gone quiet and hand it to a poller rather than keep a
// goroutine waiting. It has no context: CancelIO and Close end it. On a
// TLS connection it waits without the idle limit.
func (in *InputStream) ReadBufferIdle(count int, idle time.Duration) (*Buffer, error) {
	const op = "StreamSocket.InputStream.ReadBuffer"
	if count <= 0 {
		return nil, socketerror.InvalidArg(op, "count", "must be positive, got %d", count)
	}
	s := in.s
	ctx := context.Background()
	s.mu.Lock()
	tc := s.tlsConn != nil
	s.mu.Unlock()
	if tc {
		return in.ReadBuffer(ctx, count, Partial)
	}
	conn, _, gen, err := s.begin(ctx, op, &s.readLock)
	if err != nil {
		return nil, err
	}
	defer s.readLock.Unlock()
	if b := s.unreadBuffer(count); b != nil {
		return b, nil
	}
	conn.SetReadDeadline(time.Now().Add(idle))
	b, err := s.rawReadBuffer(min(count, bufferSize))
	if s.cancelGen.Load() == gen && !s.closing.Load() {
		conn.SetReadDeadline(time.Time{})
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, ErrIdle
		}
	}
	if b != nil && len(b.b) == 0 {
		b.Release()
		b = nil
	}
	if err != nil && err != io.EOF {
		err = s.ioError(ctx, op, gen, err)
	}
	if b == nil && err == nil {
		err = io.EOF
	}
	return b, err
}

// rawRead reads into p straight from the descriptor, waiting in the
// runtime's poller; it returns io.EOF at end of stream.
func (s *StreamSocket) rawRead(p []byte) (int, error) {
	s.rd.p, s.rd.n, s.rd.err = p, 0, nil
	if err := s.raw.Read(s.rd.fn); err != nil {
		return 0, err
	}
	n, err := s.rd.n, s.rd.err
	s.rd.p = nil
	return n, err
}

// rawReadBuffer is rawRead into a pooled buffer that is borrowed only
// once the descriptor is readable.
func (s *StreamSocket) rawReadBuffer(count int) (*Buffer, error) {
	s.rd.p, s.rd.n, s.rd.err, s.rd.borrow = nil, count, nil, true
	err := s.raw.Read(s.rd.fn)
	b := s.rd.buf
	s.rd.buf, s.rd.borrow = nil, false
	if err != nil {
		b.Release()
		return nil, err
	}
	if s.rd.err != nil {
		b.Release()
		return nil, s.rd.err
	}
	return b, nil
}

// rawReadFD is the function syscall.RawConn.Read calls with the descriptor:
// it reports false to wait for readability, true when done.
func (s *StreamSocket) rawReadFD(fd uintptr) bool {
	p := s.rd.p
	var b *Buffer
	if s.rd.borrow {
		b = getBuffer(s.rd.n)
		p = b.b
	}
	var n int
	var err error
	for {
		n, err = syscall.Read(int(fd), p)
		if err != syscall.EINTR {
			break
		}
	}
	if err == syscall.EAGAIN {
		b.Release()
		return false
	}
	switch {
	case err != nil:
		s.rd.n, s.rd.err = 0, err
		n = 0
	case n == 0:
		s.rd.n, s.rd.err = 0, io.EOF
	default:
		s.rd.n = n
	}
	if b != nil {
		b.b = b.b[:n]
		s.rd.buf = b
	}
	return true
}
