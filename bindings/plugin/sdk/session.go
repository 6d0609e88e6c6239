package sdk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/netrun/netrun/bindings/plugin/proto/pluginv1"
	"github.com/netrun/netrun/runtime/socketerror"
)

// maxBatchBytes bounds the payload of one stream message the SDK sends;
// a batch with more is split. The host accepts messages of up to 16 MiB.
const maxBatchBytes = 2 << 20

// errSessionEnded is the cause of a session's context once the host has
// ended the session or asked the plugin to shut down.
var errSessionEnded = errors.New("sdk: the host ended the session")

// session is one Session stream with the host, seen from the plugin: it
// sends the commands of every socket in batches and routes completions
// and events back.
//
// The goroutines: the gRPC handler's, which receives and dispatches
// events (receive); the sender (send), which writes batches. Neither ever
// blocks on a socket's user: completions close a channel, events go into
// per-socket queues served by the socket's own goroutine.
type session struct {
	// immutable after start
	stream grpc.BidiStreamingServer[pluginv1.HostMessage, pluginv1.PluginMessage]
	log    *slog.Logger
	ctx    context.Context // ends with the session
	cancel context.CancelCauseFunc
	// runCtx is Run's: it ends with the session, or earlier when the
	// host asks the plugin to shut down (the session goes on, so that
	// Run can close its sockets).
	runCtx    context.Context
	runCancel context.CancelCauseFunc
	wake      chan struct{} // capacity 1: the sender has commands to send
	hello     *pluginv1.Hello

	mu      sync.Mutex // guards the fields below
	queue   []*pluginv1.Command
	spare   []*pluginv1.Command
	nextOp  uint64
	pending map[uint64]*call
	sinks   map[uint64]sink // listeners and datagram sockets, by socket id
	ended   bool
	sending bool // a goroutine is in drain

	acts activityQueue // SocketActivity events, for Host.SocketActivity
}

// call is one operation in flight.
type call struct {
	done chan struct{} // closed once res is set; nil for a call with cb
	res  *pluginv1.Completion
	sink sink // registered under the id a SocketCreated result names, before done closes
	// cb, if set, is called with the completion instead, on the
	// receiving goroutine: it must not block.
	cb func(*pluginv1.Completion)
}

// sink receives the events of one listener or datagram socket.
type sink interface {
	event(*pluginv1.Event)
	// sessionEnded stops the sink's goroutine.
	sessionEnded()
}

func newSession(stream grpc.BidiStreamingServer[pluginv1.HostMessage, pluginv1.PluginMessage], log *slog.Logger, hello *pluginv1.Hello) *session {
	ctx, cancel := context.WithCancelCause(stream.Context())
	runCtx, runCancel := context.WithCancelCause(ctx)
	return &session{
		stream:    stream,
		log:       log,
		ctx:       ctx,
		cancel:    cancel,
		runCtx:    runCtx,
		runCancel: runCancel,
		wake:      make(chan struct{}, 1),
		hello:     hello,
		pending:   map[uint64]*call{},
		acts:      activityQueue{wake: make(chan struct{}, 1)},
		sinks:     map[uint64]sink{},
	}
}

// do sends cmd and waits for its completion. If ctx ends first, it asks
// the host to cancel the operation and still waits for the completion, so
// that nothing the operation did is lost. A failed operation returns its
// error; the completion is returned otherwise. sk, if set, is registered
// for the socket a SocketCreated completion names.
func (s *session) do(ctx context.Context, opName string, cmd *pluginv1.Command, sk sink) (*pluginv1.Completion, error) {
	c := &call{done: make(chan struct{}), sink: sk}
	if dl, ok := ctx.Deadline(); ok {
		ms := time.Until(dl).Milliseconds()
		if ms < 1 {
			ms = 1
		}
		cmd.TimeoutMs = uint32(min(ms, 1<<32-1))
	}
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return nil, endedError(opName)
	}
	s.nextOp++
	cmd.Op = s.nextOp
	s.pending[cmd.Op] = c
	s.queue = append(s.queue, cmd)
	s.mu.Unlock()
	s.drain()

	if ctx.Done() != nil {
		select {
		case <-c.done:
		case <-ctx.Done():
			s.send(&pluginv1.Command{Command: &pluginv1.Command_Cancel{Cancel: &pluginv1.Cancel{Target: cmd.Op}}})
			<-c.done
		}
	} else {
		<-c.done
	}
	if e := c.res.GetError(); e != nil {
		return c.res, errorFrom(e)
	}
	return c.res, nil
}

