package trigger

import (
	"context"
	"log/slog"
	"runtime"
	"sync"
	"time"
	"weak"

	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
)

// Defaults of the Options bounds.
const (
	// DefaultMaxBufferedBytes bounds the bytes held per stream socket.
	DefaultMaxBufferedBytes = 1 << 20
	// DefaultMaxHeldDatagrams bounds the datagrams held per datagram
	// socket.
	DefaultMaxHeldDatagrams = 1024
	// DefaultMaxHeldConnections bounds the connections held per listener.
	DefaultMaxHeldConnections = 128
)

// Options configures a Broker. The zero value works.
type Options struct {
	// Logger receives the broker's logs; nil means slog.Default.
	Logger *slog.Logger
	// Clock times keep-alives; nil means the system clock.
	Clock Clock
	// MaxBufferedBytes bounds what the broker reads ahead of the owner
	// from one held stream socket; 0 means DefaultMaxBufferedBytes. At
	// the bound the broker stops reading, and TCP's flow control makes
	// the peer wait: nothing is lost.
	MaxBufferedBytes int
	// MaxHeldDatagrams bounds the datagrams held for one datagram
	// socket; 0 means DefaultMaxHeldDatagrams. Later ones are dropped,
	// as a full receive buffer drops them, and counted in the log.
	MaxHeldDatagrams int
	// MaxHeldConnections bounds the connections a held listener
	// accepts; 0 means DefaultMaxHeldConnections. At the bound the
	// listener stops accepting, and later connections wait in the
	// kernel's backlog.
	MaxHeldConnections int
	// MaxControlChannels bounds the control channels with push enabled
	// at once; past it WaitForPushEnabled reports PolicyError, as WinRT
	// does when too many slots are asked for. 0 means no bound.
	MaxControlChannels int
}

// Broker is netrun's socket broker and the home of its triggers: WinRT's
// socket broker service (EnableTransferOwnership, TransferOwnership,
// SocketActivityInformation.AllSockets and the SocketActivityTrigger) and
// the system side of ControlChannelTrigger. One Broker serves a host; it
// is a value, not package state, and every guest (script or plugin) uses
// the host's.
//
// Sockets are tagged for transfer with EnableTransferOwnership, which
// records the task id in a registry of weak references: a socket that is
// never transferred is forgotten once it is garbage, and runtime/sockets
// needs no field for it.
//
// Goroutines: the broker runs one goroutine to time keep-alives, one to
// watch control channels' transports, one to raise SocketActivityTrigger
// to the tasks, each only while it has work, and one per held stream
// socket to read it. Close stops them all.
//
// All methods are safe for concurrent use.
type Broker struct {
	// immutable after NewBroker
	log        *slog.Logger
	clock      Clock
	maxBuf     int
	maxDgrams  int
	maxConns   int
	maxPushing int
	sched      scheduler
	poll       *poller
	wg         sync.WaitGroup // every goroutine of the broker

	mu          sync.Mutex // guards the fields below and the broker fields of each SocketActivityInformation
	closed      bool
	enabled     map[any]string // weak.Pointer of a socket → task id
	tasks       map[string]*task
	channels    map[*ControlChannelTrigger]struct{}
	pushing     int                          // channels with push enabled
	queue       []*SocketActivityInformation // held sockets with triggers to raise
	dispatching bool                         // the dispatch goroutine runs
}

// task is a SocketActivityTrigger task: the sockets transferred for it and
// the handlers registered for it.
type task struct {
	sockets map[string]*SocketActivityInformation // by socket id
	regs    []*registration                       // the last one gets the triggers
}

type registration struct {
	fn func(*SocketActivityTriggerDetails) bool
}

// SocketActivityTriggerDetails is WinRT's SocketActivityTriggerDetails: why
// the trigger was raised, and the socket it was raised for.
type SocketActivityTriggerDetails struct {
	// Reason is why the trigger was raised.
	Reason SocketActivityTriggerReason
	// SocketInformation is the held socket; reading its socket reclaims
	// it.
	SocketInformation *SocketActivityInformation
}

