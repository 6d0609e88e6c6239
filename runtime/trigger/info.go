package trigger

import (
	"bytes"
	"context"
	"io"
	"net/netip"
	"sync"
	"time"

	"github.com/netrun/netrun/runtime/event"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
)

// readSize is the size of the broker's reads of a held stream socket.
const readSize = 16 << 10

// SocketActivityInformation is WinRT's SocketActivityInformation: a socket
// the broker holds for a task. Its socket accessors reclaim the socket:
// the first call that matches SocketKind hands it back and removes it from
// the broker; every later call fails with E_ILLEGAL_METHOD_CALL, as does
// an accessor of another kind.
type SocketActivityInformation struct {
	// immutable after TransferOwnership
	b         *Broker
	id        string
	taskID    string
	kind      SocketActivityKind
	context   []byte
	keepAlive time.Duration
	stream    *sockets.StreamSocket
	listener  *sockets.StreamSocketListener
	dgram     *sockets.DatagramSocket
	ka        timerEntry // the keep-alive timer; its schedule is the scheduler's

	// guarded by b.mu
	reclaimed bool
	queued    bool  // in b.queue
	pending   uint8 // reasons to raise, as 1<<reason

	mu       sync.Mutex // guards the fields below
	work     uint8      // workNew, workRunning or workStopped
	cancel   context.CancelFunc
	done     chan struct{} // closed when the stream reader returned
	buf      []byte        // stream: bytes read, in order
	eof      bool
	readErr  error
	conns    []*sockets.StreamSocket // listener: accepted connections, in order
	dgrams   []Datagram              // datagram socket: received datagrams, in order
	dropped  int                     // datagrams dropped at the bound
	token    event.Token
	hasToken bool
}

const (
	workNew uint8 = iota
	workRunning
	workStopped
)

// Datagram is a datagram the broker received for a held DatagramSocket.
type Datagram struct {
	// Remote is the sender.
	Remote netip.AddrPort
	// Local is the address it arrived on; zero if unknown.
	Local netip.Addr
	// Data is the payload, the caller's to keep.
	Data []byte
}

// Id returns the socket id given to TransferOwnership.
func (h *SocketActivityInformation) Id() string { return h.id }

// TaskId returns the task the socket was enabled for. WinRT's is a Guid;
// netrun's is the task's name (a script's file name without .lua, a
// plugin's name).
func (h *SocketActivityInformation) TaskId() string { return h.taskID }

// SocketKind returns the kind of the socket.
func (h *SocketActivityInformation) SocketKind() SocketActivityKind { return h.kind }

// Context returns SocketActivityContext.Data: the bytes given to
// TransferOwnership. The slice must not be written to.
func (h *SocketActivityInformation) Context() []byte { return h.context }

// Buffered returns how many bytes the broker read from a held stream
// socket, or the datagrams or connections it holds (a netrun extension).
func (h *SocketActivityInformation) Buffered() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.buf) + len(h.dgrams) + len(h.conns)
}

// StreamSocket reclaims a held StreamSocket. The bytes the broker read
// meanwhile are put back in front of the connection's (see
// sockets.InputStream.Unread), so the next reads return them first, in
// order; after end of stream or a failure the reads then report that
// again.
func (h *SocketActivityInformation) StreamSocket() (*sockets.StreamSocket, error) {
	const op = "SocketActivityInformation.StreamSocket"
	if err := h.reclaim(op, KindStreamSocket); err != nil {
		return nil, err
	}
	h.mu.Lock()
	buf := h.buf
	h.buf = nil
	h.mu.Unlock()
	if err := h.stream.InputStream().Unread(context.Background(), buf); err != nil {
		h.b.log.Warn("reclaimed a stream socket that closed meanwhile; its buffered bytes are lost",
			"socket_id", h.id, "task", h.taskID, "bytes", len(buf), "err", err)
	}
	return h.stream, nil
}

