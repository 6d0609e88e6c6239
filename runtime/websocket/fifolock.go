package websocket

import (
	"context"
	"sync"
)

// fifoLock is a mutex granted in the order it was asked for, whose lock
// respects a context: the send queue of a WebSocket. WinRT sends
// outstanding writes in the order they were issued, and a caller whose
// context ends while it waits for its turn gives up without harm. It is
// runtime/sockets' write queue; the uncontended path allocates nothing.
type fifoLock struct {
	mu      sync.Mutex
	held    bool
	waiters []chan struct{}
}

// lock acquires l, or returns ctx's error if ctx ends first.
func (l *fifoLock) lock(ctx context.Context) error {
	l.mu.Lock()
	if !l.held {
		l.held = true
		l.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	l.waiters = append(l.waiters, ch)
	l.mu.Unlock()

	select {
	case <-ch:
		return nil
	case <-ctx.Done():
	}
	l.mu.Lock()
	for i, w := range l.waiters {
		if w == ch {
			l.waiters = append(l.waiters[:i], l.waiters[i+1:]...)
			l.mu.Unlock()
			return ctx.Err()
		}
	}
	l.mu.Unlock()
	// unlock handed us the lock while ctx ended: pass it on.
	l.unlock()
	return ctx.Err()
}

// unlock releases l to the longest waiter, if any.
func (l *fifoLock) unlock() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.waiters) == 0 {
		l.held = false
		return
	}
	ch := l.waiters[0]
	l.waiters[0] = nil
	l.waiters = l.waiters[1:]
	close(ch)
}
