package lua

import (
	"context"
	"hash/maphash"
	"net/netip"
	"sync"

	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
)

// datagramHub shares bound DatagramSockets among the workers of a script
// and between its versions, as listenerHub does for listeners. A script's
// workers all run the same main chunk, so they all bind the same port:
// the first bind makes the real socket, the later ones subscribe to it.
// Each received datagram goes to one subscriber of the newest version that
// has a MessageReceived handler, chosen by a hash of the sender's address
// and port, so that one peer's datagrams (a UDP "session") always reach
// the same worker while the subscribers stay the same. Every subscriber
// sends through the shared socket. When a reload's new version binds the
// port, it subscribes too and takes over the datagrams as soon as it has
// a handler: the socket is never closed in between, so nothing is lost.
// The last subscriber to close closes the socket.
//
// Sockets that are connected (ConnectAsync) or used for sending only
// (GetOutputStreamAsync) without an explicit bind are the worker's own.
type datagramHub struct {
	mu      sync.Mutex
	entries map[datagramKey]*hubEntry
}

// datagramKey names what a bind asked for. Ephemeral binds ("" or "0")
// are told apart by their order among the worker's ephemeral binds, so
// that worker i's k-th ephemeral socket is shared with worker j's k-th.
type datagramKey struct {
	script  string
	host    string // canonical host, "" for every address
	service string
	nth     int // for ephemeral binds
}

// hubEntry is a shared socket being bound or bound.
type hubEntry struct {
	core  *dgramCore
	ready chan struct{} // closed once the first bind has ended
	err   error         // its error; set before ready closes
}

// datagramHubOf returns the engine's datagram hub.
func datagramHubOf(e *Engine) *datagramHub { return &e.dgrams }

// dgramCore is one runtime DatagramSocket and the worker objects it
// feeds: one for a socket of the worker's own, any number for a shared
// one.
type dgramCore struct {
	d    *sockets.DatagramSocket // immutable
	hub  *datagramHub            // immutable
	seed maphash.Seed            // immutable

	// guarded by hub.mu
	key   datagramKey
	keyed bool // hub.entries[key] is this core

	mu      sync.Mutex // guards the fields below; taken after hub.mu, never before a vm's lock
	subs    []*lDatagram
	changed chan struct{} // closed and replaced when a subscriber or a handler is added
	done    chan struct{} // closed when the core closes
	closing bool
	joined  map[string]bool // multicast groups joined, by canonical name

	setup     sync.Mutex // serialises connects on a shared socket
	connected string     // the endpoint a connect connected it to; guarded by setup
}

// newDgramCore returns the core of socket d with l as its one subscriber.
func newDgramCore(h *datagramHub, d *sockets.DatagramSocket, l *lDatagram) *dgramCore {
	c := newDgramCoreWithout(h, d, l)
	d.MessageReceived().Add(c.deal)
	return c
}

// newDgramCoreWithout is newDgramCore without the socket's
// MessageReceived handler, which the caller adds (c.deal) once it has
// raised what came before.
func newDgramCoreWithout(h *datagramHub, d *sockets.DatagramSocket, l *lDatagram) *dgramCore {
	return &dgramCore{d: d, hub: h, seed: maphash.MakeSeed(), subs: []*lDatagram{l},
		changed: make(chan struct{}), done: make(chan struct{})}
}

// detach takes the core's socket out of the hub and away from l, without
// closing it, for a transfer to the broker; it fails if the socket has
// other subscribers, and reports how many it has. The socket's deal
// returns from then on.
func (c *dgramCore) detach(l *lDatagram) (int, bool) {
	h := c.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || len(c.subs) != 1 || c.subs[0] != l {
		return len(c.subs), false
	}
	c.subs = nil
	c.closing = true
	close(c.done)
	if c.keyed {
		delete(h.entries, c.key)
		c.keyed = false
	}
	return 1, true
}

// bind binds own's socket with bind and enters it in the hub under key,
// or, if another socket is entered there, subscribes l to that one
// instead. It returns the core l now receives from.
func (h *datagramHub) bind(ctx context.Context, key datagramKey, l *lDatagram, own *dgramCore,
	bind func(*sockets.DatagramSocket) error) (*dgramCore, error) {
	h.mu.Lock()
	if e, ok := h.entries[key]; ok {
		added := e.core.addSub(l)
		h.mu.Unlock()
		if !added {
			return nil, socketerror.Closed("DatagramSocket.Bind")
		}
		select {
		case <-e.ready:
		case <-ctx.Done():
			e.core.removeSub(l)
			return nil, socketerror.WithStatus("DatagramSocket.Bind", "", socketerror.OperationAborted, ctx.Err())
		}
		if e.err != nil {
			e.core.removeSub(l)
			return nil, e.err
		}
		return e.core, nil
	}
	e := &hubEntry{core: own, ready: make(chan struct{})}
	if h.entries == nil {
		h.entries = map[datagramKey]*hubEntry{}
	}
	h.entries[key] = e
	own.key, own.keyed = key, true
	h.mu.Unlock()

	err := bind(own.d)

	h.mu.Lock()
	if err != nil && own.keyed {
		delete(h.entries, key)
		own.keyed = false
	}
	e.err = err
	h.mu.Unlock()
	close(e.ready)
	if err != nil {
		return nil, err
	}
	return own, nil
}