// start queues cmd and returns at once; cb gets its completion (or an
// error completion if the session ends first) on the receiving
// goroutine, and must not block. It reports false, and cb is not called,
// if the session has ended.
func (s *session) start(cmd *pluginv1.Command, cb func(*pluginv1.Completion)) bool {
	c := &call{cb: cb}
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return false
	}
	s.nextOp++
	cmd.Op = s.nextOp
	s.pending[cmd.Op] = c
	s.queue = append(s.queue, cmd)
	s.mu.Unlock()
	// No signal: the command goes with the next batch that a drain sends
	// (the caller's next Write, or its Read before it waits), which
	// saves a stream message per read-ahead.
	return true
}

// sendNow queues a command that gets no completion (a quiet write) and
// sends it; it reports false if the session has ended.
func (s *session) sendNow(cmd *pluginv1.Command) bool {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return false
	}
	s.queue = append(s.queue, cmd)
	s.mu.Unlock()
	s.drain()
	return true
}

// send queues a command that gets no completion (Pong, Cancel).
func (s *session) send(cmd *pluginv1.Command) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.queue = append(s.queue, cmd)
	s.mu.Unlock()
	s.signal()
}

func (s *session) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// sender writes what is queued when woken, until the session ends.
func (s *session) sender() {
	for {
		select {
		case <-s.wake:
		case <-s.ctx.Done():
			return
		}
		s.drain()
	}
}

// drain sends what is queued, one stream message per batch, unless
// another goroutine is sending already (it will send this too). A
// goroutine that queued a command calls it to send without waking the
// sender goroutine; commands queued while a message is being sent go into
// the next one, so the batch grows with the load and no timer delays it.
// It must be called with no lock held, and never from the receiving
// goroutine (a Send blocked by flow control must not stop receiving).
func (s *session) drain() {
	var msg pluginv1.PluginMessage
	s.mu.Lock()
	if s.sending {
		s.mu.Unlock()
		return
	}
	s.sending = true
	// Let the goroutines that are ready to queue more do so first, for as
	// long as they do (a few rounds at most): a bigger batch costs no more
	// to send.
	for k, n := 0, len(s.queue); k < 4 && n > 0; k++ {
		s.mu.Unlock()
		runtime.Gosched()
		s.mu.Lock()
		if len(s.queue) == n {
			break
		}
		n = len(s.queue)
	}
	for {
		batch := s.queue
		if len(batch) == 0 || s.ended {
			s.sending = false
			s.mu.Unlock()
			return
		}
		s.queue = s.spare[:0]
		s.spare = nil
		s.mu.Unlock()
		for rest := batch; len(rest) > 0; {
			n, size := 0, 0
			for n < len(rest) && (n == 0 || size+payloadSize(rest[n]) <= maxBatchBytes) {
				size += payloadSize(rest[n])
				n++
			}
			msg.Commands = rest[:n]
			if err := s.stream.Send(&msg); err != nil {
				s.mu.Lock()
				s.sending = false
				s.mu.Unlock()
				s.end(fmt.Errorf("sdk: sending to the host: %w", err))
				return
			}
			rest = rest[n:]
		}
		clear(batch)
		s.mu.Lock()
		if s.spare == nil {
			s.spare = batch[:0]
		}
	}
}

// payloadSize is the bytes of data a command carries.
func payloadSize(c *pluginv1.Command) int {
	return len(c.GetStreamWrite().GetData()) + len(c.GetDatagramSend().GetData()) + len(c.GetWebSocketSend().GetData()) + 64
}

// receive reads the host's events and dispatches them until the stream
// ends.
func (s *session) receive() error {
	for {
		msg, err := s.stream.Recv()
		if err != nil {
			return err
		}
		for _, ev := range msg.Events {
			s.dispatch(ev)
		}
	}
}