// NewBroker returns a Broker. It starts no goroutine until it has work.
func NewBroker(opts Options) *Broker {
	b := &Broker{log: opts.Logger, clock: opts.Clock, maxBuf: opts.MaxBufferedBytes,
		maxDgrams: opts.MaxHeldDatagrams, maxConns: opts.MaxHeldConnections, maxPushing: opts.MaxControlChannels,
		enabled: map[any]string{}, tasks: map[string]*task{}, channels: map[*ControlChannelTrigger]struct{}{}}
	if b.log == nil {
		b.log = slog.Default()
	}
	if b.clock == nil {
		b.clock = systemClock{}
	}
	if b.maxBuf <= 0 {
		b.maxBuf = DefaultMaxBufferedBytes
	}
	if b.maxDgrams <= 0 {
		b.maxDgrams = DefaultMaxHeldDatagrams
	}
	if b.maxConns <= 0 {
		b.maxConns = DefaultMaxHeldConnections
	}
	b.sched = scheduler{clock: b.clock, wg: &b.wg}
	b.poll = newPoller(b.log, &b.wg)
	return b
}

// weakKey returns the registry key of a socket, and a function that
// arranges for the key to be forgotten once the socket is garbage.
func weakKey(op string, sock any) (key any, cleanup func(func(any)), err error) {
	switch s := sock.(type) {
	case *sockets.StreamSocket:
		if s != nil {
			return weakOf(s)
		}
	case *sockets.StreamSocketListener:
		if s != nil {
			return weakOf(s)
		}
	case *sockets.DatagramSocket:
		if s != nil {
			return weakOf(s)
		}
	}
	return nil, nil, socketerror.InvalidArg(op, "socket", "a StreamSocket, StreamSocketListener or DatagramSocket expected, got %T", sock)
}

func weakOf[T any](p *T) (any, func(func(any)), error) {
	key := weak.Make(p)
	return key, func(forget func(any)) { runtime.AddCleanup(p, forget, any(key)) }, nil
}

// EnableTransferOwnership tags sock (a *sockets.StreamSocket,
// *sockets.StreamSocketListener or *sockets.DatagramSocket) as one that
// may be transferred to the broker for the task taskID, whose
// SocketActivityTrigger handlers will be told of its activity. WinRT asks
// for it before the socket connects or binds; netrun accepts it at any
// time before TransferOwnership. Calling it again changes the task.
func (b *Broker) EnableTransferOwnership(sock any, taskID string) error {
	const op = "EnableTransferOwnership"
	if taskID == "" {
		return socketerror.InvalidArg(op, "taskId", "must not be empty")
	}
	key, cleanup, err := weakKey(op, sock)
	if err != nil {
		return err
	}
	b.mu.Lock()
	_, known := b.enabled[key]
	b.enabled[key] = taskID
	b.mu.Unlock()
	if !known {
		cleanup(b.forget)
	}
	return nil
}

// forget drops a socket that has become garbage from the registry.
func (b *Broker) forget(key any) {
	b.mu.Lock()
	delete(b.enabled, key)
	b.mu.Unlock()
}