// StreamSocketListener reclaims a held listener, with the connections it
// accepted meanwhile, oldest first, which the caller now owns and should
// raise as its ConnectionReceived before the listener's next ones. The
// listener has no ConnectionReceived handler: connections wait in the
// backlog until the caller adds one.
func (h *SocketActivityInformation) StreamSocketListener() (*sockets.StreamSocketListener, []*sockets.StreamSocket, error) {
	const op = "SocketActivityInformation.StreamSocketListener"
	if err := h.reclaim(op, KindStreamSocketListener); err != nil {
		return nil, nil, err
	}
	h.mu.Lock()
	conns := h.conns
	h.conns = nil
	h.mu.Unlock()
	return h.listener, conns, nil
}

// DatagramSocket reclaims a held DatagramSocket, with the datagrams it
// received meanwhile, oldest first, which the caller should handle before
// the socket's next ones. The socket has no MessageReceived handler:
// datagrams wait in the kernel until the caller adds one. A datagram that
// arrives in the instant of the reclaim may be dropped, as UDP allows.
func (h *SocketActivityInformation) DatagramSocket() (*sockets.DatagramSocket, []Datagram, error) {
	const op = "SocketActivityInformation.DatagramSocket"
	if err := h.reclaim(op, KindDatagramSocket); err != nil {
		return nil, nil, err
	}
	h.mu.Lock()
	d := h.dgrams
	h.dgrams = nil
	h.mu.Unlock()
	return h.dgram, d, nil
}

// reclaim takes h from the broker for an accessor of kind and stops the
// broker's work on it.
func (h *SocketActivityInformation) reclaim(op string, kind SocketActivityKind) error {
	if h.kind != kind {
		return socketerror.IllegalCall(op, "the socket %q is a %s, not a %s", h.id, h.kind, kind)
	}
	b := h.b
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if !b.take(h) {
		if closed {
			return socketerror.Closed(op)
		}
		return socketerror.IllegalCall(op, "the socket %q was reclaimed already", h.id)
	}
	h.stopWork()
	return nil
}

// start begins the broker's work on a newly held socket.
func (h *SocketActivityInformation) start() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.work != workNew {
		return
	}
	h.work = workRunning
	switch h.kind {
	case KindStreamSocket:
		ctx, cancel := context.WithCancel(context.Background())
		h.cancel, h.done = cancel, make(chan struct{})
		h.b.goFunc(func() { h.read(ctx) })
	case KindStreamSocketListener:
		ev := h.listener.ConnectionReceived()
		ev.Clear()
		h.token, h.hasToken = ev.Add(h.accepted), true
	case KindDatagramSocket:
		ev := h.dgram.MessageReceived()
		ev.Clear()
		h.token, h.hasToken = ev.Add(h.received), true
	}
	if h.keepAlive > 0 {
		h.touch()
	}
}

// stopWork ends the broker's work on h, once it has been taken: it
// returns when nothing of the broker reads or adds to h any more.
func (h *SocketActivityInformation) stopWork() {
	h.b.sched.cancel(&h.ka)
	h.mu.Lock()
	prev := h.work
	h.work = workStopped
	tok, has := h.token, h.hasToken
	h.hasToken = false
	h.mu.Unlock()
	if prev != workRunning {
		return
	}
	switch h.kind {
	case KindStreamSocket:
		h.cancel()
		<-h.done
	case KindStreamSocketListener:
		if has {
			h.listener.ConnectionReceived().Remove(tok)
		}
		// A handler call in flight finishes adding its connection.
		h.listener.CancelIO(context.Background())
	case KindDatagramSocket:
		if has {
			h.dgram.MessageReceived().Remove(tok)
		}
	}
}

// closeHeld closes a taken socket and what it holds, for Broker.Close.
func (h *SocketActivityInformation) closeHeld() {
	h.stopWork()
	switch h.kind {
	case KindStreamSocket:
		h.stream.Close()
	case KindStreamSocketListener:
		h.listener.Close()
	case KindDatagramSocket:
		h.dgram.Close()
	}
	h.mu.Lock()
	conns := h.conns
	h.conns, h.buf, h.dgrams = nil, nil, nil
	h.mu.Unlock()
	for _, s := range conns {
		s.Close()
	}
}

