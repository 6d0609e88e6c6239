package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/netrun/netrun/bindings/plugin/proto/pluginv1"
	"github.com/netrun/netrun/bindings/plugin/sdk"
	"github.com/netrun/netrun/runtime/isolation"
)

// maxBatchBytes bounds the payload of one message the host sends; the
// plugin's gRPC server accepts 4 MiB by default.
const maxBatchBytes = 2 << 20

// instance is one run of a plugin's process and its session.
//
// Goroutines: the receiver (commands, in stream order; it never blocks on
// a socket), the sender (event batches), the pinger, and the socket
// workers (reads, writes, connects, binds, closes), all counted by the
// supervisor's WaitGroup.
//
// Lock order: instance.mu, then a socket's mu.
type instance struct {
	// immutable after newInstance
	sv     *supervisor
	n      int
	log    *slog.Logger
	client *plugin.Client
	cmd    *exec.Cmd
	conn   *sdk.Conn
	ctx    context.Context // ends with the session
	cancel context.CancelCauseFunc
	wake   chan struct{} // capacity 1: the sender has events
	ended  chan struct{} // closed by end
	stream grpc.BidiStreamingClient[pluginv1.HostMessage, pluginv1.PluginMessage]

	lastPong atomic.Int64 // unix nanoseconds of the last Pong
	batching atomic.Bool  // the receiver is running a batch: post need not wake the sender

	mu      sync.Mutex // guards the fields below
	queue   []*pluginv1.Event
	spare   []*pluginv1.Event
	queued  int // bytes of payload in queue
	over    bool
	sending bool // a goroutine is in drain
	done    bool // end has run
	cause   error
	sockets map[uint64]*hsocket // the sockets the instance owns
	ops     map[uint64]*op      // operations in flight
	// channels are the instance's control channels, closed when it ends.
	channels map[uint64]*controlChannel
	// unregister ends the instance's SocketActivityTrigger registration
	// with the runtime broker; nil if none.
	unregister func()
}

// op is an operation in flight, which Cancel can end.
type op struct {
	id     uint64
	cancel context.CancelFunc
}

func newInstance(sv *supervisor, n int, client *plugin.Client, cmd *exec.Cmd, conn *sdk.Conn) *instance {
	ctx, cancel := context.WithCancelCause(context.Background())
	return &instance{
		sv: sv, n: n, log: sv.log.With("instance", n), client: client, cmd: cmd, conn: conn,
		ctx: ctx, cancel: cancel, wake: make(chan struct{}, 1), ended: make(chan struct{}),
		sockets: map[uint64]*hsocket{}, ops: map[uint64]*op{}, channels: map[uint64]*controlChannel{},
	}
}

// open opens the session and sends Hello, listing the sockets the broker
// keeps for the plugin, then starts the instance's goroutines.
func (i *instance) open() error {
	stream, err := i.conn.Client.Session(i.ctx, grpc.MaxCallRecvMsgSize(maxRecvMsg))
	if err != nil {
		return fmt.Errorf("opening the session: %w", err)
	}
	i.stream = stream
	hello := &pluginv1.Hello{
		ProtocolVersion: sdk.ProtocolVersion,
		PluginName:      i.sv.cfg.Name,
		Instance:        uint32(i.n),
		MaxPayload:      uint32(i.sv.r.opts.MaxPayload),
		Transferred:     i.sv.broker.list(),
		Held:            i.held(),
	}
	if caps, ok := i.sv.env.Guard.(isolation.Capabilities); ok {
		hello.Capabilities = caps.Names()
	}
	if err := stream.Send(&pluginv1.HostMessage{Events: []*pluginv1.Event{{Event: &pluginv1.Event_Hello{Hello: hello}}}}); err != nil {
		return fmt.Errorf("sending Hello: %w", err)
	}
	i.lastPong.Store(time.Now().UnixNano())
	i.sv.goFunc(i.sender)
	i.sv.goFunc(i.receiver)
	i.sv.goFunc(i.pinger)
	i.registerTask()
	i.sv.goFunc(func() {
		select {
		case <-i.conn.Exited.Done():
			i.end(errors.New("the plugin process exited"))
		case <-i.ended:
		}
	})
	return nil
}

