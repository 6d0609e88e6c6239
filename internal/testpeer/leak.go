package testpeer

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

const (
	// leakMarker selects the goroutines the leak check owns: those with
	// a frame, or a creator, in this module.
	leakMarker = "github.com/netrun/netrun/"
	// leakWait is how long CheckLeaks lets goroutines finish exiting.
	leakWait = 5 * time.Second
	// leakPoll is how often CheckLeaks looks again. Goroutines signal
	// nothing when they exit, so this is the one wait in the package
	// that polls.
	leakPoll = 20 * time.Millisecond
)

// VerifyTestMain runs the package's tests, then fails the run if any of
// its goroutines outlived them (see CheckLeaks), printing their stacks.
// Every package's TestMain calls it:
//
//	func TestMain(m *testing.M) { testpeer.VerifyTestMain(m) }
//
// It mirrors the check in coder/websocket's main_test.go.
func VerifyTestMain(m *testing.M) {
	code := m.Run()
	if err := CheckLeaks(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// CheckLeaks returns an error listing the goroutines still alive whose
// stacks mention github.com/netrun/netrun/, other than the caller's own
// and the testing package's, after waiting up to 5 s for them to exit.
// Call it once every test is done, as VerifyTestMain does.
func CheckLeaks() error {
	deadline := time.Now().Add(leakWait)
	for {
		leaked := leakedGoroutines()
		if len(leaked) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d goroutine(s) leaked, still running %v after the tests:\n\n%s",
				len(leaked), leakWait, strings.Join(leaked, "\n\n"))
		}
		time.Sleep(leakPoll)
	}
}

// leakedGoroutines returns the stacks of this module's goroutines other
// than the calling one and the testing package's.
func leakedGoroutines() []string {
	blocks := strings.Split(strings.TrimSpace(allStacks()), "\n\n")
	var leaked []string
	// runtime.Stack puts the calling goroutine first.
	for _, b := range blocks[1:] {
		if !strings.Contains(b, leakMarker) || strings.Contains(b, "testing.(*M).") {
			continue
		}
		leaked = append(leaked, b)
	}
	return leaked
}

// allStacks returns runtime.Stack for every goroutine, however long.
func allStacks() string {
	buf := make([]byte, 64<<10)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return string(buf[:n])
		}
		buf = make([]byte, 2*len(buf))
	}
}
