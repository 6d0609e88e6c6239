package sockets_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netrun/netrun/internal/testpeer"
	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
)

// dgMsg is a copy of one MessageReceived event, kept beyond the handler.
type dgMsg struct {
	data       string
	remote     netip.AddrPort
	local      netip.Addr
	remoteHost string // RemoteAddress().CanonicalName()
	remotePort string
	localHost  string
}

// dgCollect registers a handler that copies every datagram d raises into
// the returned channel.
func dgCollect(d *sockets.DatagramSocket) <-chan dgMsg {
	ch := make(chan dgMsg, 64)
	d.MessageReceived().Add(func(a *sockets.DatagramSocketMessageReceivedEventArgs) {
		ch <- dgMsg{
			data:       string(a.Data()),
			remote:     a.RemoteAddrPort(),
			local:      a.LocalAddr(),
			remoteHost: a.RemoteAddress().CanonicalName(),
			remotePort: a.RemotePort(),
			localHost:  a.LocalAddress().CanonicalName(),
		}
	})
	return ch
}

// dgRecv returns the next datagram from ch, failing after 10 s.
func dgRecv(t testing.TB, ch <-chan dgMsg) dgMsg {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no MessageReceived within 10 s")
		return dgMsg{}
	}
}

// dgSocatSend sends payload as one datagram to addr (host:port) from a
// socat process with an ephemeral port of its own, and waits for socat
// to exit.
func dgSocatSend(t testing.TB, addr, payload string) {
	t.Helper()
	ap := netip.MustParseAddrPort(addr)
	proto := "UDP4-SENDTO:"
	if ap.Addr().Is6() {
		proto = "UDP6-SENDTO:"
	}
	s := testpeer.StartSocat(t, "-u", "STDIN", proto+addr)
	if _, err := s.Stdin().Write([]byte(payload)); err != nil {
		t.Fatal(err)
	}
	s.Stdin().Close()
	if err := s.Wait(); err != nil {
		t.Fatal(err)
	}
}

// dgBound returns a socket bound to an ephemeral port on host ("" for
// every address), closed at cleanup.
func dgBound(t testing.TB, env *sockets.Env, hostname string) *sockets.DatagramSocket {
	t.Helper()
	d := env.NewDatagramSocket()
	t.Cleanup(func() { d.Close() })
	var err error
	if hostname == "" {
		err = d.BindServiceName(testCtx(t), "")
	} else {
		err = d.BindEndpoint(testCtx(t), host(t, hostname), "")
	}
	if err != nil {
		t.Fatalf("bind %q: %v", hostname, err)
	}
	return d
}

// dgAddr is the loopback address of the bound socket d in the family of
// loop.
func dgAddr(d *sockets.DatagramSocket, loop string) string {
	return net.JoinHostPort(loop, d.Information().LocalPort())
}

// dgPayload returns n bytes that differ by size and position.
func dgPayload(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte('a' + (i+n)%26)
	}
	return p
}

