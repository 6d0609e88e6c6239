package isolation_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/netrun/netrun/runtime/isolation"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
)

// These are only values: no traffic is sent to any of them.
func TestClassify(t *testing.T) {
	t.Parallel()
	const (
		lo   = isolation.ClassLoopback
		priv = isolation.ClassPrivate
		pub  = isolation.ClassPublic
	)
	for _, tt := range []struct {
		addr string
		want isolation.Class
	}{
		// Loopback, and the unspecified address as a destination.
		{"126.255.255.255", pub},
		{"127.0.0.0", lo},
		{"127.0.0.1", lo},
		{"127.255.255.255", lo},
		{"128.0.0.0", pub},
		{"::1", lo},
		{"::2", pub},
		{"::ffff:127.0.0.1", lo},
		{"0.0.0.0", lo},
		{"::", lo},
		{"::ffff:0.0.0.0", lo},
		{"0.0.0.1", pub},
		// RFC 1918.
		{"9.255.255.255", pub},
		{"10.0.0.0", priv},
		{"10.255.255.255", priv},
		{"11.0.0.0", pub},
		{"::ffff:10.0.0.1", priv},
		{"172.15.255.255", pub},
		{"172.16.0.0", priv},
		{"172.31.255.255", priv},
		{"172.32.0.0", pub},
		{"192.167.255.255", pub},
		{"192.168.0.0", priv},
		{"192.168.255.255", priv},
		{"192.169.0.0", pub},
		// Shared address space (CGNAT).
		{"100.63.255.255", pub},
		{"100.64.0.0", priv},
		{"100.127.255.255", priv},
		{"100.128.0.0", pub},
		// Link-local.
		{"169.253.255.255", pub},
		{"169.254.0.0", priv},
		{"169.254.255.255", priv},
		{"169.255.0.0", pub},
		{"fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", pub},
		{"fe80::", priv},
		{"fe80::1%eth0", priv},
		{"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", priv},
		// Site-local (deprecated).
		{"fec0::", priv},
		{"feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", priv},
		// Unique local.
		{"fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", pub},
		{"fc00::", priv},
		{"fd12:3456::1", priv},
		{"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", priv},
		{"fe00::", pub},
		// Multicast and broadcast.
		{"223.255.255.255", pub},
		{"224.0.0.0", priv},
		{"239.255.255.250", priv},
		{"239.255.255.255", priv},
		{"240.0.0.0", pub},
		{"255.255.255.254", pub},
		{"255.255.255.255", priv},
		{"::ffff:255.255.255.255", priv},
		{"feff::", priv},
		{"ff00::", priv},
		{"ff02::1%eth0", priv},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", priv},
		// Public.
		{"8.8.8.8", pub},
		{"1.1.1.1", pub},
		{"2001:db8::1", pub},
		{"2606:4700:4700::1111", pub},
		{"64:ff9b::7f00:1", pub}, // NAT64 leaves the host, unlike 127.0.0.1
		{"::ffff:8.8.8.8", pub},
	} {
		addr := netip.MustParseAddr(tt.addr)
		if got := isolation.Classify(addr); got != tt.want {
			t.Errorf("Classify(%s) = %s, want %s", tt.addr, got, tt.want)
		}
	}
	if got := isolation.Classify(netip.Addr{}); got != pub {
		t.Errorf("Classify(invalid) = %s, want public", got)
	}
}

func TestClassString(t *testing.T) {
	t.Parallel()
	for c, want := range map[isolation.Class]string{
		isolation.ClassLoopback: "loopback", isolation.ClassPrivate: "private",
		isolation.ClassPublic: "public", 7: "Class(7)",
	} {
		if got := c.String(); got != want {
			t.Errorf("Class(%d).String() = %q, want %q", int(c), got, want)
		}
	}
}

