package sdk

import (
	"context"
	"sync"
	"time"

	"github.com/netrun/netrun/bindings/plugin/proto/pluginv1"
	"github.com/netrun/netrun/runtime/socketerror"
)

// This file is the plugin's side of the host's socket broker
// (runtime/trigger), which the Lua scripts share: a plugin's task id is
// its name; the host registers every instance for it as its session
// starts, so SocketActivity events begin with the session.

// SocketActivityReason is why a SocketActivity was raised: WinRT's
// SocketActivityTriggerReason, with its values.
type SocketActivityReason int32

// The reasons, with WinRT's values.
const (
	// ReasonNone: a socket listed by HeldSockets.
	ReasonNone SocketActivityReason = 0
	// ReasonSocketActivity: data or a datagram arrived.
	ReasonSocketActivity SocketActivityReason = 1
	// ReasonConnectionAccepted: a held listener accepted a connection.
	ReasonConnectionAccepted SocketActivityReason = 2
	// ReasonKeepAliveTimerExpired: the socket was quiet for its keep-alive.
	ReasonKeepAliveTimerExpired SocketActivityReason = 3
	// ReasonSocketClosed: the peer closed the connection, or it failed.
	ReasonSocketClosed SocketActivityReason = 4
)

// SocketActivity is a SocketActivityTrigger raised for the plugin's task:
// the host's broker holds the socket SocketID (the id given to
// TransferOwnership by a plugin or a script) for the task TaskID.
type SocketActivity struct {
	Reason SocketActivityReason
	// SocketID is the broker's id of the socket: pass it to
	// ReclaimHeldStreamSocket.
	SocketID string
	Kind     SocketKind
	// TaskID is the task the socket is held for: the plugin's name.
	TaskID string
	// Context is SocketActivityContext.Data: what TransferOwnership was
	// given.
	Context []byte
	// Buffered is how many bytes (or connections, or datagrams) the
	// broker holds for the socket.
	Buffered uint64
}

func activityFrom(a *pluginv1.SocketActivity) SocketActivity {
	return SocketActivity{Reason: SocketActivityReason(a.Reason), SocketID: a.SocketId, Kind: SocketKind(a.Kind),
		TaskID: a.TaskId, Context: a.Context, Buffered: a.Buffered}
}

// activityQueue keeps the SocketActivity events until the plugin takes
// them: nothing raised before the plugin asks is lost.
type activityQueue struct {
	mu    sync.Mutex
	items []*pluginv1.SocketActivity
	wake  chan struct{} // capacity 1: items were added
}

func (q *activityQueue) push(a *pluginv1.SocketActivity) {
	q.mu.Lock()
	q.items = append(q.items, a)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// SocketActivity returns the next SocketActivityTrigger raised for the
// plugin's task, waiting for one. It fails once ctx ends or the session
// has ended. Triggers raised while no instance ran are delivered to the
// next one.
func (h *Host) SocketActivity(ctx context.Context) (SocketActivity, error) {
	const op = "Host.SocketActivity"
	q := &h.s.acts
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			a := q.items[0]
			q.items[0] = nil
			q.items = q.items[1:]
			q.mu.Unlock()
			return activityFrom(a), nil
		}
		q.mu.Unlock()
		select {
		case <-q.wake:
		case <-ctx.Done():
			return SocketActivity{}, ctxErr(ctx, op)
		case <-h.s.ctx.Done():
			return SocketActivity{}, endedError(op)
		}
	}
}

// HeldSockets returns the sockets the host's broker held for the plugin's
// task when the session started (Reason is ReasonNone).
func (h *Host) HeldSockets() []SocketActivity {
	var out []SocketActivity
	for _, a := range h.s.hello.Held {
		out = append(out, activityFrom(a))
	}
	return out
}

// ReclaimHeldStreamSocket reclaims the stream socket the host's broker
// holds under socketID for the plugin's task (told by SocketActivity or
// HeldSockets): it becomes one of the plugin's sockets, whose first reads
// return the bytes the broker held, in order, then the connection's. It
// stays enabled for its task.
func (h *Host) ReclaimHeldStreamSocket(ctx context.Context, socketID string) (*StreamSocket, error) {
	const op = "Host.ReclaimHeldStreamSocket"
	if socketID == "" {
		return nil, socketerror.InvalidArg(op, "socketID", "must not be empty")
	}
	res, err := h.s.do(ctx, op, &pluginv1.Command{Command: &pluginv1.Command_Reclaim{Reclaim: &pluginv1.Reclaim{SocketId: socketID}}}, nil)
	if err != nil {
		return nil, err
	}
	cr := res.GetCreated()
	s := h.NewStreamSocket()
	s.setConnected(cr.Socket, cr.Info)
	return s, nil
}

