package sockets_test

// One test per SocketErrorStatus that Linux can produce, each triggering the
// real condition on loopback or in a namespace the test makes. The
// certificate statuses are in tls_test.go, MessageTooLong in
// datagram_test.go, OperationAborted in stream_test.go.

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netrun/netrun/internal/testpeer"
	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
)

// closedPort returns a loopback TCP port with nothing listening.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	return port
}

func TestStatusConnectionRefused(t *testing.T) {
	s := sockets.NewStreamSocket()
	defer s.Close()
	err := s.Connect(testCtx(t), host(t, "127.0.0.1"), closedPort(t), sockets.PlainSocket)
	wantStatus(t, err, socketerror.ConnectionRefused)
	wantHResult(t, err, 0x8007274D)
	// A failed connect leaves the socket connectable.
	addr := testpeer.TCPEchoServer(t, "tcp4", "127.0.0.1")
	h, p := splitHostPort(t, addr)
	if err := s.Connect(testCtx(t), h, p, sockets.PlainSocket); err != nil {
		t.Fatalf("connect after a refused one: %v", err)
	}
}

func dnsEnv(t *testing.T, records ...string) *sockets.Env {
	dns := testpeer.StartDNS(t, records...)
	return &sockets.Env{Resolver: &networking.Resolver{DNS: dns.Resolver()}}
}

func TestStatusHostNotFound(t *testing.T) {
	env := dnsEnv(t, "known.test=127.0.0.1")
	s := env.NewStreamSocket()
	defer s.Close()
	err := s.Connect(testCtx(t), host(t, "unknown.test."), "80", sockets.PlainSocket)
	wantStatus(t, err, socketerror.HostNotFound)
	wantHResult(t, err, 0x80072AF9)
}

func TestStatusNonAuthoritativeHostNotFound(t *testing.T) {
	// A resolver whose server does not answer at all: a UDP port on
	// loopback with no one behind it.
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := pc.LocalAddr().String()
	pc.Close()
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, dead)
	}}
	env := &sockets.Env{Resolver: &networking.Resolver{DNS: r}}
	s := env.NewStreamSocket()
	defer s.Close()
	err = s.Connect(testCtx(t), host(t, "any.test."), "80", sockets.PlainSocket)
	wantStatus(t, err, socketerror.NonAuthoritativeHostNotFound)
}

func TestStatusNoAddressesFound(t *testing.T) {
	// The name has only an IPv6 address; the local endpoint is IPv4.
	env := dnsEnv(t, "v6only.test=::1")
	s := env.NewStreamSocket()
	defer s.Close()
	pair := networking.EndpointPair{LocalHostName: host(t, "127.0.0.1"), RemoteHostName: host(t, "v6only.test."), RemoteServiceName: "80"}
	err := s.ConnectEndpointPair(testCtx(t), pair, sockets.PlainSocket)
	wantStatus(t, err, socketerror.NoAddressesFound)
}

func TestStatusClassTypeNotFound(t *testing.T) {
	s := sockets.NewStreamSocket()
	defer s.Close()
	err := s.Connect(testCtx(t), host(t, "127.0.0.1"), "no-such-service", sockets.PlainSocket)
	wantStatus(t, err, socketerror.ClassTypeNotFound)
	wantHResult(t, err, 0x8007277D)
}

func TestStatusAddressAlreadyInUse(t *testing.T) {
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	l := sockets.NewStreamSocketListener()
	defer l.Close()
	port := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)
	err = l.BindEndpoint(testCtx(t), host(t, "127.0.0.1"), port)
	wantStatus(t, err, socketerror.AddressAlreadyInUse)
	wantHResult(t, err, 0x80072740)
}

func TestStatusCannotAssignRequestedAddress(t *testing.T) {
	// 192.0.2.1 (TEST-NET-1) is no address of this machine; bind fails
	// without a packet being sent.
	l := sockets.NewStreamSocketListener()
	defer l.Close()
	err := l.BindEndpoint(testCtx(t), host(t, "192.0.2.1"), "")
	wantStatus(t, err, socketerror.CannotAssignRequestedAddress)
	wantHResult(t, err, 0x80072741)
}