// TestDatagramEchoSocat sends three datagrams of different sizes to a socat
// UDP echo server over 127.0.0.1 and ::1, through GetOutputStream and
// through Connect + OutputStream, and receives exactly those three back:
// one Write is one datagram. The events report the peer's address and port
// and the loopback address they arrived on, also on a socket bound to the
// dual-stack wildcard.
func TestDatagramEchoSocat(t *testing.T) {
	for _, fam := range []struct{ network, loop string }{{"udp4", "127.0.0.1"}, {"udp6", "::1"}} {
		for _, mode := range []string{"GetOutputStream", "Connect"} {
			t.Run(fam.network+"/"+mode, func(t *testing.T) {
				t.Parallel()
				echo := testpeer.UDPEchoServer(t, fam.network, fam.loop)
				h, port := splitHostPort(t, echo)
				d := sockets.NewDatagramSocket()
				defer d.Close()
				msgs := dgCollect(d)
				ctx := testCtx(t)

				out := d.OutputStream()
				if mode == "Connect" {
					must(t, d.Connect(ctx, h, port))
				} else {
					var err error
					if out, err = d.GetOutputStream(ctx, h, port); err != nil {
						t.Fatal(err)
					}
				}
				sizes := []int{1, 1400, 60000}
				want := map[string]bool{}
				for _, n := range sizes {
					p := dgPayload(n)
					want[string(p)] = true
					if got, err := out.Write(ctx, p); err != nil || got != n {
						t.Fatalf("Write(%d bytes) = %d, %v", n, got, err)
					}
				}
				must(t, out.Flush(ctx))

				// socat echoes each datagram from a child of its own, so
				// the order may change; the set may not.
				for range sizes {
					m := dgRecv(t, msgs)
					if !want[m.data] {
						t.Fatalf("received a datagram of %d bytes that was not sent as one", len(m.data))
					}
					delete(want, m.data)
					if m.remote.String() != echo || m.remoteHost != fam.loop || m.remotePort != port {
						t.Errorf("sender = %v (%s, %s), want %s", m.remote, m.remoteHost, m.remotePort, echo)
					}
					if m.local.String() != fam.loop || m.localHost != fam.loop {
						t.Errorf("LocalAddress = %v (%s), want %s", m.local, m.localHost, fam.loop)
					}
				}

				info := d.Information()
				if info.LocalPort() == "" || info.LocalPort() == "0" {
					t.Errorf("LocalPort = %q after an implicit bind", info.LocalPort())
				}
				if mode == "Connect" {
					if info.RemoteAddress().CanonicalName() != fam.loop || info.RemotePort() != port {
						t.Errorf("Remote = %v:%s, want %s", info.RemoteAddress(), info.RemotePort(), echo)
					}
					if info.LocalAddress().CanonicalName() != fam.loop {
						t.Errorf("LocalAddress after Connect = %v, want %s", info.LocalAddress(), fam.loop)
					}
				} else {
					if info.RemoteAddress() != nil || info.RemotePort() != "" {
						t.Errorf("Remote = %v:%q without Connect, want none", info.RemoteAddress(), info.RemotePort())
					}
					if info.LocalAddress().CanonicalName() != "::" {
						t.Errorf("LocalAddress = %v, want :: (dual-stack wildcard)", info.LocalAddress())
					}
				}
			})
		}
	}
}

// TestDatagramManyOutputStreams sends from one socket to an IPv4 and an
// IPv6 echo server through two coexisting streams.
func TestDatagramManyOutputStreams(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	d := sockets.NewDatagramSocket()
	defer d.Close()
	msgs := dgCollect(d)
	want := map[string]string{}
	for _, fam := range []struct{ network, loop string }{{"udp4", "127.0.0.1"}, {"udp6", "::1"}} {
		echo := testpeer.UDPEchoServer(t, fam.network, fam.loop)
		h, port := splitHostPort(t, echo)
		out, err := d.GetOutputStream(ctx, h, port)
		if err != nil {
			t.Fatal(err)
		}
		want["to "+echo] = echo
		if _, err := out.Write(ctx, []byte("to "+echo)); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		m := dgRecv(t, msgs)
		if from, ok := want[m.data]; !ok || m.remote.String() != from {
			t.Fatalf("got %q from %v", m.data, m.remote)
		}
		delete(want, m.data)
	}
}

