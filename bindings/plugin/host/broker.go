package host

import (
	"context"
	"io"

	"sync"

	"github.com/netrun/netrun/bindings/plugin/proto/pluginv1"
	"github.com/netrun/netrun/runtime/sockets"
)

// maxHeldDatagrams bounds the datagrams kept per parked datagram socket;
// later ones are dropped, as a full receive buffer would drop them.
const maxHeldDatagrams = 1024

// brokerReadSize is the size of the broker's reads of a parked stream.
const brokerReadSize = 16 << 10

// broker keeps the sockets a plugin transferred while no instance of it
// has them: between a crash (or exit) and the next instance's Reclaim. It
// is the minimal form of DESIGN.md's socket broker, kept to one file so
// that it can move to runtime/trigger when that lands:
//
//   - a stream socket is read on, and what arrives is buffered (after the
//     bytes the last instance was given and had not acknowledged), up to
//     Options.MaxBuffered, past which TCP's flow control holds the peer;
//     end of stream and errors are kept too;
//   - a listener accepts and holds its connections;
//   - a datagram socket holds up to 1,024 datagrams.
//
// Reclaim hands a socket back with all of that in order: buffered bytes
// are what the next reads return, held connections and datagrams are the
// first events. Activity on a held socket wakes a lazy plugin.
type broker struct {
	sv       *supervisor
	activity chan struct{} // capacity 1: something arrived on a held socket

	mu     sync.Mutex // after hsocket.mu in no path: taken alone
	parked map[uint64]*parked
}

// parked is one held socket and the broker's work on it.
type parked struct {
	hs     *hsocket
	cancel context.CancelFunc // stops the reader
	done   chan struct{}      // closed when the reader has returned
}

func newBroker(sv *supervisor) *broker {
	return &broker{sv: sv, activity: make(chan struct{}, 1), parked: map[uint64]*parked{}}
}

// park takes hs from an instance that ended.
func (b *broker) park(hs *hsocket) {
	hs.mu.Lock()
	hs.owner = nil
	if hs.curRead != nil {
		hs.curCancel()
	}
	readDone := hs.readDone
	hs.mu.Unlock()
	hs.wakeReader()
	if readDone != nil {
		<-readDone // the read in progress, if any, has counted its bytes
	}
	hs.mu.Lock()
	hs.reads = nil
	if len(hs.retained) > 0 {
		hs.buffered = append(hs.retained, hs.buffered...)
	}
	// The next owner counts its bytes from zero.
	hs.retained, hs.delivered, hs.acked, hs.windowFull = nil, 0, 0, false
	tok, has := hs.token, hs.hasToken
	hs.hasToken = false
	hs.mu.Unlock()

	ctx, cancel := context.WithCancel(context.Background())
	p := &parked{hs: hs, cancel: cancel, done: make(chan struct{})}
	switch {
	case hs.listener != nil:
		if has {
			hs.listener.ConnectionReceived().Remove(tok)
		}
		hs.mu.Lock()
		hs.token, hs.hasToken = hs.listener.ConnectionReceived().Add(func(a *sockets.ConnectionReceivedEventArgs) {
			hs.mu.Lock()
			hs.pending = append(hs.pending, a.Socket)
			hs.mu.Unlock()
			b.signal()
		}), true
		hs.mu.Unlock()
		close(p.done)
	case hs.dgram != nil:
		if has {
			hs.dgram.MessageReceived().Remove(tok)
		}
		hs.mu.Lock()
		hs.token, hs.hasToken = hs.dgram.MessageReceived().Add(func(a *sockets.DatagramSocketMessageReceivedEventArgs) {
			hs.mu.Lock()
			if len(hs.datagrams) < maxHeldDatagrams {
				hs.datagrams = append(hs.datagrams, messageEvent(hs.id, a))
			}
			hs.mu.Unlock()
			b.signal()
		}), true
		hs.mu.Unlock()
		close(p.done)
	default:
		b.sv.goFunc(func() { b.read(ctx, p) })
	}
	b.mu.Lock()
	b.parked[hs.id] = p
	b.mu.Unlock()
	hs.mu.Lock()
	active := len(hs.buffered) > 0 || len(hs.pending) > 0 || len(hs.datagrams) > 0
	hs.mu.Unlock()
	if active {
		b.signal()
	}
}

