package testpeer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// execTestTimeout bounds a test run by ExecTest. The child gets it as its
// -test.timeout, so a hung child panics with every goroutine's stack
// before the parent gives up on it.
const execTestTimeout = 2 * time.Minute

// tentativePoll is how often VethPair looks again for tentative IPv6
// addresses.
const tentativePoll = 10 * time.Millisecond

// Netns is a network namespace made for one test, managed with iproute2
// (`ip netns`). It is deleted when the test ends.
type Netns struct {
	Name string // "nrt-" and a random suffix

	ip string // path of the ip binary
}

// NewNetns creates a network namespace with its loopback interface up.
// If the kernel or the sandbox forbids namespaces (not root, no
// CAP_SYS_ADMIN, seccomp) it skips the test with a message that says so:
// "network namespaces unavailable here: <error>". A missing ip binary
// fails the test instead.
func NewNetns(tb testing.TB) *Netns {
	tb.Helper()
	ip := tool(tb, "ip", "iproute2")
	name := "nrt-" + randomHex(tb, 5)
	if out, err := runBounded(ip, "netns", "add", name); err != nil {
		tb.Skipf("network namespaces unavailable here: ip netns add %s: %v: %s", name, err, strings.TrimSpace(out))
	}
	n := &Netns{Name: name, ip: ip}
	tb.Cleanup(func() {
		if out, err := runBounded(ip, "netns", "delete", name); err != nil {
			tb.Errorf("testpeer: ip netns delete %s: %v: %s", name, err, out)
		}
	})
	n.ipCmd(tb, "link", "set", "lo", "up")
	return n
}

// Run runs the command name with args inside the namespace and returns its
// combined output, failing tb with that output if it fails or runs longer
// than WaitTimeout.
func (n *Netns) Run(tb testing.TB, name string, args ...string) string {
	tb.Helper()
	out, err := runBounded(n.ip, append([]string{"netns", "exec", n.Name, name}, args...)...)
	if err != nil {
		tb.Fatalf("testpeer: in netns %s: %s %s: %v\n%s", n.Name, name, strings.Join(args, " "), err, out)
	}
	return out
}

