package trigger

import (
	"context"
	"hash/fnv"
	"sync"
	"syscall"
	"time"

	"github.com/netrun/netrun/runtime/event"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/websocket"
)

// Limits of a ControlChannelTrigger.
const (
	// MaxChannelIDLength is the longest channel id, as in WinRT.
	MaxChannelIDLength = 64
	// MaxServerKeepAliveIntervalInMinutes is the longest server
	// keep-alive interval, as in WinRT (about a day).
	MaxServerKeepAliveIntervalInMinutes = 1439
	// MinKeepAliveInterval is the shortest server keep-alive interval.
	// WinRT's is 15 minutes; netrun accepts fractions of a minute down to
	// this, so that tests run in seconds.
	MinKeepAliveInterval = 10 * time.Millisecond
	// maxDecreases bounds DecreaseNetworkKeepAliveInterval: the network
	// interval goes down to a sixteenth of the server interval.
	maxDecreases = 4
)

// ControlChannelTriggerEventDetails is WinRT's
// IControlChannelTriggerEventDetails: the argument of KeepAliveTrigger and
// PushNotificationTrigger.
type ControlChannelTriggerEventDetails struct {
	// ControlChannelTrigger is the channel that raised the event.
	ControlChannelTrigger *ControlChannelTrigger
}

// ControlChannelTriggerResetEventDetails is the argument of ResetTrigger,
// netrun's counterpart of WinRT's ControlChannelReset system trigger: the
// transport in use dropped.
type ControlChannelTriggerResetEventDetails struct {
	// ControlChannelTrigger is the channel that raised the event.
	ControlChannelTrigger *ControlChannelTrigger
	// SoftwareSlotReset is true: the channel's (software) slot was
	// released.
	SoftwareSlotReset bool
	// Err says why the transport dropped, when it is known: nil for a
	// peer that closed the connection cleanly.
	Err error
}

// ControlChannelTrigger is WinRT's ControlChannelTrigger: it keeps one
// long-lived transport (a sockets.StreamSocket, a
// websocket.MessageWebSocket or a websocket.StreamWebSocket) alive and
// tells its owner when to act.
//
// Make one with [Broker.NewControlChannelTrigger], call UsingTransport
// with the transport before it connects, connect it, then call
// WaitForPushEnabled. From then on:
//   - KeepAliveTrigger is raised every CurrentKeepAliveInterval (the
//     server interval, shortened by DecreaseNetworkKeepAliveInterval), for
//     the owner to send its protocol's keep-alive. On a WebSocket the
//     channel sends the keep-alive itself first, as WinRT's
//     WebSocketKeepAlive task does: an unsolicited pong, a heartbeat the
//     peer does not answer (RFC 6455, section 5.5.3).
//   - TCP keep-alive is on for the transport's connection, probing after
//     CurrentKeepAliveInterval of silence (less up to a tenth, so that
//     channels made together do not probe together), so that NATs and
//     proxies keep the connection even if the owner sends nothing.
//   - PushNotificationTrigger is raised when bytes arrive on the
//     transport, whether or not the owner keeps a read posted; the owner
//     reads them (the channel reads nothing). Arrivals close together may
//     raise one push. On a WebSocket, any frame from the peer counts, a
//     ping or a close frame too. Bytes that arrived before the transport
//     dropped raise their push before ResetTrigger.
//   - ResetTrigger is raised once when the transport drops — the peer
//     closes or resets it, it fails, or it is closed locally — and the
//     status becomes TransportDisconnected. The owner connects a new
//     transport and calls UsingTransport and WaitForPushEnabled again.
//     A drop is seen at once, except a local close of a StreamSocket,
//     seen at the next keep-alive at the latest.
//
// Events are raised on the broker's goroutines, shared by every channel of
// the host: handlers must return soon and hand long work to a goroutine of
// their own. No goroutine runs for an idle channel.
//
// Closing: the owner must Close the channel, which stops its events; the
// transport stays open, the owner's to close. Concurrency: all methods
// are safe for concurrent use.
//
// Departures from WinRT: intervals are time.Durations, and the minutes
// accessors take and return fractions; ServerKeepAliveInterval accepts
// down to MinKeepAliveInterval, not 15 minutes; WaitForPushEnabled does
// not block; there are no hardware slots (a RequestHardwareSlot channel
// gets a software slot, as WinRT falls back on machines without connected
// standby); the reset event is netrun's ResetTrigger, raised for a
// transport that drops.
type ControlChannelTrigger struct {
	// immutable after NewControlChannelTrigger
	b         *Broker
	id        string
	resource  ControlChannelTriggerResourceType
	keepAlive event.Event[*ControlChannelTriggerEventDetails]
	push      event.Event[*ControlChannelTriggerEventDetails]
	reset     event.Event[*ControlChannelTriggerResetEventDetails]
	details   ControlChannelTriggerEventDetails
	ka        timerEntry // the keep-alive timer; its schedule is the scheduler's

	mu        sync.Mutex // guards the fields below; taken before b.mu
	server    time.Duration
	decreases int
	tr        transport
	status    ControlChannelTriggerStatus
	armed     bool   // push enabled for tr
	gen       uint64 // counts arms: events of an earlier one are stale
	rc        syscall.RawConn
	received  uint64 // the transport's tcpi_bytes_received at the last push
	watch     uint64 // the poller's token, 0 if none
	closedTok event.Token
	hasClosed bool // closedTok is registered on tr's Closed event
	closed    bool
}

