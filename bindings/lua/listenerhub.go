package lua

import (
	"context"
	"sync"

	"github.com/netrun/netrun/runtime/event"
	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/sockets"
)

// listenerHub shares listening sockets among the workers of a script and
// between its versions. A script's workers all run the same main chunk,
// so they all bind the same endpoint: the first bind makes the real
// listener, the others subscribe to it, and accepted connections are dealt
// round-robin to the subscribers of the newest version. When a reload's new
// version binds an endpoint the old version holds, it subscribes to the
// same socket: the listening socket is never closed, so no connection is
// refused, and the old version stops receiving connections at once.
type listenerHub struct {
	mu      sync.Mutex
	entries map[listenerKey]*sharedListener
}

// listenerKey names what a bind asked for. An ephemeral bind ("" or "0")
// is told apart by the order of ephemeral binds in the worker, so that
// worker i's k-th ephemeral listener shares with worker j's k-th.
type listenerKey struct {
	script  string
	host    string // canonical host, "" for every interface
	service string
	level   sockets.SocketProtectionLevel
	nth     int // for ephemeral binds
}

type sharedListener struct {
	ln    *sockets.StreamSocketListener
	ready chan struct{} // closed once the first bind has ended
	err   error         // its error; set before ready closes
	subs  []*lListener  // guarded by hub.mu
	next  int
}

// bind subscribes l to the listener for key, making and binding it if this
// is the first subscriber. setup configures a new listener's Control.
func (h *listenerHub) bind(ctx context.Context, key listenerKey, l *lListener, host *networking.HostName, setup func(*sockets.StreamSocketListener) error) (*sockets.StreamSocketListener, error) {
	h.mu.Lock()
	if sl, ok := h.entries[key]; ok {
		sl.subs = append(sl.subs, l)
		h.mu.Unlock()
		select {
		case <-sl.ready:
		case <-ctx.Done():
			h.unsubscribe(l)
			return nil, ctx.Err()
		}
		if sl.err != nil {
			return nil, sl.err
		}
		return sl.ln, nil
	}
	sl := &sharedListener{ln: l.v.env.NewStreamSocketListener(), ready: make(chan struct{}), subs: []*lListener{l}}
	if h.entries == nil {
		h.entries = map[listenerKey]*sharedListener{}
	}
	h.entries[key] = sl
	h.mu.Unlock()

	err := setup(sl.ln)
	if err == nil {
		sl.ln.ConnectionReceived().Add(func(a *sockets.ConnectionReceivedEventArgs) { h.deal(sl, a) })
		if host == nil {
			err = sl.ln.BindServiceName(ctx, key.service, key.level)
		} else {
			err = sl.ln.BindEndpointTLS(ctx, host, key.service, key.level)
		}
	}
	if err != nil {
		h.mu.Lock()
		delete(h.entries, key)
		h.mu.Unlock()
		sl.ln.Close()
	}
	sl.err = err
	close(sl.ready)
	if err != nil {
		return nil, err
	}
	return sl.ln, nil
}

// deal gives an accepted connection to the next subscriber of the newest
// version that is still running. A connection no one can take is closed.
func (h *listenerHub) deal(sl *sharedListener, a *sockets.ConnectionReceivedEventArgs) {
	for {
		h.mu.Lock()
		var pick *lListener
		newest := -1
		for _, s := range sl.subs {
			newest = max(newest, s.v.generation)
		}
		for i := range sl.subs {
			s := sl.subs[(sl.next+i)%len(sl.subs)]
			if s.v.generation == newest {
				pick = s
				sl.next = (sl.next + i + 1) % len(sl.subs)
				break
			}
		}
		h.mu.Unlock()
		if pick == nil {
			a.Socket.Close()
			return
		}
		if pick.deliver(a) {
			return
		}
		h.unsubscribe(pick) // its worker stopped: try another
	}
}

// unsubscribe removes l; the last subscriber closes the real listener.
func (h *listenerHub) unsubscribe(l *lListener) {
	h.mu.Lock()
	var closing *sockets.StreamSocketListener
	for key, sl := range h.entries {
		for i, s := range sl.subs {
			if s == l {
				sl.subs = append(sl.subs[:i], sl.subs[i+1:]...)
				if len(sl.subs) == 0 {
					delete(h.entries, key)
					closing = sl.ln
				}
				break
			}
		}
	}
	h.mu.Unlock()
	if closing != nil {
		closing.Close()
	}
}

// detach takes l's listening socket out of the hub, without closing it,
// for a transfer to the broker; it fails if the socket has other
// subscribers, and reports how many it has.
func (h *listenerHub) detach(l *lListener) (int, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for key, sl := range h.entries {
		for _, s := range sl.subs {
			if s == l {
				if len(sl.subs) > 1 {
					return len(sl.subs), false
				}
				delete(h.entries, key)
				return 1, true
			}
		}
	}
	return 0, false
}

// lListener is one worker's StreamSocketListener: its own Lua handlers,
// fed by a shared listening socket, or by a socket of its own once
// reclaimed from the broker. Its fields are guarded by the state's lock.
type lListener struct {
	v      *vm
	ln     *sockets.StreamSocketListener // the shared socket, once bound
	ctl    listenerSettings              // applied if this bind makes the socket
	ev     event.Event[*sockets.ConnectionReceivedEventArgs]
	bound  bool
	closed bool

	taskID      string // EnableTransferOwnership's task
	transferred bool   // TransferOwnership gave ln to the broker
	own         bool   // ln was reclaimed: the worker's alone, not the hub's
	token       event.Token
	hasToken    bool // token is own's handler on ln
}

// listenerSettings are Control values set before bind.
type listenerSettings struct {
	noDelay, keepAlive bool
	sendBuffer         uint32
	hopLimit           uint8
	qos                sockets.SocketQualityOfService
	certFile, keyFile  string
}

// deliver raises ConnectionReceived in this worker; false if it stopped.
func (l *lListener) deliver(a *sockets.ConnectionReceivedEventArgs) bool {
	l.v.mu.Lock()
	ok := !l.v.closed && !l.closed
	l.v.mu.Unlock()
	if !ok {
		return false
	}
	// The handlers wait for a Lua handler to be added; if none is, the
	// connection is held here rather than dropped.
	return l.ev.Raise(a) || l.waitHandler(a)
}

func (l *lListener) waitHandler(a *sockets.ConnectionReceivedEventArgs) bool {
	select {
	case <-l.ev.Ready():
		return l.ev.Raise(a)
	case <-l.v.ctx.Done():
		return false
	}
}

// Close implements io.Closer for the worker's owned set.
func (l *lListener) Close() error {
	l.v.mu.Lock()
	already := l.closed || l.transferred
	l.closed = true
	own, tok, has := l.own, l.token, l.hasToken
	l.hasToken = false
	l.v.mu.Unlock()
	switch {
	case already || !l.bound:
	case own:
		if has {
			l.ln.ConnectionReceived().Remove(tok)
		}
		l.ln.Close()
	default:
		l.v.engine.hub.unsubscribe(l)
	}
	return nil
}