// TaskID returns the task sock was enabled for, and whether it was.
func (b *Broker) TaskID(sock any) (string, bool) {
	key, _, err := weakKey("TaskID", sock)
	if err != nil {
		return "", false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	id, ok := b.enabled[key]
	return id, ok
}

// TransferOwnership hands sock to the broker under socketID, with
// activityContext, the caller's bytes (copied: SocketActivityContext.Data).
// The caller must not use sock afterwards,
// until it reclaims it through a SocketActivityInformation. sock must have
// been enabled with EnableTransferOwnership; socketID must not be held for
// its task already.
//
// What the broker does with it:
//   - a StreamSocket: its pending reads and writes end first (CancelIO,
//     whose wait ctx bounds); then the broker reads it, buffering what
//     arrives in order, and raises SocketActivity, and SocketClosed when
//     the peer closes or the connection fails. At the Options bound it
//     stops reading: the peer waits, nothing is lost.
//   - a StreamSocketListener (bound): every ConnectionReceived handler is
//     removed; the broker accepts and holds connections, raising
//     ConnectionAccepted.
//   - a DatagramSocket (bound): every MessageReceived handler is removed;
//     the broker holds the datagrams, raising SocketActivity.
//
// keepAlive, if positive, makes the broker raise KeepAliveTimerExpired
// each time a stream or datagram socket has been quiet that long, so that
// the task can send something to keep its peer and the middleboxes on the
// way from timing out. Listeners take no keep-alive.
func (b *Broker) TransferOwnership(ctx context.Context, sock any, socketID string, activityContext []byte, keepAlive time.Duration) error {
	const op = "TransferOwnership"
	if socketID == "" {
		return socketerror.InvalidArg(op, "socketId", "must not be empty")
	}
	if keepAlive < 0 {
		return socketerror.InvalidArg(op, "keepAliveTime", "must not be negative, got %v", keepAlive)
	}
	key, _, err := weakKey(op, sock)
	if err != nil {
		return err
	}
	b.mu.Lock()
	taskID, ok := b.enabled[key]
	err = b.checkIDLocked(op, taskID, socketID)
	b.mu.Unlock()
	switch {
	case !ok:
		return socketerror.IllegalCall(op, "the socket was not enabled for transfer: call EnableTransferOwnership first")
	case err != nil:
		return err
	}
	h := &SocketActivityInformation{b: b, id: socketID, taskID: taskID, context: append([]byte(nil), activityContext...), keepAlive: keepAlive}
	h.ka.fire = h.keepAliveExpired
	switch s := sock.(type) {
	case *sockets.StreamSocket:
		h.kind, h.stream = KindStreamSocket, s
		if _, err := s.SyscallConn(); err != nil {
			return socketerror.IllegalCall(op, "the StreamSocket is not connected")
		}
		if err := s.CancelIO(ctx); err != nil {
			return err
		}
	case *sockets.StreamSocketListener:
		h.kind, h.listener = KindStreamSocketListener, s
		if keepAlive != 0 {
			return socketerror.InvalidArg(op, "keepAliveTime", "a StreamSocketListener takes no keep-alive")
		}
		if s.Information().LocalPort() == "" {
			return socketerror.IllegalCall(op, "the StreamSocketListener is not bound")
		}
	case *sockets.DatagramSocket:
		h.kind, h.dgram = KindDatagramSocket, s
		if s.Information().LocalPort() == "" {
			return socketerror.IllegalCall(op, "the DatagramSocket is not bound")
		}
	}
	b.mu.Lock()
	if err := b.checkIDLocked(op, taskID, socketID); err != nil {
		b.mu.Unlock()
		return err
	}
	t := b.taskLocked(taskID)
	t.sockets[socketID] = h
	b.mu.Unlock()
	h.start()
	return nil
}

// checkIDLocked fails if the broker is closed or socketID is held for
// taskID. b.mu must be held.
func (b *Broker) checkIDLocked(op, taskID, socketID string) error {
	if b.closed {
		return socketerror.Closed(op)
	}
	if t := b.tasks[taskID]; t != nil && t.sockets[socketID] != nil {
		return socketerror.InvalidArg(op, "socketId", "%q is already held for task %q", socketID, taskID)
	}
	return nil
}

func (b *Broker) taskLocked(taskID string) *task {
	t := b.tasks[taskID]
	if t == nil {
		t = &task{sockets: map[string]*SocketActivityInformation{}}
		b.tasks[taskID] = t
	}
	return t
}

// AllSockets returns the sockets held for taskID, by socket id: WinRT's
// SocketActivityInformation.AllSockets for one task. The map is a copy.
func (b *Broker) AllSockets(taskID string) map[string]*SocketActivityInformation {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]*SocketActivityInformation{}
	if t := b.tasks[taskID]; t != nil {
		for id, h := range t.sockets {
			out[id] = h
		}
	}
	return out
}

// RegisterTask registers fn as the SocketActivityTrigger task taskID: it
// is called for every trigger raised for a socket transferred for
// taskID, one at a time, on a goroutine of the broker, and must return
// soon. Reading the details' socket reclaims it. fn reports whether it
// took the trigger; one it did not take (its guest is stopping) stays
// pending for the task's next registration.
//
// Only the last registration of a task that is still registered gets the
// triggers: a new version of a script, registering as the old one still
// runs, takes them over, and gives them back if it goes first. Triggers
// raised while a task has no registration wait for one. The function
// returned removes the registration.
func (b *Broker) RegisterTask(taskID string, fn func(*SocketActivityTriggerDetails) bool) (unregister func()) {
	r := &registration{fn: fn}
	b.mu.Lock()
	t := b.taskLocked(taskID)
	t.regs = append(t.regs, r)
	b.queuePendingLocked(t)
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for i, x := range t.regs {
			if x == r {
				t.regs = append(t.regs[:i], t.regs[i+1:]...)
				b.queuePendingLocked(t)
				return
			}
		}
	}
}

