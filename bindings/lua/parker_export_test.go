package lua

// ParkedReads returns how many reads the engine's parker holds.
func (e *Engine) ParkedReads() int {
	e.parker.mu.Lock()
	defer e.parker.mu.Unlock()
	return len(e.parker.jobs)
}
