package event_test

import (
	"sync"
	"testing"

	"github.com/netrun/netrun/runtime/event"
)

func TestAddRemoveOrder(t *testing.T) {
	var e event.Event[int]
	var got []string
	a := e.Add(func(v int) { got = append(got, "a") })
	e.Add(func(v int) { got = append(got, "b") })
	if !e.Raise(1) {
		t.Fatal("Raise with handlers reported none")
	}
	if !e.Remove(a) || e.Remove(a) {
		t.Fatal("Remove must succeed once")
	}
	e.Raise(2)
	if want := "a,b,b"; join(got) != want {
		t.Fatalf("calls = %s, want %s", join(got), want)
	}
	e.Clear()
	if e.Raise(3) || e.Len() != 0 {
		t.Fatal("Clear left handlers")
	}
}

func TestReady(t *testing.T) {
	var e event.Event[string]
	ready := e.Ready()
	select {
	case <-ready:
		t.Fatal("Ready closed with no handler")
	default:
	}
	e.Add(func(string) {})
	<-ready
	<-e.Ready()
}

func TestRaiseAllocs(t *testing.T) {
	var e event.Event[*int]
	n := 0
	e.Add(func(p *int) { n += *p })
	v := 1
	if allocs := testing.AllocsPerRun(100, func() { e.Raise(&v) }); allocs != 0 {
		t.Fatalf("Raise allocates %.1f times", allocs)
	}
}

func TestConcurrent(t *testing.T) {
	var e event.Event[int]
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				e.Remove(e.Add(func(int) {}))
			}
		}()
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				e.Raise(j)
			}
		}()
	}
	wg.Wait()
	if e.Len() != 0 {
		t.Fatalf("Len = %d after balanced add/remove", e.Len())
	}
}

func join(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += ","
		}
		out += v
	}
	return out
}
