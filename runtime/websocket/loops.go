package websocket

import "sync"

// loops counts the goroutines a connection runs (its reader, its pong
// ticker) so that Close can wait for them. A goroutine that is inside an
// event handler does not count: the handler may be the caller of Close, and
// waiting for it would deadlock; such a goroutine exits as soon as its
// handler returns. It is runtime/sockets' eventLoops. The zero value is
// ready to use.
type loops struct {
	mu      sync.Mutex
	running int // started and not inside a handler
	changed sync.Cond
}

// start counts one goroutine about to be started.
func (l *loops) start() { l.add(1) }

// exit is deferred by each goroutine.
func (l *loops) exit() { l.add(-1) }

func (l *loops) add(d int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.running += d
	if l.changed.L == nil {
		l.changed.L = &l.mu
	}
	l.changed.Broadcast()
}

// wait returns once no goroutine runs outside a handler.
func (l *loops) wait() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.changed.L == nil {
		l.changed.L = &l.mu
	}
	for l.running > 0 {
		l.changed.Wait()
	}
}