// NewControlChannelTrigger returns a control channel with id channelID (at
// most 64 characters) and a server keep-alive interval in minutes,
// fractions accepted, from MinKeepAliveInterval to 1439 minutes. It is
// WinRT's ControlChannelTrigger constructor; resourceType is
// RequestSoftwareSlot unless the owner asks for a hardware slot.
func (b *Broker) NewControlChannelTrigger(channelID string, serverKeepAliveIntervalInMinutes float64, resourceType ControlChannelTriggerResourceType) (*ControlChannelTrigger, error) {
	const op = "ControlChannelTrigger"
	switch {
	case channelID == "":
		return nil, socketerror.InvalidArg(op, "channelId", "must not be empty")
	case len(channelID) > MaxChannelIDLength:
		return nil, socketerror.InvalidArg(op, "channelId", "is %d bytes long; at most %d", len(channelID), MaxChannelIDLength)
	case resourceType != RequestSoftwareSlot && resourceType != RequestHardwareSlot:
		return nil, socketerror.InvalidArg(op, "resourceRequestType", "%d is not a ControlChannelTriggerResourceType", resourceType)
	}
	d, err := keepAliveInterval(op, serverKeepAliveIntervalInMinutes)
	if err != nil {
		return nil, err
	}
	c := &ControlChannelTrigger{b: b, id: channelID, resource: resourceType, server: d, status: TransportDisconnected}
	c.details.ControlChannelTrigger = c
	c.ka.fire = c.keepAliveDue
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, socketerror.Closed(op)
	}
	b.channels[c] = struct{}{}
	return c, nil
}

// keepAliveInterval converts and checks an interval in minutes.
func keepAliveInterval(op string, minutes float64) (time.Duration, error) {
	if !(minutes <= MaxServerKeepAliveIntervalInMinutes) { // NaN too
		return 0, socketerror.InvalidArg(op, "serverKeepAliveIntervalInMinutes", "%v is over %d minutes", minutes, MaxServerKeepAliveIntervalInMinutes)
	}
	d := time.Duration(minutes * float64(time.Minute))
	if d < MinKeepAliveInterval {
		return 0, socketerror.InvalidArg(op, "serverKeepAliveIntervalInMinutes", "%v minutes is under the least interval, %v", minutes, MinKeepAliveInterval)
	}
	return d, nil
}

// ControlChannelTriggerID returns the channel's id.
func (c *ControlChannelTrigger) ControlChannelTriggerID() string { return c.id }

// ResourceType returns the slot the channel asked for.
func (c *ControlChannelTrigger) ResourceType() ControlChannelTriggerResourceType { return c.resource }

// IsWakeFromLowPowerSupported reports false: netrun has no connected
// standby to wake from.
func (c *ControlChannelTrigger) IsWakeFromLowPowerSupported() bool { return false }

// KeepAliveTrigger is raised when the transport is due a keep-alive.
func (c *ControlChannelTrigger) KeepAliveTrigger() *event.Event[*ControlChannelTriggerEventDetails] {
	return &c.keepAlive
}