// TestDatagramConnectFilters checks that a connected socket raises only
// datagrams from its remote: neither one another socat sent to its port
// before Connect (still queued in the kernel), nor one sent after.
func TestDatagramConnectFilters(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	echo := testpeer.UDPEchoServer(t, "udp4", "127.0.0.1")
	h, port := splitHostPort(t, echo)
	d := dgBound(t, nil, "")
	self := dgAddr(d, "127.0.0.1")

	dgSocatSend(t, self, "before Connect")
	eventually(t, "the first datagram in the receive queue", func() bool { n, err := d.Unread(); return err == nil && n > 0 })
	must(t, d.Connect(ctx, h, port))
	if got := d.Information().LocalPort(); got != strconv.Itoa(int(netip.MustParseAddrPort(self).Port())) {
		t.Fatalf("Connect changed the bound port to %s", got)
	}
	dgSocatSend(t, self, "after Connect")

	msgs := dgCollect(d)
	if _, err := d.OutputStream().Write(ctx, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	// The strangers' datagrams reached the socket before the echo did.
	if m := dgRecv(t, msgs); m.data != "ping" || m.remote.String() != echo {
		t.Fatalf("first datagram raised: %q from %v, want the echo of ping from %s", m.data, m.remote, echo)
	}
}

// TestDatagramHeldUntilHandler checks that datagrams arriving before any
// MessageReceived handler is registered wait in the kernel and are raised
// once one is.
func TestDatagramHeldUntilHandler(t *testing.T) {
	t.Parallel()
	d := dgBound(t, nil, "127.0.0.1")
	dgSocatSend(t, dgAddr(d, "127.0.0.1"), "early")
	eventually(t, "the datagram in the receive queue", func() bool { n, err := d.Unread(); return err == nil && n > 0 })
	if m := dgRecv(t, dgCollect(d)); m.data != "early" {
		t.Fatalf("got %q, want early", m.data)
	}
}

// TestDatagramMessageTooLong checks that a write larger than a UDP
// datagram can be fails with MessageTooLong and WSAEMSGSIZE's HRESULT, and
// that the socket still works afterwards.
func TestDatagramMessageTooLong(t *testing.T) {
	t.Parallel()
	for _, fam := range []struct{ network, loop string }{{"udp4", "127.0.0.1"}, {"udp6", "::1"}} {
		t.Run(fam.network, func(t *testing.T) {
			ctx := testCtx(t)
			echo := testpeer.UDPEchoServer(t, fam.network, fam.loop)
			h, port := splitHostPort(t, echo)
			d := sockets.NewDatagramSocket()
			defer d.Close()
			msgs := dgCollect(d)
			out, err := d.GetOutputStream(ctx, h, port)
			if err != nil {
				t.Fatal(err)
			}
			n, err := out.Write(ctx, make([]byte, 70000))
			wantStatus(t, err, socketerror.MessageTooLong)
			wantHResult(t, err, 0x80072738)
			if n != 0 {
				t.Errorf("failed Write reported %d bytes", n)
			}
			if _, err := out.Write(ctx, []byte("still works")); err != nil {
				t.Fatal(err)
			}
			if m := dgRecv(t, msgs); m.data != "still works" {
				t.Fatalf("got %q", m.data)
			}
		})
	}
}

// TestDatagramAddressInUse checks that a second bind to a bound port fails
// with AddressAlreadyInUse, and succeeds when both sockets set
// MulticastOnly (SO_REUSEADDR).
func TestDatagramAddressInUse(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	first := dgBound(t, nil, "")
	second := sockets.NewDatagramSocket()
	defer second.Close()
	err := second.BindServiceName(ctx, first.Information().LocalPort())
	wantStatus(t, err, socketerror.AddressAlreadyInUse)
	wantHResult(t, err, 0x80072740)
	// A failed bind leaves the socket usable.
	must(t, second.BindServiceName(ctx, ""))

	a, b := sockets.NewDatagramSocket(), sockets.NewDatagramSocket()
	defer a.Close()
	defer b.Close()
	must(t, a.Control().SetMulticastOnly(true))
	must(t, b.Control().SetMulticastOnly(true))
	must(t, a.BindServiceName(ctx, ""))
	must(t, b.BindServiceName(ctx, a.Information().LocalPort()))
	if a.Information().LocalPort() != b.Information().LocalPort() {
		t.Fatalf("ports %s and %s differ", a.Information().LocalPort(), b.Information().LocalPort())
	}
}

// TestDatagramControlReachesKernel sets every DatagramSocketControl
// property before binding and reads the socket options back from the
// kernel, for a dual-stack, an IPv4 and an IPv6 socket; then checks the
// timing rules: the bind-time options refuse changes with
// E_ILLEGAL_METHOD_CALL, while OutboundUnicastHopLimit changes IP_TTL and
// IPV6_UNICAST_HOPS at once.
func TestDatagramControlReachesKernel(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		bind   string // "" for BindServiceName
		v4, v6 bool   // which families' options apply
	}{
		{"dual-stack", "", true, true},
		{"127.0.0.1", "127.0.0.1", true, false},
		{"::1", "::1", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := sockets.NewDatagramSocket()
			defer d.Close()
			c := d.Control()
			if c.DontFragment() || c.InboundBufferSizeInBytes() != 0 || c.MulticastOnly() ||
				c.OutboundUnicastHopLimit() != 128 || c.QualityOfService() != sockets.Normal {
				t.Fatalf("defaults differ from WinRT's (false, 0, false, 128, Normal)")
			}
			must(t, c.SetDontFragment(true))
			must(t, c.SetInboundBufferSizeInBytes(300_000))
			must(t, c.SetMulticastOnly(true))
			must(t, c.SetOutboundUnicastHopLimit(7))
			must(t, c.SetQualityOfService(sockets.LowLatency))
			if tc.bind == "" {
				must(t, d.BindServiceName(testCtx(t), ""))
			} else {
				must(t, d.BindEndpoint(testCtx(t), host(t, tc.bind), ""))
			}

			opt := func(level, name int) int {
				t.Helper()
				v, err := d.SockoptInt(level, name)
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			check := func(what string, level, name, want int) {
				t.Helper()
				if got := opt(level, name); got != want {
					t.Errorf("%s = %#x, want %#x", what, got, want)
				}
			}
			if v := opt(unix.SOL_SOCKET, unix.SO_RCVBUF); v < 300_000 {
				t.Errorf("SO_RCVBUF = %d, want >= 300000", v)
			}
			check("SO_REUSEADDR", unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
			check("SO_BROADCAST", unix.SOL_SOCKET, unix.SO_BROADCAST, 1)
			check("SO_PRIORITY", unix.SOL_SOCKET, unix.SO_PRIORITY, 6)
			if tc.v4 {
				check("IP_MTU_DISCOVER", unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO)
				check("IP_TTL", unix.IPPROTO_IP, unix.IP_TTL, 7)
				check("IP_TOS", unix.IPPROTO_IP, unix.IP_TOS, 0xB8)
			}
			if tc.v6 {
				check("IPV6_DONTFRAG", unix.IPPROTO_IPV6, unix.IPV6_DONTFRAG, 1)
				check("IPV6_UNICAST_HOPS", unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, 7)
				check("IPV6_TCLASS", unix.IPPROTO_IPV6, unix.IPV6_TCLASS, 0xB8)
			}

			for name, err := range map[string]error{
				"DontFragment":             c.SetDontFragment(false),
				"InboundBufferSizeInBytes": c.SetInboundBufferSizeInBytes(1 << 20),
				"MulticastOnly":            c.SetMulticastOnly(false),
				"QualityOfService":         c.SetQualityOfService(sockets.Normal),
			} {
				if socketerror.HResultOf(err) != socketerror.EIllegalMethodCall {
					t.Errorf("Set%s after bind: %v, want E_ILLEGAL_METHOD_CALL", name, err)
				}
			}
			if !c.DontFragment() || !c.MulticastOnly() || c.QualityOfService() != sockets.LowLatency {
				t.Error("a refused setter changed its property")
			}

			must(t, c.SetOutboundUnicastHopLimit(9))
			if c.OutboundUnicastHopLimit() != 9 {
				t.Errorf("OutboundUnicastHopLimit = %d, want 9", c.OutboundUnicastHopLimit())
			}
			if tc.v4 {
				check("IP_TTL after bind", unix.IPPROTO_IP, unix.IP_TTL, 9)
			}
			if tc.v6 {
				check("IPV6_UNICAST_HOPS after bind", unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, 9)
			}
		})
	}

	t.Run("defaults", func(t *testing.T) {
		d := dgBound(t, nil, "")
		for _, o := range []struct {
			what        string
			level, name int
			want        int
		}{
			{"IP_TTL", unix.IPPROTO_IP, unix.IP_TTL, 128},
			{"IPV6_UNICAST_HOPS", unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, 128},
			{"IP_MTU_DISCOVER", unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DONT},
			{"SO_REUSEADDR", unix.SOL_SOCKET, unix.SO_REUSEADDR, 0},
			{"SO_BROADCAST", unix.SOL_SOCKET, unix.SO_BROADCAST, 1},
			{"IPV6_V6ONLY", unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0},
		} {
			if v, err := d.SockoptInt(o.level, o.name); err != nil || v != o.want {
				t.Errorf("%s = %d, %v; want %d", o.what, v, err, o.want)
			}
		}
	})

	t.Run("arguments", func(t *testing.T) {
		c := sockets.NewDatagramSocket().Control()
		wantHResult(t, c.SetOutboundUnicastHopLimit(0), socketerror.EInvalidArg)
		wantHResult(t, c.SetQualityOfService(7), socketerror.EInvalidArg)
	})
}

// TestDatagramStateErrors checks the errors of calls made in the wrong
// state or with bad arguments.
func TestDatagramStateErrors(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	loop4 := host(t, "127.0.0.1")

	fresh := sockets.NewDatagramSocket()
	defer fresh.Close()
	_, err := fresh.OutputStream().Write(ctx, []byte("x"))
	wantHResult(t, err, socketerror.EIllegalMethodCall)
	wantHResult(t, fresh.JoinMulticastGroup(host(t, "239.1.2.3")), socketerror.EIllegalMethodCall)
	wantHResult(t, fresh.Connect(ctx, nil, "9"), socketerror.EInvalidArg)
	wantHResult(t, fresh.Connect(ctx, loop4, ""), socketerror.EInvalidArg)
	wantHResult(t, fresh.ConnectEndpointPair(ctx, networking.EndpointPair{RemoteServiceName: "9"}), socketerror.EInvalidArg)
	_, err = fresh.GetOutputStream(ctx, nil, "9")
	wantHResult(t, err, socketerror.EInvalidArg)
	_, err = fresh.GetOutputStreamEndpointPair(ctx, networking.EndpointPair{RemoteHostName: loop4})
	wantHResult(t, err, socketerror.EInvalidArg)
	// WinRT documents HostNotFound for a multicast remote.
	wantStatus(t, fresh.Connect(ctx, host(t, "239.1.2.3"), "9"), socketerror.HostNotFound)

	d := dgBound(t, nil, "127.0.0.1")
	wantHResult(t, d.BindServiceName(ctx, ""), socketerror.EIllegalMethodCall)
	wantHResult(t, d.JoinMulticastGroup(nil), socketerror.EInvalidArg)
	wantHResult(t, d.JoinMulticastGroup(loop4), socketerror.EInvalidArg)
	wantHResult(t, d.JoinMulticastGroup(host(t, "group.example")), socketerror.EInvalidArg)
	// An IPv4 socket reaches no IPv6 address.
	_, err = d.GetOutputStream(ctx, host(t, "::1"), "9")
	wantStatus(t, err, socketerror.AddressFamilyNotSupported)
	_, err = d.GetOutputStreamEndpointPair(ctx, networking.EndpointPair{LocalServiceName: "1", RemoteHostName: loop4, RemoteServiceName: "9"})
	wantHResult(t, err, socketerror.EIllegalMethodCall)
	must(t, d.Connect(ctx, loop4, "9"))
	wantHResult(t, d.Connect(ctx, loop4, "9"), socketerror.EIllegalMethodCall)

	must(t, d.Close())
	must(t, d.Close())
	for name, err := range map[string]error{
		"BindServiceName":    d.BindServiceName(ctx, ""),
		"BindEndpoint":       d.BindEndpoint(ctx, loop4, ""),
		"Connect":            d.Connect(ctx, loop4, "9"),
		"JoinMulticastGroup": d.JoinMulticastGroup(host(t, "239.1.2.3")),
		"CancelIO":           d.CancelIO(ctx),
	} {
		if socketerror.HResultOf(err) != socketerror.EClosed {
			t.Errorf("%s after Close: %v, want RO_E_CLOSED", name, err)
		}
	}
	_, err = d.GetOutputStream(ctx, loop4, "9")
	wantHResult(t, err, socketerror.EClosed)
}

// TestDatagramEndpointPairs checks the static GetEndpointPairsAsync for
// UDP, and connecting through one of its pairs.
func TestDatagramEndpointPairs(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	echo := testpeer.UDPEchoServer(t, "udp6", "::1")
	_, port := splitHostPort(t, echo)
	pairs, err := sockets.GetDatagramEndpointPairs(ctx, host(t, "localhost"), port, networking.OptimizeForLongConnections)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range pairs {
		got = append(got, net.JoinHostPort(p.RemoteHostName.CanonicalName(), p.RemoteServiceName))
	}
	if want := []string{echo, "127.0.0.1:" + port}; !slices.Equal(got, want) {
		t.Fatalf("pairs = %v, want %v", got, want)
	}
	_, err = sockets.GetDatagramEndpointPairs(ctx, nil, port, networking.SortNone)
	wantHResult(t, err, socketerror.EInvalidArg)

	d := sockets.NewDatagramSocket()
	defer d.Close()
	msgs := dgCollect(d)
	pair := pairs[0]
	pair.LocalHostName = host(t, "::1")
	must(t, d.ConnectEndpointPair(ctx, pair))
	if _, err := d.OutputStream().Write(ctx, []byte("pair")); err != nil {
		t.Fatal(err)
	}
	if m := dgRecv(t, msgs); m.data != "pair" || m.remote.String() != echo {
		t.Fatalf("got %q from %v", m.data, m.remote)
	}
}

// dgGuard refuses what refuse says, with an AccessDenied error.
type dgGuard struct {
	refuse func(sockets.Direction, netip.Addr) bool
}

func (g dgGuard) Check(dir sockets.Direction, a netip.Addr) error {
	if g.refuse(dir, a) {
		return socketerror.AccessDenied("guard", a.String(), "privateNetworkClientServer")
	}
	return nil
}

// TestDatagramGuard checks that a Guard refusing loopback makes Bind,
// Connect and GetOutputStream fail with its error, and that datagrams from
// senders it refuses are dropped, counted, and never raised.
func TestDatagramGuard(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	t.Run("outbound and bind", func(t *testing.T) {
		env := &sockets.Env{Guard: dgGuard{func(_ sockets.Direction, a netip.Addr) bool { return a.IsLoopback() }}}
		d := env.NewDatagramSocket()
		defer d.Close()
		_, err := d.GetOutputStream(ctx, host(t, "127.0.0.1"), "9")
		wantHResult(t, err, socketerror.EAccessDenied)
		wantHResult(t, d.Connect(ctx, host(t, "localhost"), "9"), socketerror.EAccessDenied)
		wantHResult(t, d.BindEndpoint(ctx, host(t, "::1"), ""), socketerror.EAccessDenied)
		if d.Information().LocalPort() != "" {
			t.Fatal("a refused GetOutputStream or Connect bound the socket")
		}
		// The wildcard is not loopback: this guard allows it.
		must(t, d.BindServiceName(ctx, ""))
	})
	t.Run("inbound", func(t *testing.T) {
		var logged bytes.Buffer // written by the receive goroutine before it raises "allowed"
		env := &sockets.Env{
			Guard: dgGuard{func(dir sockets.Direction, a netip.Addr) bool {
				return dir == sockets.Inbound && a.Is4() && a.IsLoopback()
			}},
			Logger: slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug})),
		}
		d := dgBound(t, env, "")
		msgs := dgCollect(d)
		dgSocatSend(t, dgAddr(d, "127.0.0.1"), "refused")
		dgSocatSend(t, dgAddr(d, "::1"), "allowed")
		if m := dgRecv(t, msgs); m.data != "allowed" || !m.remote.Addr().Is6() {
			t.Fatalf("got %q from %v, want allowed from ::1", m.data, m.remote)
		}
		if n := d.Refused(); n != 1 {
			t.Fatalf("Refused = %d, want 1", n)
		}
		if log := logged.String(); !strings.Contains(log, "level=DEBUG") || !strings.Contains(log, "count=1") ||
			!strings.Contains(log, "last_sender=127.0.0.1:") {
			t.Fatalf("the refused datagram was not logged at debug level:\n%s", log)
		}
	})
}