// fullBacklog returns the address of a listener whose accept queue is full,
// so the kernel drops further SYNs and a connect to it hangs.
func fullBacklog(t *testing.T) string {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := syscall.Getsockname(fd)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
	// A backlog of 0 holds one connection: fill it.
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return addr
}

func TestStatusConnectionTimedOut(t *testing.T) {
	addr := fullBacklog(t)
	s := sockets.NewStreamSocket()
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	h, p := splitHostPort(t, addr)
	err := s.Connect(ctx, h, p, sockets.PlainSocket)
	wantStatus(t, err, socketerror.ConnectionTimedOut)
	wantHResult(t, err, 0x8007274C)
}

func TestStatusOperationAbortedConnect(t *testing.T) {
	addr := fullBacklog(t)
	s := sockets.NewStreamSocket()
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	h, p := splitHostPort(t, addr)
	go func() { errc <- s.Connect(ctx, h, p, sockets.PlainSocket) }()
	eventually(t, "a connect in progress", func() bool {
		return s.Control().SetSerializeConnectionAttempts(true) != nil
	})
	cancel()
	wantStatus(t, <-errc, socketerror.OperationAborted)
}

func TestStatusConnectionResetByPeer(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := connect(t, nil, ln.Addr().String(), sockets.PlainSocket)
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	peer.(*net.TCPConn).SetLinger(0) // close with RST
	peer.Close()
	_, err = s.InputStream().Read(testCtx(t), make([]byte, 1), sockets.Partial)
	wantStatus(t, err, socketerror.ConnectionResetByPeer)
	wantHResult(t, err, 0x80072746)
}

// TestStatusTooManyOpenFiles runs in a child process whose descriptor
// limit is lowered, so that the next socket cannot be made.
func TestStatusTooManyOpenFiles(t *testing.T) {
	if os.Getenv("NETRUN_EMFILE_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestStatusTooManyOpenFiles$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), "NETRUN_EMFILE_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestStatusTooManyOpenFiles") {
			t.Fatalf("child: %v\n%s", err, out)
		}
		return
	}
	addr := testpeer.TCPEchoServer(t, "tcp4", "127.0.0.1")
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	lim := syscall.Rlimit{Cur: uint64(len(entries) + 4), Max: uint64(len(entries) + 4)}
	var old syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old)
	lim.Max = old.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old)
	h, p := splitHostPort(t, addr)
	for i := 0; i < 64; i++ {
		s := sockets.NewStreamSocket()
		defer s.Close()
		if err := s.Connect(testCtx(t), h, p, sockets.PlainSocket); err != nil {
			wantStatus(t, err, socketerror.TooManyOpenFiles)
			wantHResult(t, err, 0x80072728)
			return
		}
	}
	t.Fatal("64 connects under a lowered descriptor limit all succeeded")
}

// TestStatusUnreachable runs inside a network namespace with only
// loopback: a connect to a network with no route is NetworkIsUnreachable,
// one through an "unreachable" route UnreachableHost. No packet leaves
// the namespace.
func TestStatusUnreachable(t *testing.T) {
	if testpeer.InNetns() != "" {
		for _, tc := range []struct {
			addr string
			want socketerror.Status
		}{
			{"192.0.2.1", socketerror.NetworkIsUnreachable},
			{"198.51.100.1", socketerror.UnreachableHost},
		} {
			s := sockets.NewStreamSocket()
			err := s.Connect(testCtx(t), host(t, tc.addr), "80", sockets.PlainSocket)
			s.Close()
			wantStatus(t, err, tc.want)
		}
		return
	}
	ns := testpeer.NewNetns(t)
	ns.Run(t, "ip", "route", "add", "unreachable", "198.51.100.0/24")
	t.Log(ns.ExecTest(t, t.Name()))
}
