package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/netrun/netrun/internal/testpeer"
)

// These tests build the real binary once and run it as a user would,
// against socat over loopback.

// waitTimeout bounds every wait on the binary; waits end on its output.
const waitTimeout = 15 * time.Second

// stopTimeout is how long netrun may take to exit after SIGTERM.
const stopTimeout = 5 * time.Second

// binary is the netrun built by TestMain; set once, before any test.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "netrun-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "netrun")
	out, err := exec.Command("go", "build", "-race", "-o", binary, ".").CombinedOutput()
	if err != nil {
		os.RemoveAll(dir)
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if err := testpeer.CheckLeaks(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
		code = max(code, 1)
	}
	os.Exit(code)
}

// transcript is a stream of output that a test can wait on.
type transcript struct {
	mu      sync.Mutex
	b       strings.Builder
	changed chan struct{}
}

func newTranscript() *transcript { return &transcript{changed: make(chan struct{})} }

func (t *transcript) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b.Write(p)
	close(t.changed)
	t.changed = make(chan struct{})
	return len(p), nil
}

func (t *transcript) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.b.String()
}

// proc is a running netrun.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr *transcript
	done           chan struct{} // closed when it has exited
	err            error         // Wait's; set before done closes
}

// start runs netrun with args in dir ("" for the package's folder), and
// kills it at cleanup if it still runs.
func start(t *testing.T, dir string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binary, args...), stdout: newTranscript(), stderr: newTranscript(), done: make(chan struct{})}
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		t.Logf("netrun %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), p.stdout, p.stderr)
	})
	return p
}

// waitFor waits until tr holds substr and returns it, failing if netrun
// exits first.
func (p *proc) waitFor(t *testing.T, tr *transcript, substr string) string {
	t.Helper()
	timeout := time.After(waitTimeout)
	for {
		tr.mu.Lock()
		s, ch := tr.b.String(), tr.changed
		tr.mu.Unlock()
		if strings.Contains(s, substr) {
			return s
		}
		select {
		case <-ch:
		case <-p.done:
			if s := tr.String(); strings.Contains(s, substr) {
				return s
			}
			t.Fatalf("netrun exited (%v) before printing %q:\nstdout:\n%s\nstderr:\n%s", p.err, substr, p.stdout, p.stderr)
		case <-timeout:
			t.Fatalf("timed out waiting for %q:\nstdout:\n%s\nstderr:\n%s", substr, p.stdout, p.stderr)
		}
	}
}

// exitCode waits for netrun to exit and returns its status.
func (p *proc) exitCode(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(within):
		t.Fatalf("netrun did not exit within %v:\nstderr:\n%s", within, p.stderr)
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		t.Fatal(p.err)
	}
	return 0
}

// terminate sends SIGTERM and checks that netrun exits 0 in time.
func (p *proc) terminate(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.exitCode(t, stopTimeout); code != 0 {
		t.Fatalf("netrun exited %d after SIGTERM, want 0:\n%s", code, p.stderr)
	}
}

// listeningPort returns the port in the first "listening PORT" line.
func listeningPort(t *testing.T, out string) string {
	t.Helper()
	_, rest, ok := strings.Cut(out, "listening ")
	if !ok {
		t.Fatalf("no port in %q", out)
	}
	return strings.Fields(rest)[0]
}

// echo checks through socat that the server at port echoes a line.
func echo(t *testing.T, port, msg string) {
	t.Helper()
	sc := testpeer.StartSocat(t, "-", "TCP:127.0.0.1:"+port)
	io.WriteString(sc.Stdin(), msg+"\n")
	sc.WaitOutput(t, msg)
	sc.Stdin().Close()
	if err := sc.Wait(); err != nil {
		t.Fatal(err)
	}
}