// read reads a parked stream socket into its buffer until the buffer is
// full, the stream ends or fails, or take stops it.
func (b *broker) read(ctx context.Context, p *parked) {
	defer close(p.done)
	hs := p.hs
	for {
		hs.mu.Lock()
		full := len(hs.buffered) >= b.sv.r.opts.MaxBuffered
		stop := hs.eof || hs.readErr != nil || hs.closed
		hs.mu.Unlock()
		if stop {
			return
		}
		if full {
			<-ctx.Done()
			return
		}
		buf, err := hs.stream.InputStream().ReadBuffer(ctx, brokerReadSize, sockets.Partial)
		if ctx.Err() != nil && buf == nil {
			return
		}
		hs.mu.Lock()
		if buf != nil {
			hs.buffered = append(hs.buffered, buf.Bytes()...)
			buf.Release()
		}
		switch {
		case err == io.EOF:
			hs.eof = true
		case err != nil && ctx.Err() == nil:
			hs.readErr = err
		}
		hs.mu.Unlock()
		b.signal()
	}
}

func (b *broker) signal() {
	select {
	case b.activity <- struct{}{}:
	default:
	}
}

// take removes socket id from the broker for an instance's Reclaim, once
// the broker's own work on it has stopped; nil if it holds no such
// socket.
func (b *broker) take(id uint64) *hsocket {
	b.mu.Lock()
	p := b.parked[id]
	delete(b.parked, id)
	b.mu.Unlock()
	if p == nil {
		return nil
	}
	p.cancel()
	<-p.done
	hs := p.hs
	hs.mu.Lock()
	tok, has := hs.token, hs.hasToken
	hs.hasToken = false
	hs.mu.Unlock()
	if has {
		switch {
		case hs.listener != nil:
			hs.listener.ConnectionReceived().Remove(tok)
		case hs.dgram != nil:
			hs.dgram.MessageReceived().Remove(tok)
		}
	}
	return hs
}

// list describes the held sockets for Hello.
func (b *broker) list() []*pluginv1.TransferredSocket {
	b.mu.Lock()
	ps := make([]*parked, 0, len(b.parked))
	for _, p := range b.parked {
		ps = append(ps, p)
	}
	b.mu.Unlock()
	out := make([]*pluginv1.TransferredSocket, 0, len(ps))
	for _, p := range ps {
		hs := p.hs
		hs.mu.Lock()
		t := &pluginv1.TransferredSocket{Socket: hs.id, Kind: hs.kind, Context: hs.context, Buffered: uint64(len(hs.buffered))}
		hs.mu.Unlock()
		t.Info = hs.info()
		out = append(out, t)
	}
	return out
}

// count is how many sockets the broker holds.
func (b *broker) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.parked)
}

// holds reports whether the broker holds any socket.
func (b *broker) holds() bool { return b.count() > 0 }

// waitActivity waits until a held socket has activity; it reports false
// if ctx ended first.
func (b *broker) waitActivity(ctx context.Context) bool {
	return b.waitActivityOr(ctx, func() bool { return false })
}

// waitActivityOr is waitActivity that also returns once other, checked
// after each signal, reports true.
func (b *broker) waitActivityOr(ctx context.Context, other func() bool) bool {
	for {
		if other() {
			return true
		}
		b.mu.Lock()
		active := false
		for _, p := range b.parked {
			p.hs.mu.Lock()
			if len(p.hs.buffered) > 0 || p.hs.eof || p.hs.readErr != nil || len(p.hs.pending) > 0 || len(p.hs.datagrams) > 0 {
				active = true
			}
			p.hs.mu.Unlock()
		}
		b.mu.Unlock()
		if active {
			return true
		}
		select {
		case <-b.activity:
		case <-ctx.Done():
			return false
		}
	}
}

// closeAll closes every held socket: the host is stopping.
func (b *broker) closeAll() {
	b.mu.Lock()
	ps := b.parked
	b.parked = map[uint64]*parked{}
	b.mu.Unlock()
	for _, p := range ps {
		p.cancel()
		<-p.done
		p.hs.closeNow()
	}
}
