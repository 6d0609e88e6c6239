package sockets_test

import (
	"net"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
)

// TestStreamSocketControlReachesKernel sets every StreamSocketControl
// property and reads the socket option back from the connected socket.
func TestStreamSocketControlReachesKernel(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6"} {
		t.Run(network, func(t *testing.T) {
			addr := map[string]string{"tcp4": "127.0.0.1:0", "tcp6": "[::1]:0"}[network]
			ln, err := net.Listen(network, addr)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			s := sockets.NewStreamSocket()
			defer s.Close()
			c := s.Control()
			if !c.NoDelay() || c.KeepAlive() || c.OutboundUnicastHopLimit() != 128 {
				t.Fatalf("defaults: NoDelay %v KeepAlive %v HopLimit %d; WinRT's are true, false, 128", c.NoDelay(), c.KeepAlive(), c.OutboundUnicastHopLimit())
			}
			must(t, c.SetNoDelay(false))
			must(t, c.SetKeepAlive(true))
			must(t, c.SetOutboundBufferSizeInBytes(64<<10))
			must(t, c.SetOutboundUnicastHopLimit(7))
			must(t, c.SetQualityOfService(sockets.LowLatency))
			h, p := splitHostPort(t, ln.Addr().String())
			must(t, s.Connect(testCtx(t), h, p, sockets.PlainSocket))

			opt := func(level, name int) int {
				v, err := s.SockoptInt(level, name)
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			if opt(unix.IPPROTO_TCP, unix.TCP_NODELAY) != 0 {
				t.Error("TCP_NODELAY set although NoDelay = false")
			}
			if opt(unix.SOL_SOCKET, unix.SO_KEEPALIVE) != 1 {
				t.Error("SO_KEEPALIVE off although KeepAlive = true")
			}
			if v := opt(unix.SOL_SOCKET, unix.SO_SNDBUF); v < 64<<10 {
				t.Errorf("SO_SNDBUF = %d, want >= 64 KiB", v)
			}
			if network == "tcp4" {
				if v := opt(unix.IPPROTO_IP, unix.IP_TTL); v != 7 {
					t.Errorf("IP_TTL = %d, want 7", v)
				}
				if v := opt(unix.IPPROTO_IP, unix.IP_TOS); v != 0xB8 {
					t.Errorf("IP_TOS = %#x, want 0xB8", v)
				}
			} else {
				if v := opt(unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS); v != 7 {
					t.Errorf("IPV6_UNICAST_HOPS = %d, want 7", v)
				}
				if v := opt(unix.IPPROTO_IPV6, unix.IPV6_TCLASS); v != 0xB8 {
					t.Errorf("IPV6_TCLASS = %#x, want 0xB8", v)
				}
			}
			if v := opt(unix.SOL_SOCKET, unix.SO_PRIORITY); v != 6 {
				t.Errorf("SO_PRIORITY = %d, want 6", v)
			}

			// WinRT's timing rules once connected.
			for name, err := range map[string]error{
				"NoDelay":          c.SetNoDelay(true),
				"KeepAlive":        c.SetKeepAlive(false),
				"HopLimit":         c.SetOutboundUnicastHopLimit(9),
				"QualityOfService": c.SetQualityOfService(sockets.Normal),
				"Serialize":        c.SetSerializeConnectionAttempts(true),
			} {
				if socketerror.HResultOf(err) != socketerror.EIllegalMethodCall {
					t.Errorf("Set%s after connect: %v, want E_ILLEGAL_METHOD_CALL", name, err)
				}
			}
			if err := c.SetOutboundBufferSizeInBytes(1 << 20); err != nil {
				t.Errorf("SetOutboundBufferSizeInBytes after connect must be silently ignored: %v", err)
			}
			if c.OutboundBufferSizeInBytes() != 64<<10 {
				t.Error("OutboundBufferSizeInBytes changed after connect")
			}
		})
	}
}

