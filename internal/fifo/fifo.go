// Package fifo provides Lock, a mutex granted in the order it was asked
// for, whose Lock respects a context. The sockets' read and write queues
// are made of it: WinRT completes outstanding reads and writes in the
// order they were issued, and a caller whose context ends while it waits
// for its turn gives up without harm, so that a stuck peer never leaves
// a caller blocked past its deadline.
package fifo

import (
	"context"
	"sync"
)

// Lock is a first-in, first-out mutex. The zero value is unlocked. The
// uncontended path allocates nothing; a waiter allocates one channel.
type Lock struct {
	mu      sync.Mutex
	held    bool
	entered uint64 // calls to Lock and successful TryLocks so far
	waiters []chan struct{}
}

// Lock acquires l, or returns ctx's error if ctx ends first.
func (l *Lock) Lock(ctx context.Context) error {
	l.mu.Lock()
	l.entered++
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
	// Unlock handed us the lock while ctx ended: pass it on.
	l.Unlock()
	return ctx.Err()
}

// TryLock acquires l if no one holds it or waits for it, and reports
// whether it did.
func (l *Lock) TryLock() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held {
		return false
	}
	l.entered++
	l.held = true
	return true
}

// Unlock releases l to the longest waiter, if any.
func (l *Lock) Unlock() {
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

// Entered returns how many callers have asked for l so far (a Lock call
// counts when it begins, a TryLock when it succeeds): tests use it to
// order callers.
func (l *Lock) Entered() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.entered
}

// Held reports whether someone holds l.
func (l *Lock) Held() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held
}
