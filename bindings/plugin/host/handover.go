package host

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/netrun/netrun/bindings/plugin/proto/pluginv1"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
	"github.com/netrun/netrun/runtime/trigger"
)

// This file connects plugins to the host's socket broker (runtime/trigger,
// Options.Broker), which the Lua scripts share: a plugin's task id is its
// name; every instance is registered for it from the start of its
// session; TransferOwnership with hand_over transfers through the broker
// and Reclaim{socket_id} reclaims from it. The restart broker (broker.go)
// still keeps what a plugin marks with a plain TransferOwnership.

// heldForTask counts the sockets the runtime broker holds for the
// plugin's task.
func (sv *supervisor) heldForTask() int {
	if b := sv.r.opts.Broker; b != nil {
		return len(b.AllSockets(sv.cfg.Name))
	}
	return 0
}

// waitActivity waits, for a lazy plugin that is not running, until a
// socket held for it has activity: one its instances transferred for
// restarts (the plugin host's own broker), or a SocketActivityTrigger for
// its task in the runtime broker, which stays pending for the instance
// it starts. It reports false if the plugin is being stopped.
func (sv *supervisor) waitActivity() bool {
	b := sv.r.opts.Broker
	if b == nil {
		return sv.broker.waitActivity(sv.ctx)
	}
	var raised atomic.Bool
	unregister := b.RegisterTask(sv.cfg.Name, func(*trigger.SocketActivityTriggerDetails) bool {
		raised.Store(true)
		sv.broker.signal()
		return false // left pending for the instance
	})
	defer unregister()
	for _, h := range b.AllSockets(sv.cfg.Name) {
		if h.Buffered() > 0 {
			return true // activity came before the wait
		}
	}
	return sv.broker.waitActivityOr(sv.ctx, raised.Load)
}

// held lists the sockets the runtime broker holds for the plugin's task,
// for Hello.
func (i *instance) held() []*pluginv1.SocketActivity {
	b := i.sv.r.opts.Broker
	if b == nil {
		return nil
	}
	var out []*pluginv1.SocketActivity
	for _, h := range b.AllSockets(i.sv.cfg.Name) {
		out = append(out, activityEvent(trigger.ReasonNone, h))
	}
	return out
}

// registerTask registers the instance as the plugin's SocketActivityTrigger
// task; cleanup unregisters it. Triggers raised once the session has ended
// are not taken: they wait for the next instance.
func (i *instance) registerTask() {
	b := i.sv.r.opts.Broker
	if b == nil {
		return
	}
	unregister := b.RegisterTask(i.sv.cfg.Name, func(d *trigger.SocketActivityTriggerDetails) bool {
		return i.post(&pluginv1.Event{Event: &pluginv1.Event_SocketActivity{
			SocketActivity: activityEvent(d.Reason, d.SocketInformation)}})
	})
	i.mu.Lock()
	if i.done {
		i.mu.Unlock()
		unregister()
		return
	}
	i.unregister = unregister
	i.mu.Unlock()
}

// activityEvent describes a held socket for the plugin.
func activityEvent(reason trigger.SocketActivityTriggerReason, h *trigger.SocketActivityInformation) *pluginv1.SocketActivity {
	return &pluginv1.SocketActivity{
		Reason:   pluginv1.SocketActivityReason(reason),
		SocketId: h.Id(),
		Kind:     pluginv1.SocketKind(h.SocketKind()),
		TaskId:   h.TaskId(),
		Context:  h.Context(),
		Buffered: uint64(h.Buffered()),
	}
}

// noBroker is the error of a broker command on a host without one.
func noBroker(op string) *pluginv1.Completion {
	return errorResult(socketerror.IllegalCall(op, "this host has no socket broker (Options.Broker)"))
}

// handOver is TransferOwnership with hand_over: the socket leaves the
// plugin for the runtime broker, enabled for c.TaskId (the plugin's name
// if empty). A stream socket's read worker stops first, and the bytes the
// plugin had not read (c.Unread), then any the host read and had not
// delivered, are put back in front of the connection's. If the broker
// refuses the socket, the plugin keeps it.
func (i *instance) handOver(ctx context.Context, o *op, c *pluginv1.TransferOwnership) {
	const opName = "TransferOwnership"
	hs, bad := i.lookup(opName, c.Socket, pluginv1.SocketKind_SOCKET_KIND_NONE)
	if bad == nil {
		bad = notTransferable(opName, hs)
	}
	if bad != nil {
		i.finish(o, bad)
		return
	}
	b := i.sv.r.opts.Broker
	if b == nil || c.SocketId == "" {
		// The plugin keeps the socket: its unread bytes are read again.
		hs.keepUnread(c.Unread)
		if b == nil {
			i.finish(o, noBroker(opName))
		} else {
			i.finish(o, invalid(opName, "hand_over needs a socket_id"))
		}
		return
	}
	task := c.TaskId
	if task == "" {
		task = i.sv.cfg.Name
	}
	i.remove(hs.id)
	i.sv.goFunc(func() {
		var sock any
		var err error
		switch {
		case hs.stream != nil:
			sock = hs.stream
			err = hs.release(ctx, c.Unread)
		case hs.listener != nil:
			sock = hs.listener
		default:
			sock = hs.dgram
		}
		if err == nil {
			err = b.EnableTransferOwnership(sock, task)
		}
		if err == nil {
			err = b.TransferOwnership(ctx, sock, c.SocketId, c.Context, time.Duration(c.KeepAliveMs)*time.Millisecond)
		}
		if err != nil {
			if !i.add(hs) {
				hs.closeNow()
			}
			i.finish(o, errorResult(err))
			return
		}
		hs.mu.Lock()
		hs.hasToken = false // the broker removed the handlers
		hs.mu.Unlock()
		i.finish(o, doneResult())
		i.sv.r.observe(Event{Kind: Transferred, Plugin: i.sv.cfg.Name, Instance: i.n, Socket: hs.id})
	})
}