// addSub subscribes l; false if the core has closed. hub.mu must be held.
func (c *dgramCore) addSub(l *lDatagram) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return false
	}
	c.subs = append(c.subs, l)
	c.notifyLocked()
	return true
}

// removeSub unsubscribes l; when the last subscriber leaves, the core
// leaves the hub and its socket closes.
func (c *dgramCore) removeSub(l *lDatagram) {
	h := c.hub
	h.mu.Lock()
	c.mu.Lock()
	found := false
	for i, s := range c.subs {
		if s == l {
			c.subs = append(c.subs[:i], c.subs[i+1:]...)
			found = true
			break
		}
	}
	last := found && len(c.subs) == 0 && !c.closing
	if last {
		c.closing = true
		close(c.done)
		if c.keyed {
			delete(h.entries, c.key)
			c.keyed = false
		}
	}
	c.mu.Unlock()
	h.mu.Unlock()
	if last {
		// Safe under a vm's lock and from a handler: the receive loop,
		// if it is in deal, is not waited for.
		c.d.Close()
	}
}

// notify wakes a deal waiting for a subscriber with a handler.
func (c *dgramCore) notify() {
	c.mu.Lock()
	c.notifyLocked()
	c.mu.Unlock()
}

func (c *dgramCore) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// deal is the socket's MessageReceived handler: it hands the datagram to
// one subscriber, waiting for one with a handler if there is none. It
// runs on the socket's receive goroutine, where a is valid.
func (c *dgramCore) deal(a *sockets.DatagramSocketMessageReceivedEventArgs) {
	from := a.RemoteAddrPort()
	for {
		c.mu.Lock()
		if c.closing {
			c.mu.Unlock()
			return
		}
		pick := c.pickLocked(from)
		changed := c.changed
		c.mu.Unlock()
		if pick == nil {
			select {
			case <-changed:
			case <-c.done:
				return
			}
			continue
		}
		if !pick.ev.Raise(a) {
			continue // its last handler was removed meanwhile
		}
		if !pick.stopped.Load() {
			return
		}
		pick.Close() // its worker has stopped: deal to another
	}
}

// pickLocked chooses the subscriber for a datagram from `from`: among the
// subscribers with a handler, those of the newest version, and among
// them the one a hash of from selects. c.mu must be held.
func (c *dgramCore) pickLocked(from netip.AddrPort) *lDatagram {
	newest, n := -1, 0
	for _, s := range c.subs {
		if s.gone.Load() || s.ev.Len() == 0 {
			continue
		}
		switch g := s.v.generation; {
		case g > newest:
			newest, n = g, 1
		case g == newest:
			n++
		}
	}
	if n == 0 {
		return nil
	}
	i := 0
	if n > 1 {
		i = int(maphash.Comparable(c.seed, from) % uint64(n))
	}
	for _, s := range c.subs {
		if s.gone.Load() || s.ev.Len() == 0 || s.v.generation != newest {
			continue
		}
		if i == 0 {
			return s
		}
		i--
	}
	return nil
}

// connect connects the socket to pair. On a shared socket every worker
// runs the same ConnectAsync: the first connects, the others find it
// connected to the same endpoint and succeed.
func (c *dgramCore) connect(ctx context.Context, pair networking.EndpointPair) error {
	c.setup.Lock()
	defer c.setup.Unlock()
	key := pair.String()
	if c.connected != "" && c.connected == key {
		return nil
	}
	if err := c.d.ConnectEndpointPair(ctx, pair); err != nil {
		return err
	}
	c.connected = key
	return nil
}

// join joins a multicast group once per socket: the workers sharing it
// all ask, and the kernel refuses a second join of the same group.
func (c *dgramCore) join(group *networking.HostName) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := group.CanonicalName()
	if c.joined[k] {
		return nil
	}
	if err := c.d.JoinMulticastGroup(group); err != nil {
		return err
	}
	if c.joined == nil {
		c.joined = map[string]bool{}
	}
	c.joined[k] = true
	return nil
}

// takenOver reports whether every shared socket a worker of generation
// old subscribes to has a subscriber of generation new: a reload's
// waitTakeover can wait for it as it waits for listeners. (The hub needs
// no wait to lose nothing: until the new version has a handler, the old
// one gets the datagrams.)
func (h *datagramHub) takenOver(old, new int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.entries {
		e.core.mu.Lock()
		hasOld, hasNew := false, false
		for _, s := range e.core.subs {
			hasOld = hasOld || s.v.generation == old
			hasNew = hasNew || s.v.generation == new
		}
		e.core.mu.Unlock()
		if hasOld && !hasNew {
			return false
		}
	}
	return true
}
