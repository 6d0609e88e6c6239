package lua

import (
	"errors"
	"sync/atomic"
	"time"
)

// errBudget is what a coroutine stopped by the watchdog raises.
var errBudget = errors.New("the handler ran past its CPU budget")

// budget is the context every coroutine of a worker checks between two
// instructions (gopher-lua's SetContext). Its Done channel is nil until the
// watchdog trips it, so that the check costs a load and a nil-channel
// select while handlers behave, instead of a cancelCtx's atomic and channel
// operations. A tripped budget is replaced by a fresh one before the next
// resume.
type budget struct {
	done atomic.Pointer[chan struct{}]
}

// trip makes Done return a closed channel: the coroutine running now
// raises at its next instruction.
func (b *budget) trip() {
	c := make(chan struct{})
	close(c)
	b.done.CompareAndSwap(nil, &c)
}

func (b *budget) tripped() bool { return b.done.Load() != nil }

// Deadline implements context.Context: a budget has none.
func (b *budget) Deadline() (time.Time, bool) { return time.Time{}, false }

// Done implements context.Context: nil until tripped.
func (b *budget) Done() <-chan struct{} {
	if p := b.done.Load(); p != nil {
		return *p
	}
	return nil
}

// Err implements context.Context.
func (b *budget) Err() error {
	if b.tripped() {
		return errBudget
	}
	return nil
}

// Value implements context.Context: a budget carries no values.
func (b *budget) Value(any) any { return nil }