// TestDatagramCloseFromHandler checks that Close called from inside a
// MessageReceived handler returns, removes the handlers, and that writes
// afterwards fail with RO_E_CLOSED.
func TestDatagramCloseFromHandler(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	echo := testpeer.UDPEchoServer(t, "udp4", "127.0.0.1")
	h, port := splitHostPort(t, echo)
	d := sockets.NewDatagramSocket()
	closed := make(chan error, 1)
	d.MessageReceived().Add(func(*sockets.DatagramSocketMessageReceivedEventArgs) { closed <- d.Close() })
	out, err := d.GetOutputStream(ctx, h, port)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := out.Write(ctx, []byte("close me")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-closed:
		must(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Close from a handler did not return")
	}
	if n := d.MessageReceived().Len(); n != 0 {
		t.Fatalf("%d handlers left after Close", n)
	}
	_, err = out.Write(ctx, []byte("x"))
	wantHResult(t, err, socketerror.EClosed)
	_, err = d.OutputStream().Write(ctx, []byte("x"))
	wantHResult(t, err, socketerror.EClosed)
	wantHResult(t, out.Flush(ctx), socketerror.EClosed)
}

// TestDatagramCloseWhileHandlerRuns checks that Close from another
// goroutine returns while a handler is blocked, and that no datagram is
// raised after Close.
func TestDatagramCloseWhileHandlerRuns(t *testing.T) {
	t.Parallel()
	d := dgBound(t, nil, "127.0.0.1")
	entered, release := make(chan struct{}), make(chan struct{})
	calls := 0
	d.MessageReceived().Add(func(*sockets.DatagramSocketMessageReceivedEventArgs) {
		calls++
		if calls == 1 {
			close(entered)
			<-release
		}
	})
	dgSocatSend(t, dgAddr(d, "127.0.0.1"), "one")
	<-entered
	dgSocatSend(t, dgAddr(d, "127.0.0.1"), "two")
	done := make(chan struct{})
	go func() { d.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for a running handler")
	}
	close(release)
	// The receive goroutine exits once the handler returns; the leak
	// check in TestMain fails the package if it does not. "two" was never
	// raised: the handler list is empty and the socket closed.
	if n := d.MessageReceived().Len(); n != 0 {
		t.Fatalf("%d handlers left after Close", n)
	}
}

// TestDatagramCloseDuringWrites checks that writes racing with Close
// either succeed or fail with RO_E_CLOSED.
func TestDatagramCloseDuringWrites(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	sink, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	h, port := splitHostPort(t, sink.LocalAddr().String())
	d := sockets.NewDatagramSocket()
	out, err := d.GetOutputStream(ctx, h, port)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	started := make(chan struct{}, 4)
	for range 4 {
		go func() {
			started <- struct{}{}
			for {
				if _, err := out.Write(ctx, []byte("flood")); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for range 4 {
		<-started
	}
	d.Close()
	for range 4 {
		wantHResult(t, <-errs, socketerror.EClosed)
	}
}

// TestDatagramCancelIO checks that CancelIO ends queued writes with
// OperationAborted, returns once none is pending, and leaves sending and
// receiving working.
func TestDatagramCancelIO(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	echo := testpeer.UDPEchoServer(t, "udp4", "127.0.0.1")
	h, port := splitHostPort(t, echo)
	d := sockets.NewDatagramSocket()
	defer d.Close()
	msgs := dgCollect(d)
	out, err := d.GetOutputStream(ctx, h, port)
	if err != nil {
		t.Fatal(err)
	}
	must(t, d.CancelIO(ctx)) // nothing pending: returns at once

	release := d.HoldWrites()
	base := d.WritesIssued()
	results := make(chan error, 3)
	for range 3 {
		go func() { _, err := out.Write(ctx, []byte("queued")); results <- err }()
	}
	eventually(t, "three queued writes", func() bool { return d.WritesIssued() >= base+3 })
	cancelled := make(chan error, 1)
	go func() { cancelled <- d.CancelIO(ctx) }()
	eventually(t, "CancelIO queued", func() bool { return d.WritesIssued() >= base+4 })
	release()
	for range 3 {
		wantStatus(t, <-results, socketerror.OperationAborted)
	}
	must(t, <-cancelled)

	if _, err := out.Write(ctx, []byte("after CancelIO")); err != nil {
		t.Fatal(err)
	}
	if m := dgRecv(t, msgs); m.data != "after CancelIO" {
		t.Fatalf("got %q", m.data)
	}
}

// TestDatagramWriteContext checks that a cancelled context fails a write
// with OperationAborted without harming the socket.
func TestDatagramWriteContext(t *testing.T) {
	t.Parallel()
	d := dgBound(t, nil, "127.0.0.1")
	out, err := d.GetOutputStream(testCtx(t), host(t, "127.0.0.1"), d.Information().LocalPort())
	if err != nil {
		t.Fatal(err)
	}
	release := d.HoldWrites()
	ctx, cancel := context.WithCancel(testCtx(t))
	res := make(chan error, 1)
	go func() { _, err := out.Write(ctx, []byte("x")); res <- err }()
	cancel()
	wantStatus(t, <-res, socketerror.OperationAborted)
	release()
	msgs := dgCollect(d)
	if _, err := out.Write(testCtx(t), []byte("to self")); err != nil {
		t.Fatal(err)
	}
	if m := dgRecv(t, msgs); m.data != "to self" {
		t.Fatalf("got %q", m.data)
	}
}

// TestDatagramReceiveAllocs checks that receiving and raising a datagram
// allocates nothing once the socket runs.
func TestDatagramReceiveAllocs(t *testing.T) {
	d := dgBound(t, nil, "")
	got := make(chan struct{}, 1)
	var sum int
	d.MessageReceived().Add(func(a *sockets.DatagramSocketMessageReceivedEventArgs) {
		sum += len(a.Data()) + int(a.RemoteAddrPort().Port())
		if a.LocalAddr().IsValid() {
			sum++
		}
		got <- struct{}{}
	})
	sender, err := net.Dial("udp", dgAddr(d, "127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	payload := bytes.Repeat([]byte("x"), 512)
	roundTrip := func() {
		if _, err := sender.Write(payload); err != nil {
			panic(err)
		}
		<-got
	}
	for range 10 {
		roundTrip() // warm up: the buffers are made on the first datagram
	}
	if allocs := testing.AllocsPerRun(200, roundTrip); allocs != 0 {
		t.Fatalf("receiving a datagram allocates %.2f times", allocs)
	}
}

// TestDatagramTryWriteAllocs checks that a send that completes at once
// allocates nothing, to an IPv4 and an IPv6 destination and on a
// connected socket.
func TestDatagramTryWriteAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates; make test runs this without -race")
	}
	for _, network := range []string{"udp4", "udp6"} {
		t.Run(network, func(t *testing.T) {
			host := map[string]string{"udp4": "127.0.0.1", "udp6": "::1"}[network]
			peer, err := net.ListenPacket(network, net.JoinHostPort(host, "0"))
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			port := strconv.Itoa(peer.LocalAddr().(*net.UDPAddr).Port)
			d := dgBound(t, nil, "")
			h, err := networking.NewHostName(host)
			if err != nil {
				t.Fatal(err)
			}
			out, err := d.GetOutputStream(context.Background(), h, port)
			if err != nil {
				t.Fatal(err)
			}
			payload := bytes.Repeat([]byte("x"), 64)
			buf := make([]byte, 128)
			send := func() {
				if n, ok, err := out.TryWrite(payload); err != nil || !ok || n != len(payload) {
					panic(fmt.Sprintf("TryWrite = %d, %v, %v", n, ok, err))
				}
				if n, _, err := peer.ReadFrom(buf); err != nil || n != len(payload) {
					panic(fmt.Sprintf("the peer read %d, %v", n, err))
				}
			}
			send()
			if allocs := testing.AllocsPerRun(200, func() {
				if _, ok, err := out.TryWrite(payload); err != nil || !ok {
					panic(err)
				}
			}); allocs != 0 {
				t.Fatalf("TryWrite allocates %.2f times per datagram", allocs)
			}
			// Every datagram sent while counting arrived whole.
			for range 201 {
				if n, _, err := peer.ReadFrom(buf); err != nil || n != len(payload) {
					t.Fatalf("the peer read %d, %v", n, err)
				}
			}
			send()
		})
	}
}

// BenchmarkDatagramReceive measures raising one received datagram, against
// a plain net.UDPConn read loop as the baseline.
func BenchmarkDatagramReceive(b *testing.B) {
	payload := bytes.Repeat([]byte("x"), 512)
	run := func(b *testing.B, addr string, got <-chan struct{}) {
		sender, err := net.Dial("udp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer sender.Close()
		b.SetBytes(int64(len(payload)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := sender.Write(payload); err != nil {
				b.Fatal(err)
			}
			<-got
		}
	}
	b.Run("net.UDPConn", func(b *testing.B) {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv6unspecified})
		if err != nil {
			b.Fatal(err)
		}
		got := make(chan struct{}, 1)
		done := make(chan struct{})
		go func() {
			defer close(done)
			buf := make([]byte, 64<<10)
			for {
				if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
					return
				}
				got <- struct{}{}
			}
		}()
		run(b, fmt.Sprintf("127.0.0.1:%d", c.LocalAddr().(*net.UDPAddr).Port), got)
		c.Close()
		<-done
	})
	b.Run("DatagramSocket", func(b *testing.B) {
		d := dgBound(b, nil, "")
		got := make(chan struct{}, 1)
		d.MessageReceived().Add(func(*sockets.DatagramSocketMessageReceivedEventArgs) { got <- struct{}{} })
		run(b, dgAddr(d, "127.0.0.1"), got)
	})
}

func TestDatagramTryWrite(t *testing.T) {
	for _, tc := range []struct{ network, addr, bind string }{
		{"udp4", "127.0.0.1", ""}, {"udp6", "::1", ""}, {"udp4", "127.0.0.1", "127.0.0.1"},
	} {
		t.Run(tc.network+"_bind"+tc.bind, func(t *testing.T) {
			echo := testpeer.UDPEchoServer(t, tc.network, tc.addr)
			d := sockets.NewDatagramSocket()
			defer d.Close()
			got := make(chan string, 4)
			d.MessageReceived().Add(func(a *sockets.DatagramSocketMessageReceivedEventArgs) { got <- string(a.Data()) })
			if tc.bind != "" {
				must(t, d.BindEndpoint(testCtx(t), host(t, tc.bind), ""))
			}
			h, p := splitHostPort(t, echo)
			out, err := d.GetOutputStream(testCtx(t), h, p)
			if err != nil {
				t.Fatal(err)
			}
			n, ok, err := out.TryWrite([]byte("try"))
			if err != nil || !ok || n != 3 {
				t.Fatalf("TryWrite = %d, %v, %v", n, ok, err)
			}
			if g := <-got; g != "try" {
				t.Fatalf("echo %q", g)
			}
		})
	}
}
