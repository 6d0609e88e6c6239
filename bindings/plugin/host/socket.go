package host

import (
	"context"
	"io"
	"net/netip"
	"sync"
	"time"

	"github.com/netrun/netrun/bindings/plugin/proto/pluginv1"
	"github.com/netrun/netrun/runtime/event"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
)

// maxDestinations bounds a datagram socket's cache of output streams.
const maxDestinations = 256

// hsocket is one of a plugin's sockets in the host: a runtime object, the
// plugin's queued operations on it, and what the broker needs to keep it
// across the plugin's restarts.
type hsocket struct {
	// immutable after creation
	id       uint64
	kind     pluginv1.SocketKind
	stream   *sockets.StreamSocket
	listener *sockets.StreamSocketListener
	dgram    *sockets.DatagramSocket
	ws       *wsocket // a WebSocket (kinds MESSAGE_WEB_SOCKET, STREAM_WEB_SOCKET)

	mu          sync.Mutex // guards the fields below
	owner       *instance  // the instance it belongs to; nil while the broker has it
	token       event.Token
	hasToken    bool
	closed      bool
	transferred bool
	context     []byte
	reads       []*readReq         // queued, not started
	reading     bool               // a read worker runs
	readDone    chan struct{}      // closed when the running read worker returns
	readWake    chan struct{}      // capacity 1: the read worker has something to look at
	curRead     *readReq           // the read in progress
	curCancel   context.CancelFunc // cancels curRead
	writes      []*writeReq
	writing     bool
	writeErr    error // a quiet write's failure, for the next write or flush
	curWrite    *writeReq
	outs        map[string]*sockets.DatagramOutputStream // by "host\x00service"

	// Transfer accounting for stream sockets. delivered counts the bytes
	// given to the owner since it got the socket; retained holds the last
	// of them that it has not acknowledged (only while transferred), and
	// buffered the bytes the broker read, which come before any new read.
	delivered  uint64
	acked      uint64 // the highest consumed count the owner has sent
	windowFull bool   // a continuous read waits for an ack
	retained   []byte
	buffered   []byte
	eof        bool
	readErr    error
	pending    []*sockets.StreamSocket // a parked listener's connections
	datagrams  []*pluginv1.MessageReceived
}

// readReq is a queued StreamRead.
type readReq struct {
	op         *op
	count      int
	opts       sockets.InputStreamOptions
	inst       *instance
	timeout    time.Duration // 0: none
	continuous bool
	window     uint64 // for a continuous read
}

// writeReq is a queued StreamWrite or StreamFlush (data nil, flush set);
// op is nil for a quiet write.
type writeReq struct {
	op      *op
	ctx     context.Context
	data    []byte
	written int
	flush   bool
	inst    *instance
}

func (hs *hsocket) isTransferred() bool {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return hs.transferred
}

// info describes the socket for SocketCreated and Hello.
func (hs *hsocket) info() *pluginv1.SocketInfo {
	switch {
	case hs.stream != nil:
		in := hs.stream.Information()
		info := &pluginv1.SocketInfo{LocalAddress: hostString(in.LocalAddress()), LocalPort: in.LocalPort(),
			RemoteAddress: hostString(in.RemoteAddress()), RemotePort: in.RemotePort(),
			ProtectionLevel: int32(in.ProtectionLevel()), ServerCertificateErrorSeverity: int32(in.ServerCertificateErrorSeverity())}
		for _, r := range in.ServerCertificateErrors() {
			info.ServerCertificateErrors = append(info.ServerCertificateErrors, int32(r))
		}
		return info
	case hs.listener != nil:
		info := &pluginv1.SocketInfo{LocalPort: hs.listener.Information().LocalPort()}
		if addrs := hs.listener.Information().LocalAddrs(); len(addrs) > 0 {
			info.LocalAddress = addrs[0].Addr().Unmap().String()
		}
		return info
	case hs.dgram != nil:
		in := hs.dgram.Information()
		return &pluginv1.SocketInfo{LocalAddress: hostString(in.LocalAddress()), LocalPort: in.LocalPort(),
			RemoteAddress: hostString(in.RemoteAddress()), RemotePort: in.RemotePort()}
	case hs.ws != nil:
		return hs.ws.info()
	}
	return &pluginv1.SocketInfo{}
}