func TestControlArguments(t *testing.T) {
	c := sockets.NewStreamSocket().Control()
	wantHResult(t, c.SetOutboundUnicastHopLimit(0), socketerror.EInvalidArg)
	wantHResult(t, c.SetQualityOfService(5), socketerror.EInvalidArg)
	wantHResult(t, c.SetMinProtectionLevel(sockets.BluetoothEncryptionWithAuthentication), socketerror.EInvalidArg)
	wantHResult(t, c.SetIgnorableServerCertificateErrors([]sockets.ChainValidationResult{sockets.Revoked}), socketerror.EInvalidArg)
	s := sockets.NewStreamSocket()
	wantHResult(t, s.Connect(testCtx(t), nil, "80", sockets.PlainSocket), socketerror.EInvalidArg)
	wantHResult(t, s.Connect(testCtx(t), host(t, "127.0.0.1"), "", sockets.PlainSocket), socketerror.EInvalidArg)
	wantHResult(t, s.Connect(testCtx(t), host(t, "127.0.0.1"), "80", sockets.BluetoothEncryptionWithAuthentication), socketerror.EInvalidArg)
	wantHResult(t, s.Connect(testCtx(t), host(t, "127.0.0.1"), "70000", sockets.PlainSocket), socketerror.EInvalidArg)
}

// TestListenerControlInherited checks that accepted sockets carry the
// listener's options, read back from the accepted socket itself.
func TestListenerControlInherited(t *testing.T) {
	l := sockets.NewStreamSocketListener()
	defer l.Close()
	c := l.Control()
	must(t, c.SetNoDelay(false))
	must(t, c.SetKeepAlive(true))
	must(t, c.SetOutboundUnicastHopLimit(9))
	must(t, c.SetQualityOfService(sockets.LowLatency))
	got := make(chan *sockets.StreamSocket, 1)
	l.ConnectionReceived().Add(func(a *sockets.ConnectionReceivedEventArgs) { got <- a.Socket })
	must(t, l.BindEndpoint(testCtx(t), host(t, "127.0.0.1"), ""))
	wantHResult(t, c.SetNoDelay(true), socketerror.EIllegalMethodCall)
	conn, err := net.Dial("tcp4", "127.0.0.1:"+l.Information().LocalPort())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	s := <-got
	defer s.Close()
	for _, o := range []struct {
		name       string
		level, opt int
		want       int
	}{
		{"TCP_NODELAY", unix.IPPROTO_TCP, unix.TCP_NODELAY, 0},
		{"SO_KEEPALIVE", unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
		{"IP_TTL", unix.IPPROTO_IP, unix.IP_TTL, 9},
		{"IP_TOS", unix.IPPROTO_IP, unix.IP_TOS, 0xB8},
	} {
		if v, err := s.SockoptInt(o.level, o.opt); err != nil || v != o.want {
			t.Errorf("accepted socket %s = %d (%v), want %d", o.name, v, err, o.want)
		}
	}
	if s.Control().NoDelay() || !s.Control().KeepAlive() {
		t.Error("accepted socket's Control does not show the listener's values")
	}
	if s.Information().RemotePort() != strconv.Itoa(conn.LocalAddr().(*net.TCPAddr).Port) {
		t.Error("accepted socket's RemotePort is not the client's port")
	}
}

// TestConnectTriesEveryAddress resolves a name to ::1, where nothing
// listens, and 127.0.0.1, where the server is; both the serialized and the
// racing connect must reach the server.
func TestConnectTriesEveryAddress(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	env := dnsEnv(t, "dual.test=::1", "dual.test=127.0.0.1")
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	pairs, err := env.GetEndpointPairs(testCtx(t), host(t, "dual.test."), port, 0)
	if err != nil || len(pairs) != 2 {
		t.Fatalf("GetEndpointPairs = %v, %v; want two pairs", pairs, err)
	}
	for _, serialize := range []bool{true, false} {
		s := env.NewStreamSocket()
		must(t, s.Control().SetSerializeConnectionAttempts(serialize))
		if err := s.Connect(testCtx(t), host(t, "dual.test."), port, sockets.PlainSocket); err != nil {
			t.Fatalf("serialize=%v: %v", serialize, err)
		}
		if got := s.Information().RemoteAddress().CanonicalName(); got != "127.0.0.1" {
			t.Errorf("serialize=%v: connected to %s", serialize, got)
		}
		s.Close()
	}
	// Each pair connects on its own: the IPv6 one is refused.
	s := env.NewStreamSocket()
	defer s.Close()
	for _, p := range pairs {
		err := s.ConnectEndpointPair(testCtx(t), p, sockets.PlainSocket)
		if a, _ := p.RemoteHostName.Addr(); a.Is6() {
			wantStatus(t, err, socketerror.ConnectionRefused)
		} else if err != nil {
			t.Fatal(err)
		}
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
