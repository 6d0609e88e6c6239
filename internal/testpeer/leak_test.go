package testpeer_test

import (
	"strings"
	"testing"

	"github.com/netrun/netrun/internal/testpeer"
)

func TestLeakedGoroutines(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	started := make(chan struct{})
	go parkUntil(started, release)
	<-started
	found := false
	for _, s := range testpeer.LeakedGoroutines() {
		if strings.Contains(s, "testpeer_test.parkUntil") {
			found = true
		}
	}
	close(release)
	if !found {
		t.Fatal("a parked goroutine of this module was not reported")
	}
}

// parkUntil blocks until release is closed: a goroutine for the leak
// check to find.
func parkUntil(started chan<- struct{}, release <-chan struct{}) {
	close(started)
	<-release
}
