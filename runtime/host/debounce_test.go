package host

import (
	"slices"
	"testing"
	"time"
)

func TestDebouncer(t *testing.T) {
	t.Parallel()
	d := debouncer{delay: 100 * time.Millisecond}
	t0 := time.Unix(1000, 0)
	if _, ok := d.next(); ok {
		t.Fatal("an empty debouncer has a deadline")
	}
	d.add("a", t0)
	d.add("b", t0.Add(30*time.Millisecond))
	d.add("a", t0.Add(60*time.Millisecond)) // a's event moves its deadline
	if next, _ := d.next(); !next.Equal(t0.Add(130 * time.Millisecond)) {
		t.Fatalf("next = %v, want b's deadline", next.Sub(t0))
	}
	if got := d.take(t0.Add(129 * time.Millisecond)); len(got) != 0 {
		t.Fatalf("due before any deadline: %v", got)
	}
	if got := d.take(t0.Add(130 * time.Millisecond)); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("due at 130ms: %v, want [b]", got)
	}
	if next, _ := d.next(); !next.Equal(t0.Add(160 * time.Millisecond)) {
		t.Fatalf("next = %v, want a's moved deadline", next.Sub(t0))
	}
	d.add("c", t0.Add(61*time.Millisecond))
	if got := d.take(t0.Add(time.Second)); !slices.Equal(got, []string{"a", "c"}) {
		t.Fatalf("due at 1s: %v, want [a c]", got)
	}
	if _, ok := d.next(); ok {
		t.Fatal("a deadline is left after every file was taken")
	}
}
