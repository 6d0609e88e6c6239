package main

import (
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// logValue returns the value of key on the last log line of out that
// contains msg.
func logValue(t *testing.T, out, msg, key string) string {
	t.Helper()
	var found string
	re := regexp.MustCompile(`\b` + regexp.QuoteMeta(key) + `=("[^"]*"|\S+)`)
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, msg) {
			if m := re.FindStringSubmatch(line); m != nil {
				found = strings.Trim(m[1], `"`)
			}
		}
	}
	if found == "" {
		t.Fatalf("no %s= on a line with %q in:\n%s", key, msg, out)
	}
	return found
}

// waitExit waits until the process pid has exited, on a pidfd (no
// polling), or fails the test after waitTimeout.
func waitExit(t *testing.T, pid int) {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if err == unix.ESRCH {
		return // gone already
	}
	if err != nil {
		t.Fatalf("pidfd_open(%d): %v", pid, err)
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, int(waitTimeout/time.Millisecond))
	if err != nil || n == 0 {
		t.Fatalf("process %d still runs after %v (%v)", pid, waitTimeout, err)
	}
}

// TestRunPlugins runs a script and two first-party plugins from a config:
// the plugins serve; when one is killed with SIGKILL the script and the
// other plugin go on serving, the plugin comes back on the same port (its
// listener was transferred); connlog writes its connections as JSON
// lines; SIGTERM stops everything and leaves no plugin process.
func TestRunPlugins(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	script(t, dir, "echo.lua", readTestdata(t, "echo.lua"))
	cfg := script(t, dir, "netrun.toml", `
[[script]]
path = "echo.lua"
allow = ["loopback"]
workers = 1

[[plugin]]
name = "echo"
args = ["-addr", "127.0.0.1:0", "-transfer"]
allow = ["loopback"]

[[plugin]]
name = "connlog"
args = ["-addr", "127.0.0.1:0"]
allow = ["loopback"]
`)
	p := start(t, "", "run", "--config", cfg)
	scriptPort := listeningPort(t, p.waitFor(t, p.stdout, "listening "))
	out := p.waitFor(t, p.stderr, "echo plugin listening")
	echoPort := logValue(t, out, "echo plugin listening", "port")
	echoPID, _ := strconv.Atoi(logValue(t, out, `msg="plugin started" plugin=echo`, "pid"))
	out = p.waitFor(t, p.stderr, "connlog listening")
	logPort := logValue(t, out, "connlog listening", "port")
	logPID, _ := strconv.Atoi(logValue(t, out, `msg="plugin started" plugin=connlog`, "pid"))

	echo(t, echoPort, "through the echo plugin")
	echo(t, logPort, "through connlog")
	p.waitFor(t, p.stderr, "event=close")

	if err := syscall.Kill(echoPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.waitFor(t, p.stderr, `msg="plugin exited; restarting it" plugin=echo instance=1`)
	echo(t, scriptPort, "the script serves on")
	echo(t, logPort, "connlog serves on")
	p.waitFor(t, p.stderr, "reclaimed=true")
	echo(t, echoPort, "the echo plugin is back")

	out = p.stderr.String()
	echoPID2, _ := strconv.Atoi(logValue(t, out, `msg="plugin started" plugin=echo`, "pid"))
	p.terminate(t)
	for _, pid := range []int{echoPID2, logPID} {
		waitExit(t, pid)
	}
}

// TestKilledHostLeavesNoPlugin: a host killed with SIGKILL takes its
// plugins with it (Pdeathsig).
func TestKilledHostLeavesNoPlugin(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := script(t, dir, "netrun.toml", "[[plugin]]\nname = \"echo\"\nargs = [\"-addr\", \"127.0.0.1:0\"]\nallow = [\"loopback\"]\n")
	p := start(t, "", "run", "--config", cfg)
	out := p.waitFor(t, p.stderr, "echo plugin listening")
	pid, _ := strconv.Atoi(logValue(t, out, `msg="plugin started"`, "pid"))
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
	waitExit(t, pid)
}

func TestBenchPlugin(t *testing.T) {
	p := start(t, "", "bench", "-mode", "plugin", "-conns", "4", "-duration", "200ms", "-rounds", "1")
	if code := p.exitCode(t, waitTimeout); code != 0 {
		t.Fatalf("exit %d\nstderr: %s", code, p.stderr)
	}
	out := p.stdout.String()
	for _, want := range []string{"netrun bench tcp with the echo plugin: 4 connections", "raw-go", "lua", "plugin", "ratio plugin/raw: "} {
		if !strings.Contains(out, want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "plugin" && (f[1] == "0" || f[1] == "NaN") {
			t.Fatalf("the plugin measured no message:\n%s", out)
		}
	}
}
