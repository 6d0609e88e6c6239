package testpeer

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Socat is a running socat process.
//
// socat runs with -d -d, so it logs its notices to stderr, e.g. (socat
// 1.7.4 on Debian 12) "N listening on AF=2 127.0.0.1:40123" for a TCP
// listener, "N receiving on AF=10 [0000:...:0001]:40123" for a UDP one,
// "N accepting connection from ..." per connection and
// "E ...: Address already in use" when a bind fails.
type Socat struct {
	p *proc
}

// StartSocat runs socat -d -d with args: options, then the two addresses,
// e.g. StartSocat(tb, "TCP4-LISTEN:0,bind=127.0.0.1,fork", "PIPE"). The
// caller is responsible for using loopback addresses only. socat is killed,
// with any children it forked, when the test ends.
func StartSocat(tb testing.TB, args ...string) *Socat {
	tb.Helper()
	socat := tool(tb, "socat", "socat")
	p, err := startProc("socat", exec.Command(socat, append([]string{"-d", "-d"}, args...)...))
	if err != nil {
		tb.Fatalf("testpeer: %v", err)
	}
	tb.Cleanup(p.kill)
	return &Socat{p: p}
}

// Stdin returns socat's standard input, for an address such as STDIO or
// "-". Closing it sends EOF.
func (s *Socat) Stdin() io.WriteCloser { return s.p.stdin }

// Output returns everything socat printed so far, stdout and stderr
// interleaved.
func (s *Socat) Output() string { return s.p.all.String() }

// Stdout returns only what socat printed on stdout: the data that reached
// a STDIO address, byte for byte.
func (s *Socat) Stdout() string { return s.p.stdout.String() }

// WaitOutput waits until Output contains substr, failing tb with the
// output if socat exits or WaitTimeout passes first.
func (s *Socat) WaitOutput(tb testing.TB, substr string) {
	tb.Helper()
	s.p.waitOutput(tb, substr)
}

// Wait waits up to WaitTimeout for socat to exit by itself and returns its
// exit status as an error, with its output.
func (s *Socat) Wait() error { return s.p.wait() }

// Kill kills socat and every child it forked, and waits for it to exit.
func (s *Socat) Kill() { s.p.kill() }

// listenPattern matches socat's notice for a listening TCP socket and
// captures the address. IPv6 addresses are printed in full in brackets.
const listenPattern = `listening on AF=(?:2|10) (\[[0-9a-fA-F:]+\]|[0-9.]+):([0-9]+)`

// ListenAddr waits for socat's first "listening on" notice and returns the
// address it names as host:port. It works with TCP-LISTEN:0, for which
// socat 1.7.4 reports the port the kernel chose.
func (s *Socat) ListenAddr(tb testing.TB) string {
	tb.Helper()
	s.p.waitOutput(tb, "listening on AF=")
	addr, err := parseListen(s.Output())
	if err != nil {
		tb.Fatalf("testpeer: %v\n%s", err, s.p.shown())
	}
	return addr
}

func parseListen(output string) (string, error) {
	m := regexp.MustCompile(listenPattern).FindStringSubmatch(output)
	if m == nil {
		return "", errors.New("no socat \"listening on\" notice with an address")
	}
	a, err := netip.ParseAddr(strings.Trim(m[1], "[]"))
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(a.Unmap().String(), m[2]), nil
}

// TCPEchoServer starts `socat TCP-LISTEN:0,bind=ADDR,reuseaddr,fork PIPE`
// (with -b 4096)
// and returns its host:port once it accepts connections. network is
// "tcp4" or "tcp6", addr "127.0.0.1" or "::1" (any loopback IP of the
// family). Every connection gets its own child that sends back all it
// receives; after the client half-closes, the rest is echoed and then the
// server closes too.
func TCPEchoServer(tb testing.TB, network, addr string) string {
	tb.Helper()
	host := checkHost(tb, addr)
	var listen string
	switch {
	case network == "tcp4" && host.Is4():
		listen = "TCP4-LISTEN:0,bind=" + host.String()
	case network == "tcp6" && host.Is6():
		listen = "TCP6-LISTEN:0,bind=[" + host.String() + "]"
	default:
		tb.Fatalf("testpeer: TCPEchoServer(%q, %q): want tcp4 with an IPv4 address or tcp6 with an IPv6 one", network, addr)
	}
	// socat is both the writer and the reader of its PIPE. A pipe polls
	// writable with PIPE_BUF (4096) bytes free, so a larger block could
	// fill it and hang socat on itself.
	s := StartSocat(tb, "-b", "4096", listen+",reuseaddr,fork", "PIPE")
	return s.ListenAddr(tb)
}

// UDPEchoServer starts `socat UDP-RECVFROM:PORT,bind=ADDR,fork PIPE` and
// returns its host:port once it receives. network is "udp4" or "udp6",
// addr "127.0.0.1" or "::1". Each datagram is handled by a new child that
// sends it back, whole, to its sender; datagrams up to 65536 bytes are
// echoed.
func UDPEchoServer(tb testing.TB, network, addr string) string {
	tb.Helper()
	host := checkHost(tb, addr)
	var proto, bind string
	switch {
	case network == "udp4" && host.Is4():
		proto, bind = "UDP4-RECVFROM", host.String()
	case network == "udp6" && host.Is6():
		proto, bind = "UDP6-RECVFROM", "["+host.String()+"]"
	default:
		tb.Fatalf("testpeer: UDPEchoServer(%q, %q): want udp4 with an IPv4 address or udp6 with an IPv6 one", network, addr)
	}
	// socat reports port 0 for UDP rather than the port it got, so
	// choose one and retry if it is taken before socat binds it. Each
	// child handles one datagram, which fits in its empty 64 KiB pipe,
	// so the 64 KiB block size cannot hang it the way it would TCP.
	var err error
	for range startAttempts {
		var port int
		port, err = freePort(host, false, true)
		if err != nil {
			break
		}
		s := StartSocat(tb, "-b", "65536", proto+":"+strconv.Itoa(port)+",bind="+bind+",fork", "PIPE")
		err = s.p.awaitOutput("receiving on AF=")
		if err == nil {
			return net.JoinHostPort(host.String(), strconv.Itoa(port))
		}
		s.Kill()
		if !errors.Is(err, errExited) || !inUse(s.Output()) {
			break
		}
	}
	tb.Fatalf("testpeer: start socat UDP echo server: %v", err)
	return ""
}
