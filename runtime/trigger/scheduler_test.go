package trigger

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/netrun/netrun/runtime/event"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
	"github.com/netrun/netrun/runtime/websocket"
)

// TestSchedulerOrder checks that entries fire at their times, in order,
// that moving and cancelling work, and that the goroutine ends when
// nothing is scheduled.
func TestSchedulerOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var wg sync.WaitGroup
		s := &scheduler{clock: systemClock{}, wg: &wg}
		start := time.Now()
		var mu sync.Mutex
		var fired []string
		entry := func(name string) *timerEntry {
			return &timerEntry{fire: func(due, now time.Time) {
				if !now.Equal(due) {
					t.Errorf("%s fired at %v, due %v", name, now.Sub(start), due.Sub(start))
				}
				mu.Lock()
				fired = append(fired, name)
				mu.Unlock()
			}}
		}
		a, b, c, d := entry("a"), entry("b"), entry("c"), entry("d")
		s.schedule(c, start.Add(3*time.Second))
		s.schedule(a, start.Add(time.Second))
		s.schedule(b, start.Add(5*time.Second))
		s.schedule(b, start.Add(2*time.Second)) // moved forward
		s.schedule(d, start.Add(4*time.Second))
		s.cancel(d)
		if _, ok := s.scheduled(d); ok {
			t.Fatal("d is scheduled after cancel")
		}
		time.Sleep(10 * time.Second)
		wg.Wait() // the goroutine ended: the heap is empty
		if got := join(fired); got != "a b c" {
			t.Fatalf("fired %q, want \"a b c\"", got)
		}
	})
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}

// fakeTransport is a transport without a socket: its keep-alives are
// counted, and a WebSocket-like one has a Closed event to raise.
type fakeTransport struct {
	ws         bool
	keepAlives atomic.Int32
	flushed    atomic.Int32
	closedEv   event.Event[*websocket.ClosedEventArgs]
}

func (f *fakeTransport) object() any                       { return f }
func (f *fakeTransport) rawConn() (syscall.RawConn, error) { return nil, nil }
func (f *fakeTransport) keepAlive() error                  { f.keepAlives.Add(1); return nil }
func (f *fakeTransport) flush(context.Context) error       { f.flushed.Add(1); return nil }
func (f *fakeTransport) closed() *event.Event[*websocket.ClosedEventArgs] {
	if f.ws {
		return &f.closedEv
	}
	return nil
}

// recorder collects the times of a channel's events.
type recorder struct {
	mu     sync.Mutex
	times  []time.Time
	resets int
}

func record(c *ControlChannelTrigger) *recorder {
	r := &recorder{}
	c.KeepAliveTrigger().Add(func(*ControlChannelTriggerEventDetails) {
		r.mu.Lock()
		r.times = append(r.times, time.Now())
		r.mu.Unlock()
	})
	c.ResetTrigger().Add(func(*ControlChannelTriggerResetEventDetails) {
		r.mu.Lock()
		r.resets++
		r.mu.Unlock()
	})
	return r
}

