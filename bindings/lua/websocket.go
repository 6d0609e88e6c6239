package lua

import (
	"bytes"
	"context"
	"io"

	glua "github.com/yuin/gopher-lua"

	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
	"github.com/netrun/netrun/runtime/websocket"
)

// lWebSocket is one of the four WebSocket classes as one worker sees it.
// Its fields are guarded by the state's lock unless noted.
type lWebSocket struct {
	v     *vm
	class *class                       // the Lua class: MessageWebSocket, ServerStreamWebSocket, ...
	conn  websocket.WebSocket          // immutable
	msgs  websocket.MessageConn        // nil for a stream WebSocket; immutable
	strm  websocket.StreamConn         // nil for a message WebSocket; immutable
	typed websocket.MessageTypeControl // nil for a stream WebSocket; immutable

	// msgType is Control.MessageType as Lua set it: the type of the
	// messages sent next. The runtime's own MessageType belongs to the
	// writer, which sets it before each message so that every write goes
	// out with the type it was issued with, whatever Lua sets meanwhile.
	msgType  websocket.SocketMessageType
	sentType websocket.SocketMessageType // the runtime's MessageType; the writer's alone

	ud, control, info, input, output    *glua.LUserData
	messageReceived, closed, validation *glua.LUserData

	// Writes wait here, in issue order, for the one writer job that
	// sends them.
	queue   []wsWrite
	writing bool
	closing bool // Close was called
}

// wsWrite is one queued send: a whole message, a frame, or a flush.
type wsWrite struct {
	op   *operation
	data string
	typ  websocket.SocketMessageType
	kind wsWriteKind
}

type wsWriteKind uint8

const (
	wsMessage wsWriteKind = iota
	wsNonfinalFrame
	wsFinalFrame
	wsFlush
)

// newWebSocket wraps conn for Lua as an object of class c, owned by the
// worker.
func (v *vm) newWebSocket(L *glua.LState, c *class, conn websocket.WebSocket) *lWebSocket {
	l := &lWebSocket{v: v, class: c, conn: conn}
	l.msgs, _ = conn.(websocket.MessageConn)
	l.strm, _ = conn.(websocket.StreamConn)
	l.ud = newObject(L, c, l)
	closed := bindEvent(v, c.name+".Closed", conn.Closed(), glua.LValue(l.ud),
		func(L *glua.LState, a *websocket.ClosedEventArgs) glua.LValue {
			return newObject(L, wsClosedArgsClass, &wsClosedArgs{code: a.Code(), reason: a.Reason()})
		}, nil)
	l.closed = newObject(L, eventClass, closed)
	if l.msgs != nil {
		ev := bindEventFrom(v, l, c.name+".MessageReceived", l.msgs.MessageReceived(), glua.LValue(l.ud),
			func(L *glua.LState, a *websocket.MessageReceivedEventArgs) glua.LValue {
				// The runtime reuses a's bytes for the next message:
				// the handler gets a copy of its own.
				return newObject(L, wsMessageArgsClass, &wsMessageArgs{v: v, typ: a.MessageType(),
					complete: a.IsMessageComplete(), data: bytes.Clone(a.Data())})
			}, nil)
		l.messageReceived = newObject(L, eventClass, ev)
	}
	v.owned.add(l)
	return l
}

// Close implements io.Closer for the worker's owned set, which calls it
// off the state's lock when the worker stops: the peer is told the
// endpoint is going away (1001).
func (l *lWebSocket) Close() error {
	return l.conn.CloseWithStatus(1001, "going away")
}

// companion returns *slot, making it of class c on first use.
func (l *lWebSocket) companion(L *glua.LState, slot **glua.LUserData, c *class) *glua.LUserData {
	if *slot == nil {
		*slot = newObject(L, c, l)
	}
	return *slot
}

// sendLocked queues a write of data (a message or a frame) or a flush,
// and returns its operation. Writes leave in the order they were issued,
// awaited or not, each with the message type set when it was issued.
//
// The writer job is quick when the write was issued by a handler of this
// socket's own events (an echo): it then runs on the socket's reader
// goroutine once the handler yields, with no hop to another goroutine,
// and a peer that does not read stops its own reader, not anyone else's.
// Writes to other sockets (a broadcast) get a goroutine of their own.
func (l *lWebSocket) sendLocked(L *glua.LState, m string, data string, kind wsWriteKind) *operation {
	v := l.v
	if l.closing {
		raiseClosed(L, m)
	}
	op := v.newOperationLocked(L, m)
	l.queue = append(l.queue, wsWrite{op: op, data: data, typ: l.msgType, kind: kind})
	if !l.writing {
		l.writing = true
		v.addJobLocked(job{quick: v.eventSource == l, run: l.writer})
	}
	return op
}

