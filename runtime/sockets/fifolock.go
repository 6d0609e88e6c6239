package sockets

import (
	"context"
	"sync"
)

// fifoLock is a mutex that is granted in the order it was asked for and
// whose lock respects a context, so that a stuck peer never leaves a caller
// blocked past its deadline. Writes of one socket queue on it: WinRT sends
// outstanding writes in the order they were issued.
//
// The uncontended path allocates nothing; a waiter allocates one channel.
type fifoLock struct {
	mu      sync.Mutex
	held    bool
	waiters []chan struct{}
	entered uint64 // calls to lock so far, for tests that order callers
}

// lock acquires l, or returns ctx's error if ctx ends first.
func (l *fifoLock) lock(ctx context.Context) error {
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
	// unlock handed us the lock while ctx ended: pass it on.
	l.unlock()
	return ctx.Err()
}

// tryLock acquires l if no one holds it or waits for it.
func (l *fifoLock) tryLock() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held {
		return false
	}
	l.entered++
	l.held = true
	return true
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