// PushNotificationTrigger is raised when data arrives on the transport.
func (c *ControlChannelTrigger) PushNotificationTrigger() *event.Event[*ControlChannelTriggerEventDetails] {
	return &c.push
}

// ResetTrigger is raised once when the transport in use drops.
func (c *ControlChannelTrigger) ResetTrigger() *event.Event[*ControlChannelTriggerResetEventDetails] {
	return &c.reset
}

// ServerKeepAliveInterval returns the server keep-alive interval.
func (c *ControlChannelTrigger) ServerKeepAliveInterval() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.server
}

// ServerKeepAliveIntervalInMinutes returns the server keep-alive interval
// in minutes, with fractions.
func (c *ControlChannelTrigger) ServerKeepAliveIntervalInMinutes() float64 {
	return c.ServerKeepAliveInterval().Minutes()
}

// SetServerKeepAliveIntervalInMinutes changes the server keep-alive
// interval, within the bounds of NewControlChannelTrigger. A keep-alive
// now due sooner than planned is moved forward.
func (c *ControlChannelTrigger) SetServerKeepAliveIntervalInMinutes(minutes float64) error {
	const op = "ControlChannelTrigger.ServerKeepAliveIntervalInMinutes"
	d, err := keepAliveInterval(op, minutes)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return socketerror.Closed(op)
	}
	c.server = d
	c.intervalChangedLocked()
	return nil
}

// CurrentKeepAliveInterval returns the network keep-alive interval: the
// server interval, halved by each DecreaseNetworkKeepAliveInterval.
// KeepAliveTrigger is raised, and TCP keep-alive probes, at this
// interval.
func (c *ControlChannelTrigger) CurrentKeepAliveInterval() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.currentLocked()
}

// CurrentKeepAliveIntervalInMinutes returns CurrentKeepAliveInterval in
// minutes, with fractions.
func (c *ControlChannelTrigger) CurrentKeepAliveIntervalInMinutes() float64 {
	return c.CurrentKeepAliveInterval().Minutes()
}

func (c *ControlChannelTrigger) currentLocked() time.Duration { return c.server >> c.decreases }

// DecreaseNetworkKeepAliveInterval tells the channel that connections
// keep being dropped, so that the network keep-alive interval is too
// long: it halves CurrentKeepAliveInterval, down to a sixteenth of the
// server interval, and the next keep-alive comes sooner if it is now due.
func (c *ControlChannelTrigger) DecreaseNetworkKeepAliveInterval() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.decreases < maxDecreases {
		c.decreases++
		c.intervalChangedLocked()
	}
}

// intervalChangedLocked applies a new current interval to an armed
// channel. c.mu must be held.
func (c *ControlChannelTrigger) intervalChangedLocked() {
	if !c.armed {
		return
	}
	cur := c.currentLocked()
	next := c.b.clock.Now().Add(cur)
	if at, ok := c.b.sched.scheduled(&c.ka); !ok || at.After(next) {
		c.b.sched.schedule(&c.ka, next)
	}
	c.setTCPKeepAliveLocked()
}

// setTCPKeepAliveLocked sets the transport's TCP keep-alive to the
// current interval, less up to a tenth chosen by the channel id: channels
// made together would otherwise probe together, a burst that a host with
// thousands of them (and its loopback queue, 1,000 packets by default)
// does not absorb. c.mu must be held.
func (c *ControlChannelTrigger) setTCPKeepAliveLocked() {
	if c.rc == nil {
		return
	}
	h := fnv.New32a()
	h.Write([]byte(c.id))
	cur := c.currentLocked()
	cur -= cur / 10 * time.Duration(h.Sum32()%1000) / 1000
	idle := max(1, int(cur.Round(time.Second)/time.Second))
	if err := setTCPKeepAlive(c.rc, idle, max(1, idle/4)); err != nil {
		c.b.log.Debug("control channel: setting TCP keep-alive failed", "channel", c.id, "err", err)
	}
}