// script writes a script file into dir.
func script(t *testing.T, dir, name, src string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestVersion(t *testing.T) {
	t.Parallel()
	p := start(t, "", "version")
	if code := p.exitCode(t, waitTimeout); code != 0 {
		t.Fatalf("exit %d", code)
	}
	out := p.stdout.String()
	for _, want := range []string{"netrun " + version + "\n", "go: " + runtime.Version(), "module: github.com/netrun/netrun", "dep: github.com/yuin/gopher-lua"} {
		if !strings.Contains(out, want) {
			t.Errorf("netrun version lacks %q:\n%s", want, out)
		}
	}
}

// TestRunEchoSIGTERM serves socat clients, then SIGTERM: netrun exits 0,
// closes the connection still open (socat sees the end of the stream)
// and leaves no listening socket.
func TestRunEchoSIGTERM(t *testing.T) {
	t.Parallel()
	p := start(t, "", "run", "--allow", "loopback", "testdata/echo.lua")
	port := listeningPort(t, p.waitFor(t, p.stdout, "listening "))
	p.waitFor(t, p.stderr, `msg="loaded script" script=echo`)
	p.waitFor(t, p.stderr, "capabilities=loopback")
	for i := range 3 {
		echo(t, port, fmt.Sprintf("hello %d from socat", i))
	}

	open := testpeer.StartSocat(t, "-", "TCP:127.0.0.1:"+port)
	io.WriteString(open.Stdin(), "still here\n")
	open.WaitOutput(t, "still here")

	p.terminate(t)
	if err := open.Wait(); err != nil {
		t.Fatalf("the open connection was not closed cleanly: %v\n%s", err, open.Output())
	}
	p.waitFor(t, p.stderr, "host stopped")
	c, err := net.DialTimeout("tcp4", "127.0.0.1:"+port, time.Second)
	if err == nil {
		c.Close()
		t.Fatal("a connect after netrun exited succeeded")
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("connect after exit: %v, want connection refused", err)
	}
}

func TestAllowBogus(t *testing.T) {
	t.Parallel()
	p := start(t, "", "run", "--allow", "loopback,bogus", "testdata/echo.lua")
	if code := p.exitCode(t, waitTimeout); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if out := p.stderr.String(); !strings.Contains(out, `unknown capability "bogus"`) || !strings.Contains(out, "usage: netrun run") {
		t.Fatalf("stderr does not name \"bogus\" and show the usage:\n%s", out)
	}
}

// TestCapabilityDenied runs a script granted internetClient only: binding
// and connecting on loopback fail with E_ACCESSDENIED naming loopback.
func TestCapabilityDenied(t *testing.T) {
	t.Parallel()
	p := start(t, "", "run", "--allow", "internetClient", "testdata/denied.lua")
	out := p.waitFor(t, p.stdout, "done")
	p.waitFor(t, p.stderr, "capabilities=internetClient")
	for _, op := range []string{"bind", "connect"} {
		want := op + "\tfalse\t0x80070005\t"
		i := strings.Index(out, want)
		if i < 0 {
			t.Fatalf("no %q in the output:\n%s", want, out)
		}
		line, _, _ := strings.Cut(out[i:], "\n")
		if !strings.Contains(line, "the loopback capability is required") {
			t.Errorf("%s error does not name loopback: %q", op, line)
		}
	}
	p.terminate(t)
}

// TestSyntaxErrorKeepsOthers runs a folder where one script has a syntax
// error: it is logged with file:line, the other script serves, and
// fixing the file starts it.
func TestSyntaxErrorKeepsOthers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	script(t, dir, "echo.lua", readTestdata(t, "echo.lua"))
	broken := script(t, dir, "broken.lua", "local net = require(\"netrun\")\nlocal x = = 1\n")
	p := start(t, "", "run", "--allow", "loopback", dir)
	p.waitFor(t, p.stderr, `level=ERROR msg="script failed to load" script=broken err="`+broken+`:2:11: near '=': syntax error"`)
	port := listeningPort(t, p.waitFor(t, p.stdout, "listening "))
	echo(t, port, "served despite the broken script")

	script(t, dir, "broken.lua", "print(\"fixed\")\n")
	p.waitFor(t, p.stdout, "fixed")
	p.waitFor(t, p.stderr, `msg="loaded script" script=broken`)
	echo(t, port, "still served")
	p.terminate(t)
}

