package sdk

import (
	"context"
	"sync"

	"github.com/netrun/netrun/bindings/plugin/proto/pluginv1"
	"github.com/netrun/netrun/runtime/event"
	"github.com/netrun/netrun/runtime/socketerror"
)

// ControlChannelTriggerStatus is WinRT's ControlChannelTriggerStatus,
// what WaitForPushEnabled reports, with its values.
type ControlChannelTriggerStatus int32

// The ControlChannelTriggerStatus values, numbered as in WinRT; the host
// reports SoftwareSlotAllocated, TransportDisconnected and PolicyError.
const (
	HardwareSlotRequested ControlChannelTriggerStatus = 0
	SoftwareSlotAllocated ControlChannelTriggerStatus = 1
	HardwareSlotAllocated ControlChannelTriggerStatus = 2
	PolicyError           ControlChannelTriggerStatus = 3
	SystemError           ControlChannelTriggerStatus = 4
	TransportDisconnected ControlChannelTriggerStatus = 5
	ServiceUnavailable    ControlChannelTriggerStatus = 6
)

// ControlChannelTriggerResourceType is WinRT's
// ControlChannelTriggerResourceType: the slot a channel asks for.
type ControlChannelTriggerResourceType int32

// The ControlChannelTriggerResourceType values, numbered as in WinRT.
const (
	// RequestSoftwareSlot is the default.
	RequestSoftwareSlot ControlChannelTriggerResourceType = 0
	// RequestHardwareSlot is given a software slot: netrun has none.
	RequestHardwareSlot ControlChannelTriggerResourceType = 1
)

// ControlChannelTriggerEventDetails is the argument of KeepAliveTrigger
// and PushNotificationTrigger.
type ControlChannelTriggerEventDetails struct {
	// ControlChannelTrigger is the channel that raised the event.
	ControlChannelTrigger *ControlChannelTrigger
	// CurrentKeepAliveIntervalInMinutes is the channel's keep-alive
	// interval when the host raised the event.
	CurrentKeepAliveIntervalInMinutes float64
}

// ControlChannelTriggerResetEventDetails is the argument of ResetTrigger:
// the transport in use dropped, and the channel is disarmed.
type ControlChannelTriggerResetEventDetails struct {
	// ControlChannelTrigger is the channel that raised the event.
	ControlChannelTrigger *ControlChannelTrigger
	// Err says why the transport dropped, when known: nil for a peer
	// that closed the connection cleanly.
	Err error
}

// ControlChannelTrigger is runtime/trigger's ControlChannelTrigger (WinRT's)
// as a plugin uses it: the channel lives on the host's socket broker and
// keeps one of the plugin's StreamSockets alive. Make one with
// Host.NewControlChannelTrigger, add handlers, connect the socket, call
// UsingTransport and WaitForPushEnabled. KeepAliveTrigger is then raised
// every current keep-alive interval (the owner sends its protocol's
// keep-alive), PushNotificationTrigger when data arrives (the owner reads
// it) and ResetTrigger once when the transport drops.
//
// Handlers run on the channel's own goroutine, one event at a time; an
// event raised with no handler is dropped, as in the runtime. The channel
// must be closed; the host closes it when the plugin instance ends. All
// methods are safe for concurrent use.
type ControlChannelTrigger struct {
	// immutable after NewControlChannelTrigger
	h         *Host
	id        uint64
	channelID string
	keepAlive event.Event[*ControlChannelTriggerEventDetails]
	push      event.Event[*ControlChannelTriggerEventDetails]
	reset     event.Event[*ControlChannelTriggerResetEventDetails]
	wake      chan struct{} // capacity 1: items were added
	done      chan struct{} // closed by stop

	mu      sync.Mutex // guards the fields below
	items   []*pluginv1.ControlChannelEvent
	stopped bool
}