// hostString is h's text, or "" for nil.
func hostString(h interface{ String() string }) string {
	if h == nil {
		return ""
	}
	s := h.String()
	if s == "<nil>" {
		return ""
	}
	return s
}

// ackLocked drops the retained bytes the owner has acknowledged: consumed
// is how many bytes of the stream it has taken since it got the socket.
func (hs *hsocket) ackLocked(consumed uint64) {
	if consumed > hs.acked {
		hs.acked = consumed
		if hs.windowFull {
			hs.windowFull = false
			hs.wakeReader()
		}
	}
	if len(hs.retained) == 0 {
		return
	}
	start := hs.delivered - uint64(len(hs.retained))
	if consumed <= start {
		return
	}
	drop := min(consumed-start, uint64(len(hs.retained)))
	hs.retained = hs.retained[drop:]
	if len(hs.retained) == 0 {
		hs.retained = nil
	}
}

// deliverLocked counts data as given to the owner, keeping it until
// acknowledged if the socket is transferred.
func (hs *hsocket) deliverLocked(data []byte) {
	hs.delivered += uint64(len(data))
	if hs.transferred {
		hs.retained = append(hs.retained, data...)
	}
}

// enqueueRead queues r, acknowledging consumed, and starts the socket's
// read worker if none runs.
func (hs *hsocket) enqueueRead(r *readReq, consumed uint64, sv *supervisor) {
	hs.mu.Lock()
	hs.ackLocked(consumed)
	hs.reads = append(hs.reads, r)
	start := !hs.reading
	var done chan struct{}
	if start {
		hs.reading = true
		done = make(chan struct{})
		hs.readDone = done
		if hs.readWake == nil {
			hs.readWake = make(chan struct{}, 1)
		}
	}
	hs.mu.Unlock()
	if start {
		sv.goFunc(func() { hs.readWorker(done) })
	} else {
		hs.wakeReader()
	}
}

func (hs *hsocket) wakeReader() {
	if hs.readWake == nil {
		return
	}
	select {
	case hs.readWake <- struct{}{}:
	default:
	}
}

// cancelRead cancels r: the read in progress, or a queued one.
func (hs *hsocket) cancelRead(r *readReq) {
	hs.mu.Lock()
	if hs.curRead == r {
		hs.curCancel()
		hs.mu.Unlock()
		return
	}
	for k, q := range hs.reads {
		if q == r {
			hs.reads = append(hs.reads[:k], hs.reads[k+1:]...)
			hs.mu.Unlock()
			hs.wakeReader() // it may wait on r's window
			r.inst.complete(r.op.id, errorResult(socketerror.WithStatus("StreamSocket.InputStream.Read", "", socketerror.OperationAborted, context.Canceled)))
			return
		}
	}
	hs.mu.Unlock()
}