// release stops the host's reads of a stream socket that leaves the
// plugin and puts unread, then what the host read and had not delivered,
// back in front of the connection's bytes.
func (hs *hsocket) release(ctx context.Context, unread []byte) error {
	hs.mu.Lock()
	hs.owner = nil
	if hs.curRead != nil {
		hs.curCancel()
	}
	readDone := hs.readDone
	hs.mu.Unlock()
	hs.wakeReader()
	if readDone != nil {
		<-readDone
	}
	hs.mu.Lock()
	back := append(append([]byte(nil), unread...), hs.buffered...)
	hs.buffered, hs.retained = nil, nil
	hs.delivered, hs.acked, hs.windowFull = 0, 0, false
	hs.mu.Unlock()
	if err := hs.stream.InputStream().Unread(ctx, back); err != nil {
		hs.keepUnread(back)
		return err
	}
	return nil
}

// keepUnread puts p in front of the bytes the host's next reads of the
// stream socket return, for a plugin that keeps a socket it failed to
// transfer.
func (hs *hsocket) keepUnread(p []byte) {
	if len(p) == 0 {
		return
	}
	hs.mu.Lock()
	hs.buffered = append(append([]byte(nil), p...), hs.buffered...)
	hs.mu.Unlock()
}

// reclaimHeld is Reclaim{socket_id}: it reclaims the socket the runtime
// broker holds under id for the plugin's task and makes it a new socket
// of the instance. A stream socket's held bytes are its first reads; a
// listener's held connections and a datagram socket's held datagrams are
// raised after the completion, before the live ones.
func (i *instance) reclaimHeld(o *op, id string) {
	const opName = "Reclaim"
	b := i.sv.r.opts.Broker
	if b == nil {
		i.finish(o, noBroker(opName))
		return
	}
	h := b.AllSockets(i.sv.cfg.Name)[id]
	if h == nil {
		i.finish(o, invalid(opName, "the socket broker holds no socket %q for the task %q", id, i.sv.cfg.Name))
		return
	}
	i.sv.goFunc(func() {
		hs := &hsocket{id: i.newID(), kind: pluginv1.SocketKind(h.SocketKind())}
		var (
			conns  []*sockets.StreamSocket
			dgrams []trigger.Datagram
			err    error
			sock   any
		)
		switch h.SocketKind() {
		case trigger.KindStreamSocket:
			hs.stream, err = h.StreamSocket()
			sock = hs.stream
		case trigger.KindStreamSocketListener:
			hs.listener, conns, err = h.StreamSocketListener()
			sock = hs.listener
		default:
			hs.dgram, dgrams, err = h.DatagramSocket()
			sock = hs.dgram
		}
		if err != nil {
			i.finish(o, errorResult(err))
			return
		}
		if !i.add(hs) {
			// The instance ended meanwhile: the socket goes back to the
			// broker for the next one.
			for _, s := range conns {
				s.Close()
			}
			if err := b.TransferOwnership(context.Background(), sock, id, h.Context(), 0); err != nil {
				i.log.Warn("a reclaimed socket could not go back to the broker; closed", "socket_id", id, "err", err)
				hs.closeNow()
			}
			return
		}
		i.finish(o, createdResult(hs))
		i.sv.r.observe(Event{Kind: Reclaimed, Plugin: i.sv.cfg.Name, Instance: i.n, Socket: hs.id})
		for _, s := range conns {
			i.connectionReceived(hs, s)
		}
		for _, d := range dgrams {
			m := &pluginv1.MessageReceived{Socket: hs.id, Data: d.Data,
				RemoteAddress: d.Remote.Addr().Unmap().String(), RemotePort: portString(d.Remote)}
			if d.Local.IsValid() {
				m.LocalAddress = d.Local.Unmap().String()
			}
			i.post(&pluginv1.Event{Event: &pluginv1.Event_MessageReceived{MessageReceived: m}})
		}
		i.attach(hs)
	})
}
