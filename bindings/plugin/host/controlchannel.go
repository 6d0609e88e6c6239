package host

import (
	"context"

	"github.com/netrun/netrun/bindings/plugin/proto/pluginv1"
	"github.com/netrun/netrun/bindings/plugin/sdk"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/trigger"
	"github.com/netrun/netrun/runtime/websocket"
)

// This file is the plugin projection of runtime/trigger's
// ControlChannelTrigger: a plugin's control channels live on the host's
// shared broker (Options.Broker), are named by ids drawn from the socket
// id counter, post their triggers as ControlChannelEvent, and close when
// the instance ends.

// controlChannel is a plugin's control channel.
type controlChannel struct {
	id uint64
	c  *trigger.ControlChannelTrigger
}

// channelResult is a ControlChannelResult completion for ch, with status.
func channelResult(ch *controlChannel, status trigger.ControlChannelTriggerStatus) *pluginv1.Completion {
	return &pluginv1.Completion{Result: &pluginv1.Completion_ControlChannel{ControlChannel: &pluginv1.ControlChannelResult{
		Channel: ch.id, Status: int32(status), CurrentKeepAliveIntervalMinutes: ch.c.CurrentKeepAliveIntervalInMinutes()}}}
}

// controlChannelCommand runs the control channel commands; it reports
// false for another command.
func (i *instance) controlChannelCommand(ctx context.Context, o *op, c *pluginv1.Command) bool {
	switch cmd := c.Command.(type) {
	case *pluginv1.Command_ControlChannelCreate:
		i.channelCreate(o, cmd.ControlChannelCreate)
	case *pluginv1.Command_ControlChannelUsingTransport:
		const opName = "ControlChannelTrigger.UsingTransport"
		ch, bad := i.channel(opName, cmd.ControlChannelUsingTransport.Channel)
		if bad != nil {
			i.finish(o, bad)
			return true
		}
		obj, bad := i.transport(opName, cmd.ControlChannelUsingTransport.Socket)
		if bad != nil {
			i.finish(o, bad)
			return true
		}
		if err := ch.c.UsingTransport(obj); err != nil {
			i.finish(o, errorResult(err))
			return true
		}
		i.finish(o, doneResult())
	case *pluginv1.Command_ControlChannelWaitForPushEnabled:
		ch, bad := i.channel("ControlChannelTrigger.WaitForPushEnabled", cmd.ControlChannelWaitForPushEnabled.Channel)
		if bad != nil {
			i.finish(o, bad)
			return true
		}
		st, err := ch.c.WaitForPushEnabled()
		if err != nil {
			i.finish(o, errorResult(err))
			return true
		}
		i.finish(o, channelResult(ch, st))
	case *pluginv1.Command_ControlChannelDecreaseKeepAlive:
		ch, bad := i.channel("ControlChannelTrigger.DecreaseNetworkKeepAliveInterval", cmd.ControlChannelDecreaseKeepAlive.Channel)
		if bad != nil {
			i.finish(o, bad)
			return true
		}
		ch.c.DecreaseNetworkKeepAliveInterval()
		i.finish(o, channelResult(ch, ch.c.Status()))
	case *pluginv1.Command_ControlChannelFlushTransport:
		ch, bad := i.channel("ControlChannelTrigger.FlushTransport", cmd.ControlChannelFlushTransport.Channel)
		if bad != nil {
			i.finish(o, bad)
			return true
		}
		i.sv.goFunc(func() {
			if err := ch.c.FlushTransport(ctx); err != nil {
				i.finish(o, errorResult(err))
				return
			}
			i.finish(o, doneResult())
		})
	case *pluginv1.Command_ControlChannelClose:
		ch, bad := i.channel("ControlChannelTrigger.Close", cmd.ControlChannelClose.Channel)
		if bad != nil {
			i.finish(o, bad)
			return true
		}
		i.mu.Lock()
		delete(i.channels, ch.id)
		i.mu.Unlock()
		ch.c.Close()
		i.finish(o, doneResult())
	default:
		return false
	}
	return true
}