// Command returns an unstarted command that runs name with args inside
// the namespace (through `ip netns exec`). The caller owns it: it must
// wait for it, or kill it, before the test ends.
func (n *Netns) Command(name string, args ...string) *exec.Cmd {
	return exec.Command(n.ip, append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// ExecTest re-executes the current test binary inside the namespace,
// running only the test testName (a top-level name or a "Parent/sub"
// path, as t.Name() gives it) with -test.v, and returns its output.
//
// The child's environment is this process's, plus
// TESTPEER_NETNS=<namespace> so that InNetns tells the child it is the
// half that runs inside, plus GORACE=atexit_sleep_ms=0 unless GORACE is
// set (a race-enabled binary otherwise sleeps 1 s at exit), plus env
// ("KEY=value"). It fails tb with the child's output if the child fails,
// runs no test, or runs longer than two minutes.
//
// The test must branch on InNetns, or it would re-execute itself forever:
//
//	func TestInside(t *testing.T) {
//		if testpeer.InNetns() != "" {
//			// ... the part that runs inside the namespace ...
//			return
//		}
//		ns := testpeer.NewNetns(t)
//		t.Log(ns.ExecTest(t, t.Name()))
//	}
func (n *Netns) ExecTest(tb testing.TB, testName string, env ...string) string {
	tb.Helper()
	self, err := os.Executable()
	if err != nil {
		tb.Fatalf("testpeer: find the test binary: %v", err)
	}
	cmd := n.Command(self, "-test.run="+runPattern(testName), "-test.v", "-test.count=1",
		"-test.timeout="+execTestTimeout.String())
	cmd.Env = append(os.Environ(), netnsEnv+"="+n.Name)
	if os.Getenv("GORACE") == "" {
		// A race-enabled binary sleeps 1 s before exiting by default
		// (atexit_sleep_ms); the child's goroutines are done by then
		// (its leak check says so), so the sleep only costs time.
		cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0")
	}
	cmd.Env = append(cmd.Env, env...)
	p, err := startProc("test "+testName+" in netns "+n.Name, cmd)
	if err != nil {
		tb.Fatalf("testpeer: %v", err)
	}
	tb.Cleanup(p.kill)
	_ = p.stdin.Close()
	err = p.waitFor(execTestTimeout + WaitTimeout)
	p.kill()
	out := p.all.String()
	if err != nil {
		tb.Fatalf("testpeer: %v", err)
	}
	if strings.Contains(out, "no tests to run") || !strings.Contains(out, "=== RUN") {
		tb.Fatalf("testpeer: %s ran no test (pattern %q)\n%s", p.name, runPattern(testName), out)
	}
	return out
}

// runPattern turns a test name such as "TestX/case_1" into a -test.run
// pattern that matches that test alone.
func runPattern(testName string) string {
	parts := strings.Split(testName, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// VethPair links namespaces a and b with a veth pair and returns the
// interface names (ifA in a, ifB in b). On each side it turns IPv6
// duplicate address detection off (so addresses are usable at once, the
// link-local one included), turns multicast on, assigns the CIDR
// addresses (e.g. "10.77.0.1/24", "fd00:77::1/64"), brings the link up
// and adds the multicast routes 224.0.0.0/4 and ff00::/8 through it. When
// a namespace has several veths, the first one's multicast routes win;
// pick the interface explicitly to send multicast through another.
func VethPair(tb testing.TB, a, b *Netns, addrA, addrB []string) (ifA, ifB string) {
	tb.Helper()
	if a == nil || b == nil || a == b {
		tb.Fatal("testpeer: VethPair needs two distinct namespaces")
	}
	suffix := randomHex(tb, 4)
	// Interface names are at most 15 bytes.
	ifA, ifB = "nrt"+suffix+"a", "nrt"+suffix+"b"
	a.ipCmd(tb, "link", "add", ifA, "type", "veth", "peer", "name", ifB, "netns", b.Name)
	a.setUpVeth(tb, ifA, addrA)
	b.setUpVeth(tb, ifB, addrB)
	a.waitNotTentative(tb, ifA)
	b.waitNotTentative(tb, ifB)
	return ifA, ifB
}

// setUpVeth configures one end of a veth pair as VethPair documents.
func (n *Netns) setUpVeth(tb testing.TB, ifName string, addrs []string) {
	tb.Helper()
	// Before the link comes up, so that its link-local address skips
	// DAD too. /proc/sys/net is the namespace's own inside ip netns exec.
	n.Run(tb, "sh", "-c", `echo 0 > "/proc/sys/net/ipv6/conf/$1/accept_dad"`, "sh", ifName)
	n.ipCmd(tb, "link", "set", ifName, "multicast", "on")
	for _, s := range addrs {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			tb.Fatalf("testpeer: VethPair: address %q is not in CIDR form: %v", s, err)
		}
		args := []string{"addr", "add", pfx.String(), "dev", ifName}
		if pfx.Addr().Is6() {
			args = append(args, "nodad")
		}
		n.ipCmd(tb, args...)
	}
	n.ipCmd(tb, "link", "set", ifName, "up")
	n.ipCmd(tb, "route", "append", "224.0.0.0/4", "dev", ifName)
	n.ipCmd(tb, "-6", "route", "append", "ff00::/8", "dev", ifName)
}

// waitNotTentative waits until no IPv6 address of ifName is tentative.
// With DAD off, the kernel still marks the link-local address tentative
// until the link gets carrier (when the peer comes up) and clears the flag
// from a work queue soon after. Nothing announces that to us, so this
// polls, for at most WaitTimeout.
func (n *Netns) waitNotTentative(tb testing.TB, ifName string) {
	tb.Helper()
	deadline := time.Now().Add(WaitTimeout)
	for {
		out, err := runBounded(n.ip, "-n", n.Name, "-6", "addr", "show", "dev", ifName, "tentative")
		if err != nil {
			tb.Fatalf("testpeer: ip -n %s -6 addr show dev %s tentative: %v\n%s", n.Name, ifName, err, out)
		}
		if strings.TrimSpace(out) == "" {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("testpeer: addresses of %s in %s still tentative after %v:\n%s", ifName, n.Name, WaitTimeout, out)
		}
		time.Sleep(tentativePoll)
	}
}

// ipCmd runs `ip -n NAME args...`, failing tb on error.
func (n *Netns) ipCmd(tb testing.TB, args ...string) {
	tb.Helper()
	full := append([]string{"-n", n.Name}, args...)
	if out, err := runBounded(n.ip, full...); err != nil {
		tb.Fatalf("testpeer: ip %s: %v\n%s", strings.Join(full, " "), err, out)
	}
}

// runBounded runs the command name with args to completion, killing it
// after WaitTimeout, and returns its combined output.
func runBounded(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), WaitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// randomHex returns 2n random hex digits.
func randomHex(tb testing.TB, n int) string {
	tb.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatalf("testpeer: random name: %v", err)
	}
	return hex.EncodeToString(b)
}