// TestDefaultScripts runs "netrun run" with neither PATH nor config: it
// serves ./scripts with loopback only, and says so.
func TestDefaultScripts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "scripts"), 0o755); err != nil {
		t.Fatal(err)
	}
	script(t, filepath.Join(dir, "scripts"), "echo.lua", readTestdata(t, "echo.lua"))
	p := start(t, dir, "run")
	p.waitFor(t, p.stderr, "running the default scripts")
	p.waitFor(t, p.stderr, "loopback only, a safe default")
	port := listeningPort(t, p.waitFor(t, p.stdout, "listening "))
	echo(t, port, "default")
	p.terminate(t)

	empty := t.TempDir()
	q := start(t, empty, "run")
	if code := q.exitCode(t, waitTimeout); code != 2 {
		t.Fatalf("netrun run without ./scripts exited %d, want 2", code)
	}
	q.waitFor(t, q.stderr, "no folder "+filepath.Join(empty, "scripts"))
}

// TestConfig runs the scripts a config file names, with its grants and
// workers.
func TestConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	script(t, dir, "echo.lua", readTestdata(t, "echo.lua"))
	cfg := script(t, dir, "netrun.toml", "[host]\ndrain_timeout = \"1s\"\n\n[[script]]\npath = \"echo.lua\"\nallow = [\"loopback\"]\nworkers = 1\n")
	p := start(t, "", "run", "--config", cfg)
	p.waitFor(t, p.stderr, "workers=1 capabilities=loopback")
	port := listeningPort(t, p.waitFor(t, p.stdout, "listening "))
	echo(t, port, "configured")
	p.terminate(t)

	bad := script(t, dir, "bad.toml", "[[script]]\npath = \"echo.lua\"\nallow = [\"bogus\"]\n")
	q := start(t, "", "run", "--config", bad)
	if code := q.exitCode(t, waitTimeout); code != 1 {
		t.Fatalf("a bad config exited %d, want 1", code)
	}
	q.waitFor(t, q.stderr, "bad.toml:3")
}

func TestCommandLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{nil, 2, "Usage:"},
		{[]string{"help"}, 0, "netrun run [--config FILE] [--allow CAPS] [--workers N] [PATH ...]"},
		{[]string{"help", "run"}, 0, "-allow CAPS"},
		{[]string{"run", "-h"}, 0, "-config FILE"},
		{[]string{"help", "nope"}, 2, `unknown command "nope"`},
		{[]string{"nope"}, 2, `unknown command "nope"`},
		{[]string{"bench", "-mode", "ws2"}, 2, `-mode "ws2": want tcp, udp, ws or plugin`},
		{[]string{"bench", "-size", "70000", "-mode", "udp"}, 2, "-size 70000: want 1 to 65507"},
		{[]string{"version", "extra"}, 2, "takes no arguments"},
		{[]string{"run", "--nope"}, 2, "flag provided but not defined: -nope"},
		{[]string{"run", "testdata/missing.lua"}, 1, "no such file or directory"},
	} {
		t.Run(strings.Join(tc.args, "_"), func(t *testing.T) {
			t.Parallel()
			p := start(t, "", tc.args...)
			if code := p.exitCode(t, waitTimeout); code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			if !strings.Contains(p.stderr.String(), tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, p.stderr)
			}
		})
	}
}

// TestBench runs a short "netrun bench" for tcp and udp and checks that it
// measured both servers and printed their ratio.
func TestBench(t *testing.T) {
	for _, mode := range []string{"tcp", "udp", "ws"} {
		t.Run(mode, func(t *testing.T) {
			p := start(t, "", "bench", "-mode", mode, "-conns", "4", "-duration", "200ms", "-rounds", "1")
			if code := p.exitCode(t, waitTimeout); code != 0 {
				t.Fatalf("exit %d\nstderr: %s", code, p.stderr)
			}
			out := p.stdout.String()
			for _, want := range []string{"netrun bench " + mode + ": 4 connections", "raw-go", "lua", "ratio lua/raw: "} {
				if !strings.Contains(out, want) {
					t.Fatalf("output lacks %q:\n%s", want, out)
				}
			}
			for _, line := range strings.Split(out, "\n") {
				if f := strings.Fields(line); len(f) == 4 && (f[0] == "raw-go" || f[0] == "lua") && (f[1] == "0" || f[1] == "NaN") {
					t.Fatalf("%s measured no message:\n%s", f[0], out)
				}
			}
		})
	}
}