func (r *recorder) since(start time.Time) []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []time.Duration
	for _, t := range r.times {
		out = append(out, t.Sub(start))
	}
	return out
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestKeepAliveSchedule checks, in fake time, that KeepAliveTrigger comes
// at exactly the interval, that DecreaseNetworkKeepAliveInterval and a new
// server interval move it, and that Close stops it.
func TestKeepAliveSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBroker(Options{})
		defer b.Close()
		c, err := b.NewControlChannelTrigger("sched", 15, RequestSoftwareSlot)
		if err != nil {
			t.Fatal(err)
		}
		r := record(c)
		tr := &fakeTransport{}
		if err := c.use("test", tr); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if st, err := c.WaitForPushEnabled(); err != nil || st != SoftwareSlotAllocated {
			t.Fatalf("WaitForPushEnabled = %v, %v", st, err)
		}
		time.Sleep(45*time.Minute + time.Second)
		want := []time.Duration{15 * time.Minute, 30 * time.Minute, 45 * time.Minute}
		if got := r.since(start); !equalDurations(got, want) {
			t.Fatalf("keep-alives at %v, want %v", got, want)
		}
		if tr.keepAlives.Load() != 0 {
			t.Fatal("a StreamSocket-like transport was sent a keep-alive of its own")
		}

		// Halving: the next one comes 7.5 minutes from now, not at 60.
		c.DecreaseNetworkKeepAliveInterval()
		if got := c.CurrentKeepAliveIntervalInMinutes(); got != 7.5 {
			t.Fatalf("CurrentKeepAliveIntervalInMinutes = %v, want 7.5", got)
		}
		mark := time.Now()
		time.Sleep(15*time.Minute + time.Second)
		if got := r.since(mark)[3:]; !equalDurations(got, []time.Duration{7*time.Minute + 30*time.Second, 15 * time.Minute}) {
			t.Fatalf("after a decrease, keep-alives at %v after it", got)
		}
		for range 10 {
			c.DecreaseNetworkKeepAliveInterval()
		}
		if got := c.CurrentKeepAliveInterval(); got != 15*time.Minute/16 {
			t.Fatalf("CurrentKeepAliveInterval after many decreases = %v, want a sixteenth of 15 minutes", got)
		}

		// A fractional server interval: 0.5 minutes, halved 4 times.
		if err := c.SetServerKeepAliveIntervalInMinutes(0.5); err != nil {
			t.Fatal(err)
		}
		if got := c.CurrentKeepAliveInterval(); got != 30*time.Second/16 {
			t.Fatalf("CurrentKeepAliveInterval = %v", got)
		}
		n := len(r.since(start))
		time.Sleep(time.Minute)
		if got := len(r.since(start)) - n; got < 30 || got > 33 {
			t.Fatalf("%d keep-alives in a minute at 1.875 s, want 32", got)
		}

		c.Close()
		synctest.Wait() // a keep-alive due as Close ran may still finish
		n = len(r.since(start))
		time.Sleep(time.Hour)
		if len(r.since(start)) != n || r.resets != 0 {
			t.Fatal("events after Close")
		}
		if err := c.SetServerKeepAliveIntervalInMinutes(15); socketerror.HResultOf(err) != socketerror.EClosed {
			t.Fatalf("SetServerKeepAliveIntervalInMinutes after Close = %v", err)
		}
		if _, err := c.WaitForPushEnabled(); socketerror.HResultOf(err) != socketerror.EClosed {
			t.Fatalf("WaitForPushEnabled after Close = %v", err)
		}
	})
}

// TestKeepAliveWebSocketFake checks that a WebSocket transport is sent
// its keep-alive before each KeepAliveTrigger, and that its Closed event
// resets the channel once.
func TestKeepAliveWebSocketFake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBroker(Options{})
		defer b.Close()
		c, err := b.NewControlChannelTrigger("ws", 1, RequestHardwareSlot)
		if err != nil {
			t.Fatal(err)
		}
		r := record(c)
		tr := &fakeTransport{ws: true}
		c.use("test", tr)
		if st, _ := c.WaitForPushEnabled(); st != SoftwareSlotAllocated {
			t.Fatalf("a hardware request got %v, want SoftwareSlotAllocated", st)
		}
		time.Sleep(3*time.Minute + time.Second)
		synctest.Wait()
		if n := tr.keepAlives.Load(); n != 3 {
			t.Fatalf("%d pongs sent in 3 minutes, want 3", n)
		}
		tr.closedEv.Raise(&websocket.ClosedEventArgs{})
		tr.closedEv.Raise(&websocket.ClosedEventArgs{})
		if c.Status() != TransportDisconnected || r.resets != 1 {
			t.Fatalf("after Closed: status %v, %d resets; want TransportDisconnected, 1", c.Status(), r.resets)
		}
		time.Sleep(time.Hour)
		if n := len(r.since(time.Time{})); n != 3 {
			t.Fatalf("%d keep-alives; none may come after the reset", n)
		}
		// Re-armed with a new transport, the schedule starts again.
		tr2 := &fakeTransport{ws: true}
		c.use("test", tr2)
		c.WaitForPushEnabled()
		time.Sleep(time.Minute + time.Second)
		synctest.Wait()
		if tr2.keepAlives.Load() != 1 || tr.closedEv.Len() != 0 {
			t.Fatalf("re-armed: %d pongs, old transport keeps %d Closed handlers", tr2.keepAlives.Load(), tr.closedEv.Len())
		}
		if err := c.FlushTransport(context.Background()); err != nil || tr2.flushed.Load() != 1 {
			t.Fatalf("FlushTransport = %v", err)
		}
		c.Close()
	})
}