// EnableTransferOwnership makes taskID the task TransferToBroker
// transfers the socket for: a script's file name without .lua, or a
// plugin's name. Without it the task is the plugin's own.
func (s *StreamSocket) EnableTransferOwnership(taskID string) {
	s.mu.Lock()
	s.taskID = taskID
	s.mu.Unlock()
}

// TransferToBroker is WinRT's TransferOwnership(socketId, data,
// keepAliveTime): it hands the socket to the host's socket broker, shared
// with the scripts, under socketID for the task EnableTransferOwnership
// named, and the plugin stops having it (it is closed here, not in the
// host). The task's guest is raised SocketActivity and reclaims it.
//
// Writes are flushed first; the read-ahead is stopped, and the bytes it
// received that no Read returned go back in front of the connection's,
// so the next owner reads every byte once, in order. No Read or Write
// may run concurrently. If the broker refuses the socket (socketID is
// held for the task already), the plugin keeps it and nothing is lost.
// (TransferOwnership, without an id, is the older restart-only transfer.)
func (s *StreamSocket) TransferToBroker(ctx context.Context, socketID string, data []byte, keepAlive time.Duration) error {
	const op = "StreamSocket.TransferOwnership"
	id, err := s.conn(op)
	if err != nil {
		return err
	}
	if socketID == "" {
		return socketerror.InvalidArg(op, "socketId", "must not be empty")
	}
	release, err := s.quiesce(ctx, op, id)
	if err != nil {
		return err
	}
	defer release()
	s.rd.mu.Lock()
	unread := s.rd.buf
	s.rd.buf = nil
	s.rd.mu.Unlock()
	s.mu.Lock()
	task := s.taskID
	s.mu.Unlock()
	_, err = s.h.s.do(ctx, op, &pluginv1.Command{Command: &pluginv1.Command_TransferOwnership{TransferOwnership: &pluginv1.TransferOwnership{
		Socket: id, Context: data, HandOver: true, TaskId: task, SocketId: socketID,
		KeepAliveMs: uint32(keepAlive / time.Millisecond), Unread: unread}}}, nil)
	if err != nil {
		// The host put unread back in front of the connection's bytes,
		// and the next reads return it, then the connection's end or
		// error again: the read-ahead starts afresh.
		s.rd.mu.Lock()
		s.rd.handing, s.rd.eof, s.rd.err = false, false, nil
		s.rd.mu.Unlock()
		return err
	}
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.rd.mu.Lock()
	s.rd.err = socketerror.Closed("StreamSocket.InputStream.Read")
	s.rd.mu.Unlock()
	s.h.untrack(s)
	return nil
}

// ReclaimHeldStreamSocketListener reclaims the listener the host's broker
// holds under socketID for the plugin's task (told by SocketActivity or
// HeldSockets): it becomes one of the plugin's listeners, still bound.
// The connections the broker accepted meanwhile are raised first, in
// order, once a ConnectionReceived handler is added, then the live ones.
// It stays enabled for its task.
func (h *Host) ReclaimHeldStreamSocketListener(ctx context.Context, socketID string) (*StreamSocketListener, error) {
	const op = "Host.ReclaimHeldStreamSocketListener"
	if socketID == "" {
		return nil, socketerror.InvalidArg(op, "socketID", "must not be empty")
	}
	l := h.NewStreamSocketListener()
	res, err := h.s.do(ctx, op, &pluginv1.Command{Command: &pluginv1.Command_Reclaim{Reclaim: &pluginv1.Reclaim{SocketId: socketID}}}, l)
	if err != nil {
		return nil, err
	}
	l.setBound(res.GetCreated().Socket, res.GetCreated().Info)
	return l, nil
}

// ReclaimHeldDatagramSocket reclaims the datagram socket the host's
// broker holds under socketID for the plugin's task (told by
// SocketActivity or HeldSockets): it becomes one of the plugin's sockets,
// still bound. The datagrams the broker held are raised first, in order,
// once a MessageReceived handler is added, then the live ones. It stays
// enabled for its task.
func (h *Host) ReclaimHeldDatagramSocket(ctx context.Context, socketID string) (*DatagramSocket, error) {
	const op = "Host.ReclaimHeldDatagramSocket"
	if socketID == "" {
		return nil, socketerror.InvalidArg(op, "socketID", "must not be empty")
	}
	d := h.NewDatagramSocket()
	res, err := h.s.do(ctx, op, &pluginv1.Command{Command: &pluginv1.Command_Reclaim{Reclaim: &pluginv1.Reclaim{SocketId: socketID}}}, d)
	if err != nil {
		return nil, err
	}
	d.setBound(res.GetCreated().Socket, res.GetCreated().Info)
	return d, nil
}