// readWorker serves the socket's reads, in order, for as long as the
// socket is open and owned by an instance: one goroutine per socket that
// reads, as a raw Go server has. Its context lives across reads and is
// replaced only once cancelled.
func (hs *hsocket) readWorker(done chan struct{}) {
	defer close(done)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel() }()
	for {
		hs.mu.Lock()
		if hs.closed || hs.owner == nil {
			hs.reading = false
			reads := hs.reads
			hs.reads = nil
			hs.mu.Unlock()
			for _, r := range reads {
				r.inst.complete(r.op.id, errorResult(socketerror.Closed("StreamSocket.InputStream.Read")))
			}
			return
		}
		if len(hs.reads) == 0 {
			wake := hs.readWake
			hs.mu.Unlock()
			<-wake
			continue
		}
		r := hs.reads[0]
		if r.continuous && hs.delivered-min(hs.acked, hs.delivered) >= r.window {
			// The plugin has not taken what it was given: wait for an ack.
			hs.windowFull = true
			wake := hs.readWake
			hs.mu.Unlock()
			<-wake
			continue
		}
		hs.reads[0] = nil
		hs.reads = hs.reads[1:]
		if len(hs.buffered) > 0 || hs.eof || hs.readErr != nil {
			res := hs.takeBufferedLocked(r.count)
			if r.continuous && res.GetRead() != nil && len(res.GetRead().Data) > 0 {
				res.More = true
				hs.reads = append([]*readReq{r}, hs.reads...)
				hs.mu.Unlock()
				r.inst.postCompletion(r.op.id, res)
			} else {
				hs.mu.Unlock()
				r.inst.complete(r.op.id, res)
			}
			r.inst.drain()
			continue
		}
		if ctx.Err() != nil {
			ctx, cancel = context.WithCancel(context.Background())
		}
		rctx, rcancel := ctx, cancel
		if r.timeout > 0 {
			rctx, rcancel = context.WithTimeout(ctx, r.timeout)
		}
		hs.curRead, hs.curCancel = r, rcancel
		hs.mu.Unlock()

		data, eof, err := readOnce(rctx, hs.stream, r.count, r.opts)
		if r.timeout > 0 {
			rcancel()
		}

		hs.mu.Lock()
		hs.curRead, hs.curCancel = nil, nil
		if len(data) > 0 {
			hs.deliverLocked(data)
		}
		if r.continuous && len(data) > 0 && !eof && hs.owner != nil && !hs.closed {
			// Read again for the same op, before any read queued after it.
			hs.reads = append([]*readReq{r}, hs.reads...)
			hs.mu.Unlock()
			r.inst.post(readEvent(r.op.id, data, false, true))
			r.inst.drain()
			continue
		}
		hs.mu.Unlock()
		r.inst.endOp(r.op.id)
		switch {
		case len(data) > 0 || eof:
			r.inst.postCompletion(r.op.id, &pluginv1.Completion{Result: &pluginv1.Completion_Read{Read: &pluginv1.ReadResult{Data: data, Eof: eof && len(data) == 0}}})
		default:
			r.inst.postCompletion(r.op.id, errorResult(err))
		}
		r.inst.drain()
	}
}

// readEvent makes the event of a read completion in one allocation: the
// hot path of every stream a plugin reads.
func readEvent(op uint64, data []byte, eof, more bool) *pluginv1.Event {
	e := &struct {
		ev pluginv1.Event
		ec pluginv1.Event_Completion
		c  pluginv1.Completion
		cr pluginv1.Completion_Read
		rr pluginv1.ReadResult
	}{}
	e.rr.Data, e.rr.Eof = data, eof
	e.cr.Read = &e.rr
	e.c.Op, e.c.More, e.c.Result = op, more, &e.cr
	e.ec.Completion = &e.c
	e.ev.Event = &e.ec
	return &e.ev
}

// takeBufferedLocked serves a read from what the broker buffered.
func (hs *hsocket) takeBufferedLocked(count int) *pluginv1.Completion {
	if len(hs.buffered) > 0 {
		n := min(count, len(hs.buffered))
		data := append([]byte(nil), hs.buffered[:n]...)
		hs.buffered = hs.buffered[n:]
		if len(hs.buffered) == 0 {
			hs.buffered = nil
		}
		hs.deliverLocked(data)
		return &pluginv1.Completion{Result: &pluginv1.Completion_Read{Read: &pluginv1.ReadResult{Data: data}}}
	}
	if hs.readErr != nil {
		return errorResult(hs.readErr)
	}
	return &pluginv1.Completion{Result: &pluginv1.Completion_Read{Read: &pluginv1.ReadResult{Eof: true}}}
}

// readOnce reads up to count bytes from s: with Partial, as soon as any
// arrive, into a pooled buffer copied out; with None, until count.
func readOnce(ctx context.Context, s *sockets.StreamSocket, count int, opts sockets.InputStreamOptions) ([]byte, bool, error) {
	if opts == sockets.InputStreamNone {
		buf := make([]byte, count)
		n, err := s.InputStream().Read(ctx, buf, sockets.InputStreamNone)
		if err == io.EOF {
			return buf[:n], true, nil
		}
		return buf[:n], false, err
	}
	b, err := s.InputStream().ReadBuffer(ctx, count, sockets.Partial)
	if err == io.EOF {
		return nil, true, nil
	}
	if b == nil {
		return nil, false, err
	}
	data := append([]byte(nil), b.Bytes()...)
	b.Release()
	return data, false, err
}