// wait returns once the instance has ended and its process is gone, with
// a description of how it ended; stop ends it first. It closes the
// instance's sockets or hands them to the broker.
func (i *instance) wait(stop context.Context) string {
	select {
	case <-i.ended:
	case <-stop.Done():
		i.shutdown()
	}
	i.mu.Lock()
	cause := i.cause
	i.mu.Unlock()
	// Kill closes the connection and gives the process two seconds to
	// exit before it kills it; a crashed process is gone already.
	i.client.Kill()
	i.cleanup()
	status := exitStatus(i.client, i.cmd, cause)
	i.sv.r.observe(Event{Kind: Exited, Plugin: i.sv.cfg.Name, Instance: i.n, Err: cause})
	return status
}

// shutdown asks the plugin to stop and waits for its session to end, at
// most the shutdown timeout.
func (i *instance) shutdown() {
	i.post(&pluginv1.Event{Event: &pluginv1.Event_Shutdown{Shutdown: &pluginv1.Shutdown{Reason: "the host is stopping"}}})
	t := time.NewTimer(i.sv.r.opts.ShutdownTimeout)
	defer t.Stop()
	select {
	case <-i.ended:
	case <-t.C:
		i.log.Warn("plugin did not stop within the shutdown timeout; killing it", "timeout", i.sv.r.opts.ShutdownTimeout)
	}
	i.end(errStopping)
}

// end ends the session with cause; the first cause is kept.
func (i *instance) end(cause error) {
	i.mu.Lock()
	if i.done {
		i.mu.Unlock()
		return
	}
	i.done = true
	i.cause = cause
	i.mu.Unlock()
	i.cancel(cause)
	close(i.ended)
}

// cleanup closes the sockets and control channels the instance owned,
// except the transferred sockets, which go to the broker, and fails the
// operations in flight.
func (i *instance) cleanup() {
	i.mu.Lock()
	socks := i.sockets
	ops := i.ops
	chs := i.channels
	i.sockets, i.ops, i.channels = map[uint64]*hsocket{}, map[uint64]*op{}, map[uint64]*controlChannel{}
	i.queue = nil
	unregister := i.unregister
	i.unregister = nil
	i.mu.Unlock()
	if unregister != nil {
		unregister()
	}
	closeChannels(chs)
	for _, o := range ops {
		o.cancel()
	}
	closed, kept := 0, 0
	for _, hs := range socks {
		if hs.isTransferred() && i.sv.ctx.Err() == nil {
			i.sv.broker.park(hs)
			kept++
		} else {
			// Concurrently: a stream socket's Close may wait for its
			// writes to a slow peer.
			i.sv.goFunc(hs.closeNow)
			closed++
		}
	}
	if closed+kept > 0 {
		i.log.Info("plugin's sockets closed or kept", "closed", closed, "kept_transferred", kept)
	}
}

// post queues ev for the plugin. It never blocks; a plugin that lets
// more than MaxQueued bytes wait is killed. It reports false if the
// session has ended and ev was dropped.
func (i *instance) post(ev *pluginv1.Event) bool {
	size := eventSize(ev)
	i.mu.Lock()
	if i.done {
		i.mu.Unlock()
		return false
	}
	i.queue = append(i.queue, ev)
	i.queued += size
	over := i.queued > i.sv.r.opts.MaxQueued && !i.over
	if over {
		i.over = true
	}
	i.mu.Unlock()
	if over {
		i.log.Error("plugin does not read its events; killing it", "queued_bytes", i.sv.r.opts.MaxQueued)
		i.end(fmt.Errorf("more than %d bytes of events waited for the plugin", i.sv.r.opts.MaxQueued))
		return false
	}
	if !i.batching.Load() {
		i.signal()
	}
	return true
}

