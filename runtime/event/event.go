// Package event implements WinRT-style events for the runtime classes: a
// list of handlers that callers add and remove by token, and that the
// owning object raises.
//
// A handler runs on the goroutine that raises the event (an accept loop, a
// receive loop) and the next event is not raised until every handler has
// returned, as in WinRT. A handler that needs to block for long should hand
// its work to a goroutine of its own.
//
// Raising is free of allocation and locks: the handler list is replaced
// copy-on-write when handlers are added or removed.
package event

import (
	"sync"
	"sync/atomic"
)

// Token identifies one registration. It is WinRT's EventRegistrationToken.
type Token uint64

// Event is a list of handlers receiving arguments of type A. The zero value
// is an empty event ready to use. An Event must not be copied after first use.
// All methods are safe for concurrent use.
type Event[A any] struct {
	mu      sync.Mutex // serialises writers of list
	next    Token
	waiters chan struct{} // closed when the first handler is added; guarded by mu

	list atomic.Pointer[[]entry[A]]
}

type entry[A any] struct {
	token Token
	fn    func(A)
}

// Add registers fn and returns the token that removes it. Handlers run in
// the order they were added. Add panics if fn is nil.
func (e *Event[A]) Add(fn func(A)) Token {
	if fn == nil {
		panic("event: Add with nil handler")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.next++
	old := e.load()
	l := make([]entry[A], len(old), len(old)+1)
	copy(l, old)
	l = append(l, entry[A]{e.next, fn})
	e.list.Store(&l)
	if e.waiters != nil {
		close(e.waiters)
		e.waiters = nil
	}
	return e.next
}

// Remove unregisters the handler with token t. It reports whether t was
// registered. A handler being run when Remove returns may still finish.
func (e *Event[A]) Remove(t Token) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	old := e.load()
	for i, en := range old {
		if en.token == t {
			l := make([]entry[A], 0, len(old)-1)
			l = append(l, old[:i]...)
			l = append(l, old[i+1:]...)
			e.list.Store(&l)
			return true
		}
	}
	return false
}

// Clear removes every handler.
func (e *Event[A]) Clear() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list.Store(nil)
}

// Len returns the number of registered handlers.
func (e *Event[A]) Len() int { return len(e.load()) }

// Raise calls every registered handler with a, in order, on the calling
// goroutine. It reports whether there was any handler to call.
func (e *Event[A]) Raise(a A) bool {
	l := e.load()
	for _, en := range l {
		en.fn(a)
	}
	return len(l) > 0
}

// Ready returns a channel that is closed once the event has at least one
// handler. Owners use it to hold back work (an accepted connection, a
// datagram) until someone listens, rather than dropping it.
func (e *Event[A]) Ready() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.load()) > 0 {
		return closedChan
	}
	if e.waiters == nil {
		e.waiters = make(chan struct{})
	}
	return e.waiters
}

func (e *Event[A]) load() []entry[A] {
	if p := e.list.Load(); p != nil {
		return *p
	}
	return nil
}

// closedChan is a constant: a channel closed at init and never written.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()