// queuePendingLocked queues t's sockets that have triggers to raise, if t
// has a registration to raise them to. b.mu must be held.
func (b *Broker) queuePendingLocked(t *task) {
	if len(t.regs) == 0 {
		return
	}
	for _, h := range t.sockets {
		if h.pending != 0 {
			b.queueLocked(h)
		}
	}
}

// notify records reason for h and queues h for the task's handler.
func (b *Broker) notify(h *SocketActivityInformation, reason SocketActivityTriggerReason) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if h.reclaimed || b.closed {
		return
	}
	h.pending |= 1 << reason
	if t := b.tasks[h.taskID]; t != nil && len(t.regs) > 0 {
		b.queueLocked(h)
	}
}

// queueLocked queues h for dispatch and starts the dispatcher. b.mu must
// be held.
func (b *Broker) queueLocked(h *SocketActivityInformation) {
	if h.queued || b.closed {
		return
	}
	h.queued = true
	b.queue = append(b.queue, h)
	if !b.dispatching {
		b.dispatching = true
		b.wg.Add(1)
		go b.dispatch()
	}
}

// dispatch raises the queued triggers until none is left.
func (b *Broker) dispatch() {
	defer b.wg.Done()
	for {
		b.mu.Lock()
		if len(b.queue) == 0 || b.closed {
			b.queue = nil
			b.dispatching = false
			b.mu.Unlock()
			return
		}
		h := b.queue[0]
		b.queue[0] = nil
		b.queue = b.queue[1:]
		h.queued = false
		b.mu.Unlock()
		for r := SocketActivity; r <= SocketClosed; r++ {
			b.mu.Lock()
			var reg *registration
			if t := b.tasks[h.taskID]; t != nil && len(t.regs) > 0 && !h.reclaimed && h.pending&(1<<r) != 0 {
				reg = t.regs[len(t.regs)-1]
				h.pending &^= 1 << r
			}
			b.mu.Unlock()
			if reg != nil && !reg.fn(&SocketActivityTriggerDetails{Reason: r, SocketInformation: h}) {
				b.mu.Lock()
				if !h.reclaimed {
					// For the next registration: the one that comes, or
					// one already there if the refusing one has gone
					// while its handler ran (its unregister found nothing
					// pending then).
					h.pending |= 1 << r
					if t := b.tasks[h.taskID]; t != nil && len(t.regs) > 0 && t.regs[len(t.regs)-1] != reg {
						b.queueLocked(h)
					}
				}
				b.mu.Unlock()
			}
		}
	}
}

// take removes h from its task for a reclaim or for Close; it reports
// false if h was reclaimed already.
func (b *Broker) take(h *SocketActivityInformation) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if h.reclaimed {
		return false
	}
	h.reclaimed = true
	h.pending = 0
	if t := b.tasks[h.taskID]; t != nil && t.sockets[h.id] == h {
		delete(t.sockets, h.id)
	}
	return true
}

// Close closes every socket the broker holds and every control channel
// made from it, and waits for the broker's goroutines. Triggers are no
// longer raised. Close is idempotent.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		b.wg.Wait()
		return nil
	}
	b.closed = true
	var held []*SocketActivityInformation
	for _, t := range b.tasks {
		for _, h := range t.sockets {
			held = append(held, h)
		}
	}
	channels := make([]*ControlChannelTrigger, 0, len(b.channels))
	for c := range b.channels {
		channels = append(channels, c)
	}
	b.mu.Unlock()
	for _, c := range channels {
		c.Close()
	}
	for _, h := range held {
		if b.take(h) {
			h.closeHeld()
		}
	}
	b.wg.Wait()
	return nil
}

// goFunc runs f on a goroutine Close waits for.
func (b *Broker) goFunc(f func()) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		f()
	}()
}