// writeWorker serves the socket's queued writes and flushes, in order.
func (hs *hsocket) writeWorker() {
	for {
		hs.mu.Lock()
		if len(hs.writes) == 0 {
			hs.writing = false
			hs.mu.Unlock()
			return
		}
		w := hs.writes[0]
		hs.writes[0] = nil
		hs.writes = hs.writes[1:]
		hs.curWrite = w
		hs.mu.Unlock()

		hs.mu.Lock()
		werr := hs.writeErr
		hs.mu.Unlock()
		var res *pluginv1.Completion
		switch {
		case werr != nil:
			res = errorResult(werr)
		case w.flush:
			if err := hs.stream.OutputStream().Flush(w.ctx); err != nil {
				res = errorResult(err)
			} else {
				res = doneResult()
			}
		default:
			n, err := hs.stream.OutputStream().Write(w.ctx, w.data)
			w.written += n
			if err != nil {
				res = errorResult(err)
			} else {
				res = writtenResult(w.written)
			}
		}
		hs.mu.Lock()
		hs.curWrite = nil
		if w.op == nil && res.GetError() != nil && hs.writeErr == nil {
			hs.writeErr = errorFrom(res.GetError(), werr)
		}
		hs.mu.Unlock()
		if w.op == nil {
			continue
		}
		w.op.cancel()
		w.inst.endOp(w.op.id)
		w.inst.postCompletion(w.op.id, res)
	}
}

// errorFrom returns the error behind a result: err if set, else one
// made from the result's Error.
func errorFrom(e *pluginv1.Error, err error) error {
	if err != nil {
		return err
	}
	return &socketerror.Error{Op: e.Op, Addr: e.Addr, Status: socketerror.Status(e.Status), HResult: socketerror.HResult(e.Hresult), Message: e.Message}
}

// closeNow closes the runtime object. A stream socket closes with FIN
// once its writes are done (at most the runtime's close grace).
func (hs *hsocket) closeNow() {
	hs.mu.Lock()
	if hs.closed {
		hs.mu.Unlock()
		return
	}
	hs.closed = true
	pending := hs.pending
	hs.pending = nil
	if hs.curRead != nil {
		hs.curCancel()
	}
	hs.mu.Unlock()
	hs.wakeReader()
	switch {
	case hs.stream != nil:
		hs.stream.Close()
	case hs.listener != nil:
		hs.listener.Close()
	case hs.dgram != nil:
		hs.dgram.Close()
	case hs.ws != nil:
		hs.ws.closeFromHost()
	}
	for _, s := range pending {
		s.Close()
	}
}

// output returns the datagram socket's stream to host:service, making
// and caching it.
func (hs *hsocket) output(ctx context.Context, host, service string) (*sockets.DatagramOutputStream, error) {
	key := host + "\x00" + service
	hs.mu.Lock()
	o := hs.outs[key]
	hs.mu.Unlock()
	if o != nil {
		return o, nil
	}
	h, err := hostName("DatagramSocket.GetOutputStream", host)
	if err != nil {
		return nil, err
	}
	o, err = hs.dgram.GetOutputStream(ctx, h, service)
	if err != nil {
		return nil, err
	}
	hs.mu.Lock()
	if hs.outs == nil || len(hs.outs) >= maxDestinations {
		hs.outs = map[string]*sockets.DatagramOutputStream{}
	}
	hs.outs[key] = o
	hs.mu.Unlock()
	return o, nil
}

// messageEvent copies a received datagram into an event for socket id.
func messageEvent(id uint64, a *sockets.DatagramSocketMessageReceivedEventArgs) *pluginv1.MessageReceived {
	remote := a.RemoteAddrPort()
	local := ""
	if l := a.LocalAddr(); l.IsValid() {
		local = l.Unmap().String()
	}
	return &pluginv1.MessageReceived{
		Socket:        id,
		Data:          append([]byte(nil), a.Data()...),
		RemoteAddress: remote.Addr().Unmap().String(),
		RemotePort:    portString(remote),
		LocalAddress:  local,
	}
}

func portString(ap netip.AddrPort) string {
	if !ap.IsValid() {
		return ""
	}
	return itoa(int(ap.Port()))
}