// read reads a held stream socket into h.buf until the stream ends or
// fails, the bound is reached, or stopWork cancels ctx.
func (h *SocketActivityInformation) read(ctx context.Context) {
	defer close(h.done)
	b := h.b
	for {
		h.mu.Lock()
		full := len(h.buf) >= b.maxBuf
		h.mu.Unlock()
		if full {
			b.log.Debug("held stream socket reached its buffer bound; reading stops until it is reclaimed",
				"socket_id", h.id, "task", h.taskID, "bytes", b.maxBuf)
			<-ctx.Done()
			return
		}
		buf, err := h.stream.InputStream().ReadBuffer(ctx, readSize, sockets.Partial)
		if buf == nil && ctx.Err() != nil {
			return
		}
		h.mu.Lock()
		if buf != nil {
			h.buf = append(h.buf, buf.Bytes()...)
			buf.Release()
		}
		ended := err != nil
		if err == io.EOF {
			h.eof = true
		} else if err != nil {
			h.readErr = err
		}
		h.mu.Unlock()
		if buf != nil {
			b.notify(h, SocketActivity)
			h.touch()
		}
		if ended {
			b.notify(h, SocketClosed)
			return
		}
	}
}

// accepted is the held listener's ConnectionReceived handler.
func (h *SocketActivityInformation) accepted(a *sockets.ConnectionReceivedEventArgs) {
	// A call in flight when the listener is reclaimed still adds its
	// connection: stopWork waits for it before the reclaim reads conns.
	h.mu.Lock()
	h.conns = append(h.conns, a.Socket)
	if len(h.conns) >= h.b.maxConns && h.hasToken {
		// Stop accepting: later connections wait in the backlog.
		h.listener.ConnectionReceived().Remove(h.token)
		h.hasToken = false
	}
	h.mu.Unlock()
	h.b.notify(h, ConnectionAccepted)
}

// received is the held datagram socket's MessageReceived handler.
func (h *SocketActivityInformation) received(a *sockets.DatagramSocketMessageReceivedEventArgs) {
	h.mu.Lock()
	if h.work != workRunning {
		h.mu.Unlock()
		return
	}
	if len(h.dgrams) >= h.b.maxDgrams {
		h.dropped++
		if h.dropped == 1 || h.dropped%1000 == 0 {
			h.b.log.Warn("held datagram socket is full; dropping datagrams", "socket_id", h.id, "task", h.taskID, "dropped", h.dropped)
		}
		h.mu.Unlock()
		return
	}
	h.dgrams = append(h.dgrams, Datagram{Remote: a.RemoteAddrPort(), Local: a.LocalAddr(), Data: bytes.Clone(a.Data())})
	h.mu.Unlock()
	h.b.notify(h, SocketActivity)
	h.touch()
}

// touch restarts the keep-alive timer: the socket was active.
func (h *SocketActivityInformation) touch() {
	if h.keepAlive <= 0 {
		return
	}
	b := h.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if !h.reclaimed {
		b.sched.schedule(&h.ka, b.clock.Now().Add(h.keepAlive))
	}
}

// keepAliveExpired runs on the scheduler when the socket was quiet for
// its keep-alive time.
func (h *SocketActivityInformation) keepAliveExpired(_, now time.Time) {
	b := h.b
	b.notify(h, KeepAliveTimerExpired)
	b.mu.Lock()
	defer b.mu.Unlock()
	if !h.reclaimed {
		b.sched.schedule(&h.ka, now.Add(h.keepAlive))
	}
}

// Args returns the datagram as the args of a MessageReceived event, for
// owners that raise held datagrams through their usual handlers.
func (d Datagram) Args() *sockets.DatagramSocketMessageReceivedEventArgs {
	return sockets.NewDatagramSocketMessageReceivedEventArgs(d.Remote, d.Local, d.Data)
}