// writer sends the queued writes in order, until the queue is empty.
func (l *lWebSocket) writer() []job {
	return drainQueue(l.v, &l.queue, &l.writing, func(w wsWrite) []job {
		n, err := l.write(w)
		res := glua.LValue(glua.LNumber(n))
		if w.kind == wsFlush {
			res = glua.LTrue
		}
		return l.v.finish(w.op, func(*glua.LState) []glua.LValue { return []glua.LValue{res} }, err)
	})
}

// write performs one queued write off the state's lock.
func (l *lWebSocket) write(w wsWrite) (int, error) {
	ctx := context.Background()
	p := unsafeBytes(w.data)
	if l.typed != nil && w.kind != wsFlush && w.typ != l.sentType {
		if err := l.typed.SetMessageType(w.typ); err != nil {
			return 0, err
		}
		l.sentType = w.typ
	}
	switch {
	case w.kind == wsFlush && l.msgs != nil:
		return 0, l.msgs.OutputStream().Flush(ctx)
	case w.kind == wsFlush:
		return 0, l.strm.OutputStream().Flush(ctx)
	case w.kind == wsNonfinalFrame:
		return l.msgs.SendNonfinalFrame(ctx, p)
	case w.kind == wsFinalFrame:
		return l.msgs.SendFinalFrame(ctx, p)
	case l.msgs != nil:
		return l.msgs.OutputStream().Write(ctx, p)
	default:
		return l.strm.OutputStream().Write(ctx, p)
	}
}

// closeLocked is Close([code, reason]): the closing handshake, which may
// wait for the peer, runs off the lock.
func (l *lWebSocket) closeLocked(L *glua.LState, m string) {
	code, reason := uint16(0), ""
	if L.Get(2) != glua.LNil {
		code = uint16(argInt(L, 2, m, "code", 0, 65535))
		reason = optString(L, 3, m, "reason", "")
		if err := websocket.CheckCloseStatus(code, reason); err != nil {
			raiseArg(L, m, 2, "code", "%v", err)
		}
	}
	if l.closing {
		return
	}
	l.closing = true
	v := l.v
	v.owned.remove(l)
	v.addJobLocked(job{run: func() []job {
		if code == 0 {
			l.conn.Close()
		} else {
			l.conn.CloseWithStatus(code, reason)
		}
		return nil
	}})
}

// wsOutput is a WebSocket's OutputStream as a DataWriter stores to it:
// each store joins the socket's write queue (one message per store on a
// message WebSocket).
type wsOutput struct{ l *lWebSocket }

func (o *wsOutput) queueLocked(L *glua.LState, m, data string, flush bool) *operation {
	kind := wsMessage
	if flush {
		kind = wsFlush
	}
	return o.l.sendLocked(L, m, data, kind)
}

// The outputSink methods: unused, since queueLocked serves the stores.
func (o *wsOutput) store(p []byte) (int, error) { return 0, errQueuedSink }
func (o *wsOutput) flush() error                { return errQueuedSink }
func (o *wsOutput) quick() bool                 { return false }
func (o *wsOutput) cancelStore()                {}

// wsInput is a stream WebSocket's InputStream, for ReadAsync and as a
// DataReader loads it.
type wsInput struct {
	l      *lWebSocket
	cancel context.CancelFunc // of the DataReader load in progress; guarded by the state's lock
}

func (*wsInput) immediate() bool    { return false }
func (*wsInput) loadNow(int) []byte { return nil }

func (in *wsInput) cancelLoad() {
	if in.cancel != nil {
		in.cancel()
	}
}

// read reads up to n bytes (with partial, as soon as any are there) off
// the state's lock; nil at the end of the stream.
func (in *wsInput) read(ctx context.Context, m string, n int, partial bool) ([]byte, error) {
	opts := sockets.InputStreamNone
	if partial {
		opts = sockets.Partial
	}
	buf := make([]byte, n)
	got, err := in.l.strm.InputStream().Read(ctx, buf, opts)
	switch {
	case err == io.EOF:
		err = nil
	case err != nil && ctx.Err() != nil:
		err = socketerror.WithStatus(m, "", socketerror.OperationAborted, ctx.Err())
	}
	return buf[:got], err
}

func (in *wsInput) load(n int, partial bool) ([]byte, error) {
	v := in.l.v
	ctx, cancel := context.WithCancel(v.ctx)
	defer cancel()
	v.mu.Lock()
	in.cancel = cancel
	v.mu.Unlock()
	return in.read(ctx, "DataReader.LoadAsync", n, partial)
}

// readLocked is InputStream:ReadAsync(count [, options]) on a stream
// WebSocket: a string, "" once the peer has closed.
func (in *wsInput) readLocked(L *glua.LState, m string, count int, partial bool) *operation {
	v := in.l.v
	ctx, cancel := context.WithCancel(v.ctx)
	return v.startLocked(L, m, false, cancel, func(context.Context) (func(*glua.LState) []glua.LValue, error) {
		defer cancel()
		data, err := in.read(ctx, m, count, partial)
		str := glua.LString(data)
		return func(*glua.LState) []glua.LValue { return []glua.LValue{str} }, err
	})
}
