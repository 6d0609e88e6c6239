package fifo_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"

	"github.com/netrun/netrun/internal/fifo"
)

// TestOrder: waiters get the lock in the order they asked for it.
func TestOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var l fifo.Lock
		ctx := context.Background()
		if err := l.Lock(ctx); err != nil {
			t.Fatal(err)
		}
		const n = 5
		got := make(chan int, n)
		for i := range n {
			go func() {
				l.Lock(ctx)
				got <- i
				l.Unlock()
			}()
			synctest.Wait() // waiter i is queued before the next starts
		}
		if l.Entered() != n+1 {
			t.Fatalf("Entered = %d, want %d", l.Entered(), n+1)
		}
		l.Unlock()
		for i := range n {
			if g := <-got; g != i {
				t.Fatalf("waiter %d got the lock in turn %d", g, i)
			}
		}
		synctest.Wait()
		if l.Held() {
			t.Fatal("held after every waiter unlocked")
		}
	})
}

// TestCanceledWaiter: a waiter whose context ends leaves the queue, and
// the lock still goes to the next one.
func TestCanceledWaiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var l fifo.Lock
		l.Lock(context.Background())
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error)
		go func() { errc <- l.Lock(ctx) }()
		synctest.Wait() // the waiter is queued
		if l.TryLock() {
			t.Fatal("TryLock succeeded on a held lock")
		}
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("canceled waiter: %v", err)
		}
		l.Unlock()
		if !l.TryLock() {
			t.Fatal("TryLock failed on a free lock: the canceled waiter kept its place")
		}
		l.Unlock()
	})
}

// TestUncontendedAllocs: Lock and Unlock without waiters allocate nothing.
func TestUncontendedAllocs(t *testing.T) {
	var l fifo.Lock
	ctx := context.Background()
	if a := testing.AllocsPerRun(100, func() { l.Lock(ctx); l.Unlock() }); a != 0 {
		t.Fatalf("%.1f allocations per Lock/Unlock", a)
	}
}