// UsingTransport makes obj, a *sockets.StreamSocket, a
// *websocket.MessageWebSocket or a *websocket.StreamWebSocket, the
// transport the channel keeps alive; call it before the transport
// connects. It replaces the transport in use, if any, without a reset:
// WaitForPushEnabled then arms the channel for the new one.
func (c *ControlChannelTrigger) UsingTransport(obj any) error {
	const op = "ControlChannelTrigger.UsingTransport"
	tr, err := transportOf(op, obj)
	if err != nil {
		return err
	}
	return c.use(op, tr)
}

// use makes tr the transport in use.
func (c *ControlChannelTrigger) use(op string, tr transport) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return socketerror.Closed(op)
	}
	c.disarmLocked()
	c.tr = tr
	c.status = TransportDisconnected
	return nil
}

// TransportObject returns the object given to UsingTransport, or nil.
func (c *ControlChannelTrigger) TransportObject() any {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tr == nil {
		return nil
	}
	return c.tr.object()
}

// Status returns what WaitForPushEnabled last reported, or
// TransportDisconnected after the transport dropped (a netrun
// extension).
func (c *ControlChannelTrigger) Status() ControlChannelTriggerStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// WaitForPushEnabled arms the channel for its connected transport: it
// starts the keep-alives, turns TCP keep-alive on and starts watching the
// transport for data and for a drop. It returns SoftwareSlotAllocated on
// success (also when already armed); TransportDisconnected if the
// transport is not connected, closed, or its peer has hung up;
// PolicyError if the broker's MaxControlChannels are armed already. It
// does not block, unlike WinRT's. It fails with E_ILLEGAL_METHOD_CALL
// before UsingTransport and RO_E_CLOSED after Close.
func (c *ControlChannelTrigger) WaitForPushEnabled() (ControlChannelTriggerStatus, error) {
	const op = "ControlChannelTrigger.WaitForPushEnabled"
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return 0, socketerror.Closed(op)
	case c.tr == nil:
		return 0, socketerror.IllegalCall(op, "no transport: call UsingTransport first")
	case c.armed:
		return c.status, nil
	}
	rc, err := c.tr.rawConn()
	var received uint64
	if err == nil && rc != nil {
		var ended bool
		if received, ended, err = sockState(rc); err == nil && ended {
			err = errHungUp
		}
	}
	if err != nil {
		c.status = TransportDisconnected
		return c.status, nil
	}
	b := c.b
	b.mu.Lock()
	switch {
	case b.closed:
		b.mu.Unlock()
		return 0, socketerror.Closed(op)
	case b.maxPushing > 0 && b.pushing >= b.maxPushing:
		b.mu.Unlock()
		c.status = PolicyError
		return c.status, nil
	}
	b.pushing++
	b.mu.Unlock()

	c.gen++
	gen := c.gen
	c.armed, c.status, c.rc, c.received = true, SoftwareSlotAllocated, rc, received
	if ev := c.tr.closed(); ev != nil {
		c.closedTok, c.hasClosed = ev.Add(func(a *websocket.ClosedEventArgs) { c.drop(gen, a.Err()) }), true
	}
	if rc != nil {
		c.setTCPKeepAliveLocked()
		tok, err := b.poll.add(rc, func() { c.polled(gen) })
		if err != nil {
			b.log.Warn("control channel: cannot watch the transport; no push notifications", "channel", c.id, "err", err)
		}
		c.watch = tok
	}
	b.sched.schedule(&c.ka, b.clock.Now().Add(c.currentLocked()))
	return c.status, nil
}

// errHungUp is why a transport whose peer has hung up cannot be armed.
var errHungUp = socketerror.IllegalCall("ControlChannelTrigger", "the transport's peer has closed the connection")

// disarmLocked stops the keep-alives and the watches of an armed channel,
// without a reset. c.mu must be held.
func (c *ControlChannelTrigger) disarmLocked() {
	if !c.armed {
		return
	}
	c.armed = false
	b := c.b
	b.sched.cancel(&c.ka)
	if c.watch != 0 {
		b.poll.remove(c.watch)
		c.watch = 0
	}
	if c.hasClosed {
		if ev := c.tr.closed(); ev != nil {
			ev.Remove(c.closedTok)
		}
		c.hasClosed = false
	}
	c.rc = nil
	b.mu.Lock()
	b.pushing--
	b.mu.Unlock()
}