// NewControlChannelTrigger is WinRT's ControlChannelTrigger constructor:
// it makes a control channel named channelID (at most 64 bytes) with a
// server keep-alive interval in minutes (fractions accepted, from 10 ms
// to 1439 minutes) on the host's socket broker. It fails if the host has
// no broker or an argument is wrong, with an error naming it.
func (h *Host) NewControlChannelTrigger(ctx context.Context, channelID string, serverKeepAliveIntervalInMinutes float64, resourceType ControlChannelTriggerResourceType) (*ControlChannelTrigger, error) {
	const op = "ControlChannelTrigger"
	res, err := h.s.do(ctx, op, &pluginv1.Command{Command: &pluginv1.Command_ControlChannelCreate{ControlChannelCreate: &pluginv1.ControlChannelCreate{
		ChannelId: channelID, ServerKeepAliveIntervalMinutes: serverKeepAliveIntervalInMinutes, ResourceType: int32(resourceType)}}}, nil)
	if err != nil {
		return nil, err
	}
	c := &ControlChannelTrigger{h: h, id: res.GetControlChannel().GetChannel(), channelID: channelID,
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	if !h.s.registerLive(c.id, c) {
		return nil, endedError(op) // the host closes the channel with the session
	}
	go c.loop()
	return c, nil
}

// ControlChannelTriggerID returns the channel's id, as given to
// NewControlChannelTrigger.
func (c *ControlChannelTrigger) ControlChannelTriggerID() string { return c.channelID }

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

// Transport is what ControlChannelTrigger.UsingTransport keeps alive: a
// *StreamSocket, a *MessageWebSocket or a *StreamWebSocket of the plugin,
// connected. A server WebSocket (accepted) is not one, as in WinRT.
type Transport interface {
	// transportID returns the transport's socket id in the host.
	transportID(op string) (uint64, error)
}

func (s *StreamSocket) transportID(op string) (uint64, error) {
	if s == nil {
		return 0, socketerror.InvalidArg(op, "transport", "must not be nil")
	}
	return s.conn(op)
}

func (m *MessageWebSocket) transportID(op string) (uint64, error) {
	if m == nil {
		return 0, socketerror.InvalidArg(op, "transport", "must not be nil")
	}
	return m.conn(op)
}

func (s *StreamWebSocket) transportID(op string) (uint64, error) {
	if s == nil {
		return 0, socketerror.InvalidArg(op, "transport", "must not be nil")
	}
	return s.conn(op)
}

// UsingTransport makes t, a connected StreamSocket, MessageWebSocket or
// StreamWebSocket of the plugin, the transport the channel keeps alive.
// It replaces the transport in use without a reset; WaitForPushEnabled
// then arms the channel for t. On a WebSocket the host sends the
// keep-alive (an unsolicited pong) before each KeepAliveTrigger, and any
// frame from the peer raises PushNotificationTrigger; the messages
// themselves still come to the WebSocket's MessageReceived or
// InputStream.
func (c *ControlChannelTrigger) UsingTransport(ctx context.Context, t Transport) error {
	const op = "ControlChannelTrigger.UsingTransport"
	if t == nil {
		return socketerror.InvalidArg(op, "transport", "must not be nil")
	}
	id, err := t.transportID(op)
	if err != nil {
		return err
	}
	_, err = c.h.s.do(ctx, op, &pluginv1.Command{Command: &pluginv1.Command_ControlChannelUsingTransport{
		ControlChannelUsingTransport: &pluginv1.ControlChannelUsingTransport{Channel: c.id, Socket: id}}}, nil)
	return err
}

// WaitForPushEnabled arms the channel for its connected transport and
// returns SoftwareSlotAllocated; TransportDisconnected if the transport
// is not connected or its peer has hung up; PolicyError if the broker's
// limit of armed channels is reached. It fails before UsingTransport and
// after Close.
func (c *ControlChannelTrigger) WaitForPushEnabled(ctx context.Context) (ControlChannelTriggerStatus, error) {
	const op = "ControlChannelTrigger.WaitForPushEnabled"
	res, err := c.h.s.do(ctx, op, &pluginv1.Command{Command: &pluginv1.Command_ControlChannelWaitForPushEnabled{
		ControlChannelWaitForPushEnabled: &pluginv1.ControlChannelWaitForPushEnabled{Channel: c.id}}}, nil)
	if err != nil {
		return 0, err
	}
	return ControlChannelTriggerStatus(res.GetControlChannel().GetStatus()), nil
}

// DecreaseNetworkKeepAliveInterval halves the channel's current
// keep-alive interval, down to a sixteenth of the server interval, and
// returns the new one in minutes.
func (c *ControlChannelTrigger) DecreaseNetworkKeepAliveInterval(ctx context.Context) (float64, error) {
	const op = "ControlChannelTrigger.DecreaseNetworkKeepAliveInterval"
	res, err := c.h.s.do(ctx, op, &pluginv1.Command{Command: &pluginv1.Command_ControlChannelDecreaseKeepAlive{
		ControlChannelDecreaseKeepAlive: &pluginv1.ControlChannelDecreaseKeepAlive{Channel: c.id}}}, nil)
	if err != nil {
		return 0, err
	}
	return res.GetControlChannel().GetCurrentKeepAliveIntervalMinutes(), nil
}

// FlushTransport returns once the writes the host has been given on the
// transport so far have been sent, or ctx ends.
func (c *ControlChannelTrigger) FlushTransport(ctx context.Context) error {
	const op = "ControlChannelTrigger.FlushTransport"
	_, err := c.h.s.do(ctx, op, &pluginv1.Command{Command: &pluginv1.Command_ControlChannelFlushTransport{
		ControlChannelFlushTransport: &pluginv1.ControlChannelFlushTransport{Channel: c.id}}}, nil)
	return err
}

// Close closes the channel in the host and stops its events; the
// transport stays open. It is idempotent and returns nil once the
// channel is closed (or the session has ended).
func (c *ControlChannelTrigger) Close() error {
	if !c.stop() {
		return nil
	}
	c.h.s.forget(c.id)
	_, err := c.h.s.do(context.Background(), "ControlChannelTrigger.Close", &pluginv1.Command{Command: &pluginv1.Command_ControlChannelClose{
		ControlChannelClose: &pluginv1.ControlChannelClose{Channel: c.id}}}, nil)
	if c.h.s.ctx.Err() != nil {
		return nil // the host closed it with the session
	}
	return err
}

// event and sessionEnded make the channel a sink.
func (c *ControlChannelTrigger) event(ev *pluginv1.Event) {
	e := ev.GetControlChannelEvent()
	if e == nil {
		return
	}
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return
	}
	c.items = append(c.items, e)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *ControlChannelTrigger) sessionEnded() { c.stop() }

