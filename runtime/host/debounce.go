package host

import (
	"slices"
	"time"
)

// DebounceDelay is how long the host waits after the last change to a
// script file before it reloads it. Editors and tools often change a file
// in several steps (truncate, write; write a temporary file, rename it
// over), each its own event; fsnotify's own example waits 100 ms the same
// way (cmd/fsnotify/dedup.go).
const DebounceDelay = 100 * time.Millisecond

// debouncer coalesces the events of each file: a file is due delay after
// its last event, and every event moves its deadline. It holds no timer;
// its owner asks for the next deadline and sleeps until then, so it is
// plain data, tested without a clock.
type debouncer struct {
	delay time.Duration
	due   map[string]time.Time
}

// add records an event for name at now.
func (d *debouncer) add(name string, now time.Time) {
	if d.due == nil {
		d.due = map[string]time.Time{}
	}
	d.due[name] = now.Add(d.delay)
}

// next returns the earliest deadline, and false if no file is pending.
func (d *debouncer) next() (time.Time, bool) {
	var first time.Time
	for _, t := range d.due {
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	return first, !first.IsZero()
}

// take removes and returns, sorted, the files whose deadline is at or
// before now.
func (d *debouncer) take(now time.Time) []string {
	var out []string
	for name, t := range d.due {
		if !t.After(now) {
			out = append(out, name)
			delete(d.due, name)
		}
	}
	slices.Sort(out)
	return out
}
