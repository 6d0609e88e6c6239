package lua

import (
	"io"
	"sync"
)

// ownedSet is the sockets a worker made and has not closed: they are
// closed when the worker stops.
type ownedSet struct {
	mu sync.Mutex
	m  map[io.Closer]struct{}
}

func (o *ownedSet) add(c io.Closer) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m == nil {
		o.m = map[io.Closer]struct{}{}
	}
	o.m[c] = struct{}{}
}

func (o *ownedSet) remove(c io.Closer) {
	o.mu.Lock()
	delete(o.m, c)
	o.mu.Unlock()
}

// connections counts the owned sockets that are connections: not
// listeners and not bound datagram sockets, which serve whoever sends and
// so are never "done". A draining version waits for connections only.
func (o *ownedSet) connections() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for c := range o.m {
		switch s := c.(type) {
		case *lListener, *lCCT, *taskRegistrations:
			continue
		case *lDatagram:
			if s.bound {
				continue
			}
		}
		n++
	}
	return n
}

func (o *ownedSet) closeAll() {
	o.mu.Lock()
	m := o.m
	o.m = nil
	o.mu.Unlock()
	for c := range m {
		c.Close()
	}
}
