package sockets

import (
	"sync"

	"github.com/netrun/netrun/runtime/event"
)

// eventLoops counts the goroutines a socket runs to raise its events (a
// listener's accept loops, a datagram socket's receive loop) so that Close
// can wait for them. A loop that is inside a handler does not count: the
// handler may be the caller of Close, and waiting for it would deadlock.
// Such a loop exits as soon as its handler returns. The zero value is
// ready to use.
type eventLoops struct {
	mu      sync.Mutex
	running int // loops started and not inside a handler
	changed sync.Cond

	// handlers is read-held while handlers run, so that write-locking it
	// waits until none is running (a listener's CancelIO).
	handlers sync.RWMutex
}

// start counts n loops about to be started.
func (l *eventLoops) start(n int) {
	l.mu.Lock()
	l.running += n
	l.mu.Unlock()
}

// exit is deferred by each loop.
func (l *eventLoops) exit() { l.add(-1) }

func (l *eventLoops) add(d int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.running += d
	if l.changed.L == nil {
		l.changed.L = &l.mu
	}
	l.changed.Broadcast()
}

// wait returns once no loop runs outside a handler.
func (l *eventLoops) wait() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.changed.L == nil {
		l.changed.L = &l.mu
	}
	for l.running > 0 {
		l.changed.Wait()
	}
}

// raise raises ev with args on behalf of a loop counted by loops. If the
// last handler was removed since the loop read its work, it waits for a new
// one rather than dropping the work. It reports false if done closed first.
func raise[A any](loops *eventLoops, ev *event.Event[A], args A, done <-chan struct{}) bool {
	loops.add(-1)
	defer loops.add(1)
	for {
		loops.handlers.RLock()
		raised := ev.Raise(args)
		loops.handlers.RUnlock()
		if raised {
			return true
		}
		select {
		case <-ev.Ready():
		case <-done:
			return false
		}
	}
}
