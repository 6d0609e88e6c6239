package sdk

import (
	"sync"

	"github.com/netrun/netrun/runtime/event"
)

// eventQueue holds a listener's or datagram socket's events and raises
// them on a goroutine of its own, one at a time, as the runtime's accept
// and receive loops do: the next event is not raised until the handlers
// of the previous one have returned, and an event that finds no handler
// waits for one rather than being dropped.
type eventQueue[E, A any] struct {
	ev   *event.Event[A]
	args func(E) A // makes an event's arguments

	mu      sync.Mutex // guards the fields below
	items   []E
	started bool
	stopped bool
	wake    chan struct{} // capacity 1
	done    chan struct{} // closed by stop
	exited  chan struct{} // closed when the goroutine returns
}

func newEventQueue[E, A any](ev *event.Event[A], args func(E) A) *eventQueue[E, A] {
	return &eventQueue[E, A]{ev: ev, args: args, wake: make(chan struct{}, 1), done: make(chan struct{}), exited: make(chan struct{})}
}

// push queues e, starting the goroutine on first use. It never blocks.
func (q *eventQueue[E, A]) push(e E) {
	q.mu.Lock()
	if q.stopped {
		q.mu.Unlock()
		return
	}
	q.items = append(q.items, e)
	if !q.started {
		q.started = true
		go q.loop()
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *eventQueue[E, A]) loop() {
	defer close(q.exited)
	for {
		q.mu.Lock()
		if q.stopped {
			q.mu.Unlock()
			return
		}
		if len(q.items) == 0 {
			q.mu.Unlock()
			select {
			case <-q.wake:
				continue
			case <-q.done:
				return
			}
		}
		e := q.items[0]
		var zero E
		q.items[0] = zero
		q.items = q.items[1:]
		q.mu.Unlock()
		a := q.args(e)
		for !q.ev.Raise(a) {
			select {
			case <-q.ev.Ready():
			case <-q.done:
				return
			}
		}
	}
}

// stop ends the goroutine and drops what is queued; it returns the
// events dropped. It does not wait: the goroutine may be running a
// handler that is the caller.
func (q *eventQueue[E, A]) stop() []E {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stopped {
		return nil
	}
	q.stopped = true
	close(q.done)
	items := q.items
	q.items = nil
	return items
}