// TestPolicyError checks the MaxControlChannels bound.
func TestPolicyError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBroker(Options{MaxControlChannels: 1})
		defer b.Close()
		c1, _ := b.NewControlChannelTrigger("one", 15, RequestSoftwareSlot)
		c2, _ := b.NewControlChannelTrigger("two", 15, RequestSoftwareSlot)
		c1.use("test", &fakeTransport{})
		c2.use("test", &fakeTransport{})
		if st, _ := c1.WaitForPushEnabled(); st != SoftwareSlotAllocated {
			t.Fatalf("first channel: %v", st)
		}
		if st, _ := c2.WaitForPushEnabled(); st != PolicyError {
			t.Fatalf("second channel: %v, want PolicyError", st)
		}
		c1.Close()
		if st, _ := c2.WaitForPushEnabled(); st != SoftwareSlotAllocated {
			t.Fatalf("second channel after the first closed: %v", st)
		}
		c2.Close()
	})
}

// manualClock is a Clock whose time moves only when the test says.
type manualClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*manualTimer
}

type manualTimer struct {
	c     *manualClock
	ch    chan time.Time
	at    time.Time
	armed bool
}

func (c *manualClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *manualClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &manualTimer{c: c, ch: make(chan time.Time, 1), at: c.now.Add(d), armed: true}
	c.timers = append(c.timers, t)
	return t
}
func (t *manualTimer) C() <-chan time.Time { return t.ch }
func (t *manualTimer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.armed
	t.at, t.armed = t.c.now.Add(d), true
	return was
}
func (t *manualTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.armed
	t.armed = false
	return was
}

// advance moves the clock and fires the timers that are due.
func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for _, t := range c.timers {
		if t.armed && !t.at.After(c.now) {
			t.armed = false
			select {
			case t.ch <- c.now:
			default:
			}
		}
	}
}

// TestInjectedClock checks that the broker's timers follow Options.Clock.
func TestInjectedClock(t *testing.T) {
	clock := &manualClock{now: time.Unix(1000, 0)}
	b := NewBroker(Options{Clock: clock})
	defer b.Close()
	c, _ := b.NewControlChannelTrigger("clock", 1, RequestSoftwareSlot)
	fired := make(chan time.Time, 8)
	c.KeepAliveTrigger().Add(func(*ControlChannelTriggerEventDetails) { fired <- clock.Now() })
	c.use("test", &fakeTransport{})
	c.WaitForPushEnabled()
	for i := 1; i <= 3; i++ {
		// Advance in steps until the keep-alive comes: the scheduler
		// may not have armed its timer yet when a step is made.
		var at time.Time
		for at.IsZero() {
			clock.advance(10 * time.Second)
			select {
			case at = <-fired:
			case <-time.After(5 * time.Millisecond):
			}
		}
		if want := time.Unix(1000, 0).Add(time.Duration(i) * time.Minute); at.Before(want) || at.After(want.Add(10*time.Second)) {
			t.Fatalf("keep-alive %d at %v, want %v", i, at.Sub(time.Unix(1000, 0)), want.Sub(time.Unix(1000, 0)))
		}
	}
	c.Close()
}

// TestRegistryForgets checks that a socket enabled for transfer and then
// dropped leaves the registry once it is garbage.
func TestRegistryForgets(t *testing.T) {
	b := NewBroker(Options{})
	defer b.Close()
	for i := 0; i < 3; i++ {
		if err := b.EnableTransferOwnership(sockets.NewStreamSocket(), "gone"); err != nil {
			t.Fatal(err)
		}
	}
	kept := sockets.NewStreamSocket()
	b.EnableTransferOwnership(kept, "kept")
	count := func() int {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.enabled)
	}
	deadline := time.Now().Add(10 * time.Second)
	for count() > 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d sockets in the registry; the 3 dropped ones were not forgotten", count())
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	if id, ok := b.TaskID(kept); !ok || id != "kept" {
		t.Fatalf("the live socket's task: %q, %v", id, ok)
	}
}
