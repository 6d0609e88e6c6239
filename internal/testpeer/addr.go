package testpeer

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
)

// startAttempts is how many times a peer is started on a freshly chosen
// port before giving up: the port is free when chosen but another process
// may take it before the peer binds it.
const startAttempts = 3

// errAddrInUse marks a start that failed because the chosen port was
// taken in the meantime; it is the only failure that is retried.
var errAddrInUse = errors.New("address already in use")

// netnsEnv is set by (*Netns).ExecTest in the environment of the test
// process it starts inside a namespace; its value is the namespace name.
const netnsEnv = "TESTPEER_NETNS"

// InNetns returns the name of the network namespace this test process was
// started in by (*Netns).ExecTest, or "" in an ordinary test process. A
// test that re-executes itself uses it to tell its two halves apart.
func InNetns() string {
	name := os.Getenv(netnsEnv)
	if name == "" {
		return ""
	}
	self, err1 := os.Readlink("/proc/self/ns/net")
	initial, err2 := os.Readlink("/proc/1/ns/net")
	if err1 != nil || (err2 == nil && self == initial) {
		// The variable leaked into a process that is not in a
		// namespace of ours.
		return ""
	}
	return name
}

// checkHost fails tb unless host is an IP this package may bind or dial:
// loopback, or anything inside a test's own namespace.
func checkHost(tb testing.TB, host string) netip.Addr {
	tb.Helper()
	a, err := netip.ParseAddr(host)
	if err != nil {
		tb.Fatalf("testpeer: %q is not an IP address: %v", host, err)
	}
	a = a.Unmap()
	if !a.IsLoopback() && InNetns() == "" {
		tb.Fatalf("testpeer: refusing %s: peers use loopback only (127.0.0.0/8, ::1) outside a test's network namespace", a)
	}
	return a
}

// checkHostPort is checkHost for "host:port"; "localhost" is allowed as
// the host.
func checkHostPort(tb testing.TB, hostport string) {
	tb.Helper()
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		tb.Fatalf("testpeer: bad address %q: %v", hostport, err)
	}
	if host != "localhost" {
		checkHost(tb, host)
	}
}

// freePort returns a port that is free on host for the given protocols
// ("tcp", "udp" or both) at the time of the call. The peer that is given
// it may lose a race for it; callers retry on errAddrInUse.
func freePort(host netip.Addr, tcp, udp bool) (int, error) {
	for range 10 {
		port, err := tryFreePort(host, tcp, udp)
		if err == nil {
			return port, nil
		}
		if !errors.Is(err, errAddrInUse) {
			return 0, err
		}
	}
	return 0, fmt.Errorf("no port free for both tcp and udp on %s after 10 tries", host)
}

func tryFreePort(host netip.Addr, tcp, udp bool) (int, error) {
	h := host.String()
	if tcp {
		l, err := net.Listen("tcp", net.JoinHostPort(h, "0"))
		if err != nil {
			return 0, fmt.Errorf("choose a tcp port on %s: %w", h, err)
		}
		defer l.Close()
		port := l.Addr().(*net.TCPAddr).Port
		if !udp {
			return port, nil
		}
		c, err := net.ListenPacket("udp", net.JoinHostPort(h, strconv.Itoa(port)))
		if err != nil {
			return 0, fmt.Errorf("udp port %d on %s: %w", port, h, errAddrInUse)
		}
		defer c.Close()
		return port, nil
	}
	c, err := net.ListenPacket("udp", net.JoinHostPort(h, "0"))
	if err != nil {
		return 0, fmt.Errorf("choose a udp port on %s: %w", h, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

// inUse reports whether a peer's output says its bind failed because the
// address was taken.
func inUse(output string) bool {
	return strings.Contains(output, "Address already in use") || strings.Contains(output, "address already in use")
}
