package trigger

import "time"

// Clock is the time source of a Broker's timers: keep-alive schedules of
// control channels and of held sockets. Tests inject one; the zero
// Options use the system clock. It is Tailscale's tstime.Clock, cut to
// what the broker uses.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTimer returns a timer that fires once after d.
	NewTimer(d time.Duration) Timer
}

// Timer is a timer made by a Clock, as time.Timer.
type Timer interface {
	// C returns the channel the timer fires on.
	C() <-chan time.Time
	// Reset makes the timer fire after d, as time.Timer.Reset.
	Reset(d time.Duration) bool
	// Stop stops the timer, as time.Timer.Stop.
	Stop() bool
}

// systemClock is the Clock of the time package.
type systemClock struct{}

func (systemClock) Now() time.Time                 { return time.Now() }
func (systemClock) NewTimer(d time.Duration) Timer { return systemTimer{time.NewTimer(d)} }

type systemTimer struct{ *time.Timer }

func (t systemTimer) C() <-chan time.Time { return t.Timer.C }
