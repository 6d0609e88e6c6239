package trigger

import (
	"container/heap"
	"sync"
	"time"
)

// scheduler runs timed callbacks for every control channel and held
// socket of a Broker on one goroutine: a min-heap of entries ordered by
// due time, and one timer set to the earliest. A channel that waits for
// its next keep-alive costs an entry in the heap and no goroutine; the
// goroutine itself runs only while the heap is not empty.
//
// Callbacks run on the scheduler's goroutine, one at a time, and must
// return soon: a slow one delays every later keep-alive.
type scheduler struct {
	clock Clock
	wg    *sync.WaitGroup // the broker's

	mu      sync.Mutex // guards the fields below and every entry's at and idx
	h       entryHeap
	running bool
	wake    chan struct{} // capacity 1: the head changed
}

// timerEntry is one scheduled callback. Its zero value is unscheduled.
// An entry is scheduled at most once at a time; schedule moves it.
type timerEntry struct {
	at   time.Time
	idx  int // position in the heap, plus one; 0 when not scheduled
	fire func(due, now time.Time)
}

// schedule arranges for e.fire to run at at, replacing any earlier
// schedule of e.
func (s *scheduler) schedule(e *timerEntry, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.at = at
	if e.idx > 0 {
		heap.Fix(&s.h, e.idx-1)
	} else {
		heap.Push(&s.h, e)
	}
	if s.h[0] != e {
		return
	}
	if !s.running {
		s.running = true
		if s.wake == nil {
			s.wake = make(chan struct{}, 1)
		}
		s.wg.Add(1)
		go s.run()
		return
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// cancel unschedules e; it does nothing if e is not scheduled. A callback
// already running may still finish.
func (s *scheduler) cancel(e *timerEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.idx == 0 {
		return
	}
	head := e.idx == 1
	heap.Remove(&s.h, e.idx-1)
	if head && s.running {
		// The goroutine waits for e's time: let it wait for the new
		// head's, or end.
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// scheduled reports whether e is scheduled, and when.
func (s *scheduler) scheduled(e *timerEntry) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return e.at, e.idx > 0
}

// run fires due entries until the heap is empty.
func (s *scheduler) run() {
	defer s.wg.Done()
	var t Timer
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for {
		s.mu.Lock()
		if len(s.h) == 0 {
			s.running = false
			s.mu.Unlock()
			return
		}
		now := s.clock.Now()
		e := s.h[0]
		if !e.at.After(now) {
			heap.Pop(&s.h)
			fire, due := e.fire, e.at
			s.mu.Unlock()
			fire(due, now)
			continue
		}
		d := e.at.Sub(now)
		s.mu.Unlock()
		if t == nil {
			t = s.clock.NewTimer(d)
		} else {
			t.Reset(d)
		}
		select {
		case <-t.C():
		case <-s.wake:
		}
	}
}

// entryHeap is a container/heap of entries by due time.
type entryHeap []*timerEntry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h entryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i+1, j+1
}
func (h *entryHeap) Push(x any) {
	e := x.(*timerEntry)
	e.idx = len(*h) + 1
	*h = append(*h, e)
}
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.idx = 0
	return e
}
