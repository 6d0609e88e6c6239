package testpeer

import (
	"errors"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// WaitTimeout bounds every wait in this package: a peer starting, a line
// appearing in its output, a process exiting. When it expires the test
// fails with the peer's captured output.
const WaitTimeout = 10 * time.Second

// maxShown is how much of a peer's output a failure message quotes (the
// tail, where the error usually is).
const maxShown = 16 << 10

// proc is one running peer process, its stdin and what it printed.
type proc struct {
	// immutable after startProc
	name   string // what the failure messages call it, e.g. "openssl s_server"
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	all    *transcript   // stdout and stderr, interleaved as they arrive
	stdout *transcript   // stdout only
	done   chan struct{} // closed once the process exited and its output is copied

	waitErr error // cmd.Wait's result; read only after done is closed

	closeOnce sync.Once
}

// startProc starts cmd with its output captured and returns once it runs.
// The process gets its own process group, so that kill also ends the
// children it forks (socat's per-connection children), and SIGKILL as its
// parent-death signal, so that it dies with the test binary even when a
// test timeout panics past every tb.Cleanup.
func startProc(name string, cmd *exec.Cmd) (*proc, error) {
	p := &proc{
		name:   name,
		cmd:    cmd,
		all:    newTranscript(),
		stdout: newTranscript(),
		done:   make(chan struct{}),
	}
	cmd.Stdout = io.MultiWriter(p.stdout, p.all)
	cmd.Stderr = p.all
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// A forked child that outlives its parent may hold the output pipe
	// open; do not let that hold up Wait.
	cmd.WaitDelay = time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("stdin pipe for %s: %w", name, err)
	}
	p.stdin = stdin

	started := make(chan error, 1)
	go func() {
		// Linux sends Pdeathsig when the thread that forked the child
		// exits, not the process. Keep this thread ours until the
		// child is gone so that the Go scheduler never retires it
		// under a running peer.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return p, nil
}

// exited reports whether the process has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill ends the process and everything in its process group, then waits
// (bounded) for it to be reaped. It is safe to call more than once.
func (p *proc) kill() {
	p.closeOnce.Do(func() {
		_ = p.stdin.Close()
		if !p.exited() {
			// The leader is not reaped yet, so its pid (the
			// group id) cannot have been reused.
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		}
	})
	select {
	case <-p.done:
	case <-time.After(WaitTimeout):
	}
}

// wait waits up to WaitTimeout for the process to exit by itself; see
// waitFor.
func (p *proc) wait() error { return p.waitFor(WaitTimeout) }

// waitFor waits up to d for the process to exit by itself and returns its
// exit error, or an error with its output if it did not exit in time.
func (p *proc) waitFor(d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-p.done:
		if p.waitErr != nil {
			return fmt.Errorf("%s: %w\n%s", p.name, p.waitErr, p.shown())
		}
		return nil
	case <-timer.C:
		return fmt.Errorf("%s did not exit within %v\n%s", p.name, d, p.shown())
	}
}

// waitOutput waits until the combined output contains substr. It fails
// tb if the process exits first or WaitTimeout passes.
func (p *proc) waitOutput(tb testing.TB, substr string) {
	tb.Helper()
	if err := p.awaitOutput(substr); err != nil {
		tb.Fatal(err)
	}
}

// errExited is returned by awaitOutput when the process ended without
// printing what was awaited.
var errExited = errors.New("exited")

// awaitOutput is waitOutput returning an error instead of failing, for
// callers that retry (a port taken between choosing and binding it).
func (p *proc) awaitOutput(substr string) error {
	timer := time.NewTimer(WaitTimeout)
	defer timer.Stop()
	for {
		s, grew := p.all.snapshot()
		if strings.Contains(s, substr) {
			return nil
		}
		select {
		case <-grew:
		case <-p.done:
			// Wait returns only after the output is copied, so
			// this check sees everything the process printed.
			if strings.Contains(p.all.String(), substr) {
				return nil
			}
			return fmt.Errorf("%s %w (%v) before printing %q\n%s", p.name, errExited, p.waitErr, substr, p.shown())
		case <-timer.C:
			return fmt.Errorf("%s did not print %q within %v\n%s", p.name, substr, WaitTimeout, p.shown())
		}
	}
}

// write sends s to the process's stdin, failing tb on error.
func (p *proc) write(tb testing.TB, s string) {
	tb.Helper()
	if _, err := io.WriteString(p.stdin, s); err != nil {
		tb.Fatalf("write to %s stdin: %v\n%s", p.name, err, p.shown())
	}
}

// shown formats the tail of the output for a failure message.
func (p *proc) shown() string {
	s := p.all.String()
	if len(s) > maxShown {
		s = "[...]" + s[len(s)-maxShown:]
	}
	return fmt.Sprintf("--- %s output (stdout+stderr) ---\n%s\n--- end of %s output ---", p.name, s, p.name)
}

// transcript is an io.Writer that records everything written to it and
// lets readers wait for it to grow.
type transcript struct {
	mu   sync.Mutex
	buf  []byte
	grew chan struct{} // closed and replaced on every Write
}

func newTranscript() *transcript {
	return &transcript{grew: make(chan struct{})}
}

// Write appends p and wakes the waiters.
func (t *transcript) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	close(t.grew)
	t.grew = make(chan struct{})
	return len(p), nil
}

// String returns everything written so far.
func (t *transcript) String() string {
	s, _ := t.snapshot()
	return s
}

// snapshot returns everything written so far and a channel that is closed
// at the next Write.
func (t *transcript) snapshot() (string, <-chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf), t.grew
}