// stop ends the channel's goroutine; it reports false if it had ended.
// It does not wait: the goroutine may be running a handler that is the
// caller.
func (c *ControlChannelTrigger) stop() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return false
	}
	c.stopped = true
	c.items = nil
	close(c.done)
	return true
}

// loop raises the channel's events in order until stop.
func (c *ControlChannelTrigger) loop() {
	for {
		c.mu.Lock()
		if c.stopped {
			c.mu.Unlock()
			return
		}
		if len(c.items) == 0 {
			c.mu.Unlock()
			select {
			case <-c.wake:
				continue
			case <-c.done:
				return
			}
		}
		e := c.items[0]
		c.items[0] = nil
		c.items = c.items[1:]
		c.mu.Unlock()
		d := &ControlChannelTriggerEventDetails{ControlChannelTrigger: c, CurrentKeepAliveIntervalInMinutes: e.CurrentKeepAliveIntervalMinutes}
		switch e.Kind {
		case pluginv1.ControlChannelEventKind_CONTROL_CHANNEL_EVENT_KIND_KEEP_ALIVE:
			c.keepAlive.Raise(d)
		case pluginv1.ControlChannelEventKind_CONTROL_CHANNEL_EVENT_KIND_PUSH_NOTIFICATION:
			c.push.Raise(d)
		case pluginv1.ControlChannelEventKind_CONTROL_CHANNEL_EVENT_KIND_RESET:
			r := &ControlChannelTriggerResetEventDetails{ControlChannelTrigger: c}
			if e.Error != nil {
				r.Err = errorFrom(e.Error)
			}
			c.reset.Raise(r)
		}
	}
}