// channelCreate makes a control channel on the shared broker and posts
// its triggers to the plugin.
func (i *instance) channelCreate(o *op, c *pluginv1.ControlChannelCreate) {
	const opName = "ControlChannelTrigger"
	b := i.sv.r.opts.Broker
	if b == nil {
		i.finish(o, noBroker(opName))
		return
	}
	cc, err := b.NewControlChannelTrigger(c.ChannelId, c.ServerKeepAliveIntervalMinutes, trigger.ControlChannelTriggerResourceType(c.ResourceType))
	if err != nil {
		i.finish(o, errorResult(err))
		return
	}
	ch := &controlChannel{id: i.newID(), c: cc}
	post := func(kind pluginv1.ControlChannelEventKind, err error) {
		ev := &pluginv1.ControlChannelEvent{Channel: ch.id, Kind: kind, CurrentKeepAliveIntervalMinutes: cc.CurrentKeepAliveIntervalInMinutes()}
		if err != nil {
			ev.Error = sdk.ErrorToProto(err)
		}
		i.post(&pluginv1.Event{Event: &pluginv1.Event_ControlChannelEvent{ControlChannelEvent: ev}})
	}
	cc.KeepAliveTrigger().Add(func(*trigger.ControlChannelTriggerEventDetails) {
		post(pluginv1.ControlChannelEventKind_CONTROL_CHANNEL_EVENT_KIND_KEEP_ALIVE, nil)
	})
	cc.PushNotificationTrigger().Add(func(*trigger.ControlChannelTriggerEventDetails) {
		post(pluginv1.ControlChannelEventKind_CONTROL_CHANNEL_EVENT_KIND_PUSH_NOTIFICATION, nil)
	})
	cc.ResetTrigger().Add(func(d *trigger.ControlChannelTriggerResetEventDetails) {
		post(pluginv1.ControlChannelEventKind_CONTROL_CHANNEL_EVENT_KIND_RESET, d.Err)
	})
	i.mu.Lock()
	if i.done {
		i.mu.Unlock()
		cc.Close()
		i.finish(o, errorResult(socketerror.Closed(opName)))
		return
	}
	i.channels[ch.id] = ch
	i.mu.Unlock()
	i.finish(o, channelResult(ch, cc.Status()))
}

// transport finds the runtime object of the plugin's socket id for
// UsingTransport: a connected StreamSocket or a client MessageWebSocket or
// StreamWebSocket. Any other socket, a server WebSocket included, gets the
// error completion that names what it is.
func (i *instance) transport(op string, id uint64) (any, *pluginv1.Completion) {
	hs, bad := i.lookup(op, id, pluginv1.SocketKind_SOCKET_KIND_NONE)
	if bad != nil {
		return nil, bad
	}
	const want = "a StreamSocket, a MessageWebSocket or a StreamWebSocket"
	switch {
	case hs.stream != nil:
		return hs.stream, nil
	case hs.ws != nil:
		switch c := hs.ws.conn.(type) {
		case *websocket.MessageWebSocket, *websocket.StreamWebSocket:
			return c, nil
		case *websocket.ServerMessageWebSocket:
			return nil, invalid(op, "socket %d is a server MessageWebSocket (accepted); %s needs %s connected by the plugin", id, op, want)
		case *websocket.ServerStreamWebSocket:
			return nil, invalid(op, "socket %d is a server StreamWebSocket (accepted); %s needs %s connected by the plugin", id, op, want)
		}
	}
	return nil, invalid(op, "socket %d is a %s; %s needs %s", id, kindName(hs.kind), op, want)
}

// channel finds the instance's control channel id, or returns the error
// completion that says why it cannot be used.
func (i *instance) channel(op string, id uint64) (*controlChannel, *pluginv1.Completion) {
	i.mu.Lock()
	ch := i.channels[id]
	i.mu.Unlock()
	if ch == nil {
		if id == 0 {
			return nil, invalid(op, "channel id 0 names no control channel (ids come from ControlChannelCreate)")
		}
		return nil, invalid(op, "channel %d is not a control channel open in this plugin (never created, or already closed)", id)
	}
	return ch, nil
}

// closeChannels closes the control channels of an ended instance.
func closeChannels(chs map[uint64]*controlChannel) {
	for _, ch := range chs {
		ch.c.Close()
	}
}