// drop handles the end of the transport armed as gen: the channel is
// disarmed, reports TransportDisconnected and raises ResetTrigger.
func (c *ControlChannelTrigger) drop(gen uint64, err error) {
	c.mu.Lock()
	live, rc := c.armed && c.gen == gen, c.rc
	c.mu.Unlock()
	if !live {
		return
	}
	// Bytes that came before the end raise their push before the reset,
	// whether the poller or the transport's Closed event saw the end
	// first.
	if rc != nil {
		c.pushReceived(gen, rc)
	}
	c.mu.Lock()
	if !c.armed || c.gen != gen {
		c.mu.Unlock()
		return
	}
	c.disarmLocked()
	c.status = TransportDisconnected
	c.mu.Unlock()
	c.reset.Raise(&ControlChannelTriggerResetEventDetails{ControlChannelTrigger: c, SoftwareSlotReset: true, Err: err})
}

// polled handles a poller event for the transport armed as gen: a push
// if bytes arrived since the last push, a reset if the connection ended.
func (c *ControlChannelTrigger) polled(gen uint64) {
	c.mu.Lock()
	live, rc := c.armed && c.gen == gen, c.rc
	c.mu.Unlock()
	if live {
		c.check(gen, rc)
	}
}

// check reads the state of the transport armed as gen and raises what it
// calls for: PushNotificationTrigger if bytes arrived since the last
// push, and the reset if the connection ended. It reports whether the
// transport lives.
func (c *ControlChannelTrigger) check(gen uint64, rc syscall.RawConn) bool {
	if ended, err := c.pushReceived(gen, rc); ended {
		c.drop(gen, err)
		return false
	}
	return true
}

// pushReceived raises PushNotificationTrigger if bytes arrived on the
// transport armed as gen since the last push, and reports whether its
// connection has ended (with why, if the socket could not be read).
func (c *ControlChannelTrigger) pushReceived(gen uint64, rc syscall.RawConn) (ended bool, err error) {
	received, ended, err := sockState(rc)
	c.mu.Lock()
	push := c.armed && c.gen == gen && received > c.received
	if push {
		c.received = received
	}
	c.mu.Unlock()
	if push {
		c.push.Raise(&c.details)
	}
	return ended, err
}

// keepAliveDue runs on the scheduler when the armed channel is due a
// keep-alive: it checks that the transport lives, schedules the next
// keep-alive, sends a WebSocket's and raises KeepAliveTrigger.
func (c *ControlChannelTrigger) keepAliveDue(due, now time.Time) {
	c.mu.Lock()
	if !c.armed {
		c.mu.Unlock()
		return
	}
	gen, tr, rc := c.gen, c.tr, c.rc
	cur := c.currentLocked()
	next := due.Add(cur)
	if !next.After(now) {
		next = now.Add(cur) // late: do not catch up with a burst
	}
	c.b.sched.schedule(&c.ka, next)
	c.mu.Unlock()
	// A transport closed here, whose socket left the poller without an
	// event, is noticed now; a push the poller missed is raised now.
	if rc != nil && !c.check(gen, rc) {
		return
	}
	if tr.closed() != nil {
		// A pong may wait behind a large frame being sent: not on the
		// scheduler's goroutine.
		c.b.goFunc(func() {
			if err := tr.keepAlive(); err != nil {
				c.drop(gen, err)
			}
		})
	}
	c.keepAlive.Raise(&c.details)
}

// FlushTransport waits until the writes issued on the transport so far
// have been sent, or ctx ends: WinRT's FlushTransport, which a handler
// calls before it returns.
func (c *ControlChannelTrigger) FlushTransport(ctx context.Context) error {
	const op = "ControlChannelTrigger.FlushTransport"
	c.mu.Lock()
	tr, closed := c.tr, c.closed
	c.mu.Unlock()
	switch {
	case closed:
		return socketerror.Closed(op)
	case tr == nil:
		return socketerror.IllegalCall(op, "no transport: call UsingTransport first")
	}
	return tr.flush(ctx)
}

// Close releases the channel: no more events are raised. The transport is
// left open. Close is idempotent and returns nil.
func (c *ControlChannelTrigger) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.disarmLocked()
	c.mu.Unlock()
	c.b.mu.Lock()
	delete(c.b.channels, c)
	c.b.mu.Unlock()
	return nil
}