// TestCheck checks every capability alone, none and All, against an
// address of each class in each direction. Each row says which single
// capabilities allow the traffic and which name a refusal gives.
func TestCheck(t *testing.T) {
	t.Parallel()
	const (
		ic   = isolation.InternetClient
		ics  = isolation.InternetClientServer
		pncs = isolation.PrivateNetworkClientServer
		lo   = isolation.Loopback
		out  = sockets.Outbound
		in   = sockets.Inbound
	)
	rules := []struct {
		addr    string
		dir     sockets.Direction
		allowed []isolation.Capability
		name    string // the capability a refusal names
	}{
		{"127.0.0.1", out, []isolation.Capability{lo}, "loopback"},
		{"127.0.0.1", in, []isolation.Capability{lo}, "loopback"},
		{"::1", out, []isolation.Capability{lo}, "loopback"},
		{"::1", in, []isolation.Capability{lo}, "loopback"},
		{"::ffff:127.0.0.1", out, []isolation.Capability{lo}, "loopback"},
		{"10.1.2.3", out, []isolation.Capability{pncs}, "privateNetworkClientServer"},
		{"10.1.2.3", in, []isolation.Capability{pncs}, "privateNetworkClientServer"},
		{"fe80::1%eth0", out, []isolation.Capability{pncs}, "privateNetworkClientServer"},
		{"fd00::1", in, []isolation.Capability{pncs}, "privateNetworkClientServer"},
		{"239.255.255.250", out, []isolation.Capability{pncs}, "privateNetworkClientServer"},
		{"239.255.255.250", in, []isolation.Capability{pncs}, "privateNetworkClientServer"},
		{"255.255.255.255", out, []isolation.Capability{pncs}, "privateNetworkClientServer"},
		{"8.8.8.8", out, []isolation.Capability{ic, ics}, "internetClient"},
		{"8.8.8.8", in, []isolation.Capability{ics}, "internetClientServer"},
		{"2001:db8::1", out, []isolation.Capability{ic, ics}, "internetClient"},
		{"2001:db8::1", in, []isolation.Capability{ics}, "internetClientServer"},
		{"0.0.0.0", out, []isolation.Capability{lo}, "loopback"},
		{"::", out, []isolation.Capability{lo}, "loopback"},
		{"0.0.0.0", in, []isolation.Capability{ics, pncs, lo},
			"loopback, privateNetworkClientServer or internetClientServer"},
		{"::", in, []isolation.Capability{ics, pncs, lo},
			"loopback, privateNetworkClientServer or internetClientServer"},
	}
	grants := []isolation.Capabilities{0, isolation.Capabilities(ic), isolation.Capabilities(ics),
		isolation.Capabilities(pncs), isolation.Capabilities(lo), isolation.All}
	for _, r := range rules {
		addr := netip.MustParseAddr(r.addr)
		for _, g := range grants {
			want := false
			for _, c := range r.allowed {
				want = want || g.Has(c)
			}
			err := g.Check(r.dir, addr)
			if want {
				if err != nil {
					t.Errorf("{%s}.Check(%s, %s) = %v, want nil", g, r.dir, r.addr, err)
				}
				continue
			}
			if err == nil {
				t.Errorf("{%s}.Check(%s, %s) = nil, want access denied", g, r.dir, r.addr)
				continue
			}
			wantAccessDenied(t, err, r.name)
			var se *socketerror.Error
			if errors.As(err, &se) && se.Addr != addr.String() {
				t.Errorf("{%s}.Check(%s, %s): Addr = %q, want %q", g, r.dir, r.addr, se.Addr, addr.String())
			}
		}
	}
}

// wantAccessDenied fails unless err is E_ACCESSDENIED naming capability.
func wantAccessDenied(t testing.TB, err error, capability string) {
	t.Helper()
	if h := socketerror.HResultOf(err); h != 0x80070005 {
		t.Errorf("HRESULT = %s, want 0x80070005 (error: %v)", h, err)
	}
	msg := "access denied (0x80070005): the " + capability + " capability is required"
	if !strings.HasSuffix(err.Error(), msg) {
		t.Errorf("error %q does not end with %q", err, msg)
	}
}

func TestCheckWrapped(t *testing.T) {
	t.Parallel()
	err := isolation.Capabilities(0).Check(sockets.Outbound, netip.MustParseAddr("127.0.0.1"))
	err = socketerror.New("StreamSocket.Connect", "localhost", err)
	const want = "StreamSocket.Connect 127.0.0.1: access denied (0x80070005): the loopback capability is required"
	if err.Error() != want {
		t.Errorf("wrapped error = %q, want %q", err, want)
	}
	wantAccessDenied(t, err, "loopback")
}

func TestCheckAllocs(t *testing.T) {
	addrs := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("10.0.0.1"),
		netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("::")}
	var g sockets.Guard = isolation.All
	allocs := testing.AllocsPerRun(100, func() {
		for _, a := range addrs {
			if g.Check(sockets.Inbound, a) != nil {
				t.Fatal("All refused")
			}
		}
	})
	if allocs != 0 {
		t.Errorf("Check allocates %v times per allowed call, want 0", allocs)
	}
}
