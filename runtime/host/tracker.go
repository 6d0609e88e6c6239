package host

import "sync"

// tracker counts the goroutines the host starts, so that Run can wait for
// every one of them. Once closed it starts no more.
type tracker struct {
	mu     sync.Mutex // last in the lock order
	closed bool
	wg     sync.WaitGroup
}

// Go runs f on a new goroutine and reports true, or reports false and
// runs nothing once the tracker is closed.
func (t *tracker) Go(f func()) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		f()
	}()
	return true
}

// Close makes Go refuse new goroutines and waits for the running ones.
func (t *tracker) Close() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.wg.Wait()
}