func (s *session) dispatch(ev *pluginv1.Event) {
	switch e := ev.Event.(type) {
	case *pluginv1.Event_Completion:
		s.complete(e.Completion)
	case *pluginv1.Event_ConnectionReceived:
		s.route(e.ConnectionReceived.Listener, ev)
	case *pluginv1.Event_MessageReceived:
		s.route(e.MessageReceived.Socket, ev)
	case *pluginv1.Event_Ping:
		s.send(&pluginv1.Command{Command: &pluginv1.Command_Pong{Pong: &pluginv1.Pong{Seq: e.Ping.Seq}}})
	case *pluginv1.Event_Shutdown:
		s.log.Info("the host asks the plugin to stop", "reason", e.Shutdown.Reason)
		s.runCancel(errSessionEnded)
	case *pluginv1.Event_ProtocolError:
		s.log.Error("the host rejected a command", "op", e.ProtocolError.Op, "err", e.ProtocolError.Message)
		s.complete(&pluginv1.Completion{Op: e.ProtocolError.Op, Result: &pluginv1.Completion_Error{Error: &pluginv1.Error{
			Hresult: uint32(socketerror.EInvalidArg), Op: "plugin protocol", Message: e.ProtocolError.Message}}})
	case *pluginv1.Event_SocketActivity:
		s.acts.push(e.SocketActivity)
	case *pluginv1.Event_ControlChannelEvent:
		s.routeChannel(e.ControlChannelEvent.Channel, ev)
	case *pluginv1.Event_WebSocketMessageReceived:
		s.route(e.WebSocketMessageReceived.Socket, ev)
	case *pluginv1.Event_WebSocketClosed:
		s.routeChannel(e.WebSocketClosed.Socket, ev) // dropped once the WebSocket is closed
	case *pluginv1.Event_Hello:
		s.log.Error("the host sent a second Hello; ignored")
	default:
		s.log.Warn("unknown event from the host; ignored (is the SDK older than the host?)", "event", fmt.Sprintf("%T", ev.Event))
	}
}

// complete ends the call a completion is for.
func (s *session) complete(comp *pluginv1.Completion) {
	s.mu.Lock()
	c, ok := s.pending[comp.Op]
	if !ok {
		s.mu.Unlock()
		if comp.Op != 0 {
			s.log.Warn("completion for no operation in flight; ignored", "op", comp.Op)
		}
		return
	}
	if !comp.More {
		delete(s.pending, comp.Op)
	}
	if cr := comp.GetCreated(); cr != nil && c.sink != nil {
		s.sinks[cr.Socket] = c.sink
	}
	s.mu.Unlock()
	c.finish(comp)
}

// finish hands the call its completion.
func (c *call) finish(comp *pluginv1.Completion) {
	if c.cb != nil {
		c.cb(comp)
		return
	}
	c.res = comp
	close(c.done)
}

// route hands an event to the sink of socket id.
func (s *session) route(id uint64, ev *pluginv1.Event) {
	s.mu.Lock()
	sk := s.sinks[id]
	s.mu.Unlock()
	if sk == nil {
		s.log.Warn("event for an unknown socket; dropped", "socket", id)
		return
	}
	sk.event(ev)
}

// routeChannel hands a control channel's event to it; an event for a
// channel closed meanwhile is dropped.
func (s *session) routeChannel(id uint64, ev *pluginv1.Event) {
	s.mu.Lock()
	sk := s.sinks[id]
	s.mu.Unlock()
	if sk != nil {
		sk.event(ev)
	}
}

// registerLive is register unless the session has ended, which it
// reports as false.
func (s *session) registerLive(id uint64, sk sink) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return false
	}
	s.sinks[id] = sk
	return true
}

// register makes sk receive the events of socket id (a reclaimed
// listener or datagram socket).
func (s *session) register(id uint64, sk sink) {
	s.mu.Lock()
	s.sinks[id] = sk
	s.mu.Unlock()
}

// forget stops routing events to socket id.
func (s *session) forget(id uint64) {
	s.mu.Lock()
	delete(s.sinks, id)
	s.mu.Unlock()
}

// end ends the session: every call in flight fails, every sink stops, and
// the session's context ends with cause.
func (s *session) end(cause error) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended = true
	pending := s.pending
	sinks := s.sinks
	s.pending, s.sinks = nil, nil
	s.mu.Unlock()
	s.cancel(cause)
	for op, c := range pending {
		c.finish(&pluginv1.Completion{Op: op, Result: &pluginv1.Completion_Error{Error: closedError("the session with the host ended")}})
	}
	for _, sk := range sinks {
		sk.sessionEnded()
	}
}

// endedError is the error of an operation tried after the session ended.
func endedError(op string) error {
	return &socketerror.Error{Op: op, Status: socketerror.OperationAborted, HResult: socketerror.EClosed,
		Message: "the session with the host ended", Err: errSessionEnded}
}