// signal wakes the sender.
func (i *instance) signal() {
	select {
	case i.wake <- struct{}{}:
	default:
	}
}

// eventSize is the payload an event carries, for MaxQueued.
func eventSize(ev *pluginv1.Event) int {
	return len(ev.GetCompletion().GetRead().GetData()) + len(ev.GetMessageReceived().GetData()) + len(ev.GetWebSocketMessageReceived().GetData()) + 64
}

// sender sends what is queued when woken, until the session ends.
func (i *instance) sender() {
	for {
		select {
		case <-i.wake:
		case <-i.ended:
			return
		}
		i.drain()
	}
}

// drain sends what is queued, one message per batch, unless another
// goroutine is sending already: events that arrive while a message is
// sent go into the next one. A socket's read worker calls it after
// posting, which saves waking the sender goroutine on the hot path; it
// must be called with no lock held, never by the receiver.
func (i *instance) drain() {
	var msg pluginv1.HostMessage
	i.mu.Lock()
	if i.sending {
		i.mu.Unlock()
		return
	}
	i.sending = true
	// Let the goroutines that are ready to queue more do so first, for as
	// long as they do (a few rounds at most): a bigger batch costs no more
	// to send.
	for k, n := 0, len(i.queue); k < 4 && n > 0; k++ {
		i.mu.Unlock()
		runtime.Gosched()
		i.mu.Lock()
		if len(i.queue) == n {
			break
		}
		n = len(i.queue)
	}
	for {
		batch := i.queue
		if len(batch) == 0 || i.done {
			i.sending = false
			i.mu.Unlock()
			return
		}
		i.queue = i.spare[:0]
		i.spare = nil
		i.queued = 0
		i.mu.Unlock()
		for rest := batch; len(rest) > 0; {
			n, size := 0, 0
			for n < len(rest) && (n == 0 || size+eventSize(rest[n]) <= maxBatchBytes) {
				size += eventSize(rest[n])
				n++
			}
			msg.Events = rest[:n]
			if err := i.stream.Send(&msg); err != nil {
				i.mu.Lock()
				i.sending = false
				i.mu.Unlock()
				i.end(fmt.Errorf("sending to the plugin: %w", err))
				return
			}
			rest = rest[n:]
		}
		clear(batch)
		i.mu.Lock()
		if i.spare == nil {
			i.spare = batch[:0]
		}
	}
}

// receiver runs the plugin's commands in stream order until the session
// ends.
func (i *instance) receiver() {
	for {
		msg, err := i.stream.Recv()
		if err != nil {
			i.end(fmt.Errorf("the session broke: %w", err))
			return
		}
		// The events the batch's commands cause go out together, in one
		// message, once the batch is done.
		i.batching.Store(true)
		for _, c := range msg.Commands {
			i.handle(c)
		}
		i.batching.Store(false)
		i.signal()
	}
}

// pinger pings the plugin and kills it when pings go unanswered.
func (i *instance) pinger() {
	interval, timeout := i.sv.r.opts.PingInterval, i.sv.r.opts.PingTimeout
	t := time.NewTicker(interval)
	defer t.Stop()
	var seq uint64
	for {
		select {
		case <-t.C:
		case <-i.ended:
			return
		}
		if since := time.Since(time.Unix(0, i.lastPong.Load())); since > timeout {
			i.log.Error("plugin stopped answering pings; killing it", "silent_for", since.Round(time.Millisecond), "timeout", timeout)
			i.end(fmt.Errorf("no answer to pings for %v", since.Round(time.Millisecond)))
			return
		}
		seq++
		i.post(&pluginv1.Event{Event: &pluginv1.Event_Ping{Ping: &pluginv1.Ping{Seq: seq}}})
	}
}