// EnableTransferOwnership makes taskID the task TransferToBroker
// transfers the listener for: a script's file name without .lua, or a
// plugin's name. Without it the task is the plugin's own.
func (l *StreamSocketListener) EnableTransferOwnership(taskID string) {
	l.mu.Lock()
	l.taskID = taskID
	l.mu.Unlock()
}

// TransferToBroker is WinRT's StreamSocketListener.TransferOwnership(
// socketId, data): it hands the bound listener to the host's socket
// broker, shared with the scripts, under socketID for the task
// EnableTransferOwnership named, and the plugin stops having it. The
// broker accepts the connections that arrive and raises SocketActivity
// (ReasonConnectionAccepted) for the task, whose guest reclaims the
// listener and gets them. Connections raised to the plugin before the
// transfer are the plugin's, and its handler still gets those not raised
// yet. If the broker refuses the listener (socketID is held for the task
// already), the plugin keeps it.
func (l *StreamSocketListener) TransferToBroker(ctx context.Context, socketID string, data []byte) error {
	const op = "StreamSocketListener.TransferOwnership"
	l.mu.Lock()
	id, closed, task := l.id, l.closed, l.taskID
	l.mu.Unlock()
	if err := checkHandOver(op, id, closed, socketID); err != nil {
		return err
	}
	if err := l.h.handOver(ctx, op, &pluginv1.TransferOwnership{Socket: id, Context: data, HandOver: true, TaskId: task, SocketId: socketID}); err != nil {
		return err
	}
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.h.untrack(l)
	return nil
}

// EnableTransferOwnership makes taskID the task TransferToBroker
// transfers the socket for: a script's file name without .lua, or a
// plugin's name. Without it the task is the plugin's own.
func (d *DatagramSocket) EnableTransferOwnership(taskID string) {
	d.mu.Lock()
	d.taskID = taskID
	d.mu.Unlock()
}

// TransferToBroker is WinRT's DatagramSocket.TransferOwnership(socketId,
// data, keepAliveTime): it hands the bound socket to the host's socket
// broker, shared with the scripts, under socketID for the task
// EnableTransferOwnership named, and the plugin stops having it. The
// broker holds the datagrams that arrive and raises SocketActivity for
// the task, whose guest reclaims the socket and gets them, in order;
// keepAlive, if positive, raises ReasonKeepAliveTimerExpired each time
// the socket has been quiet that long. Datagrams raised to the plugin
// before the transfer still reach its handler. If the broker refuses the
// socket (socketID is held for the task already), the plugin keeps it.
func (d *DatagramSocket) TransferToBroker(ctx context.Context, socketID string, data []byte, keepAlive time.Duration) error {
	const op = "DatagramSocket.TransferOwnership"
	d.mu.Lock()
	id, closed, task := d.id, d.closed, d.taskID
	d.mu.Unlock()
	if err := checkHandOver(op, id, closed, socketID); err != nil {
		return err
	}
	if keepAlive < 0 {
		return socketerror.InvalidArg(op, "keepAliveTime", "must not be negative, got %v", keepAlive)
	}
	if err := d.h.handOver(ctx, op, &pluginv1.TransferOwnership{Socket: id, Context: data, HandOver: true, TaskId: task,
		SocketId: socketID, KeepAliveMs: uint32(min(keepAlive/time.Millisecond, 1<<32-1))}); err != nil {
		return err
	}
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.h.untrack(d)
	return nil
}

// checkHandOver checks the state and socketID of a TransferToBroker.
func checkHandOver(op string, id uint64, closed bool, socketID string) error {
	switch {
	case closed:
		return socketerror.Closed(op)
	case id == 0:
		return socketerror.IllegalCall(op, "the socket is not bound yet")
	case socketID == "":
		return socketerror.InvalidArg(op, "socketId", "must not be empty")
	}
	return nil
}

// handOver sends TransferOwnership with hand_over. The socket's sink
// stays registered: events the host sent before the transfer are still
// raised, and the session's end stops it.
func (h *Host) handOver(ctx context.Context, op string, t *pluginv1.TransferOwnership) error {
	_, err := h.s.do(ctx, op, &pluginv1.Command{Command: &pluginv1.Command_TransferOwnership{TransferOwnership: t}}, nil)
	return err
}
