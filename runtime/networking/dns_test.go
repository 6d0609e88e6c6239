package networking_test

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netrun/netrun/internal/testpeer"
	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/socketerror"
)

// dnsResolver starts a dnsmasq that is the authority for "test." and
// returns a Resolver that sends every query to it: no query leaves the
// machine.
func dnsResolver(t *testing.T) *networking.Resolver {
	t.Helper()
	d := testpeer.StartDNS(t,
		"a.test=127.0.0.5",
		"v6.test=::1",
		"dual.test=127.0.0.6", "dual.test=::1",
		"multi.test=127.0.0.7", "multi.test=127.0.0.8", "multi.test=127.0.0.9", "multi.test=::1", "multi.test=2001:db8::7",
		"mapped.test=::ffff:127.0.0.10",
		"xn--bcher-kva.test=127.0.0.11",
		"_sip._udp.srv.test=127.0.0.12",
		"nodata.test=TXT:x",
	)
	return &networking.Resolver{DNS: d.Resolver(), Services: &networking.Services{Path: testServices}}
}

func TestDNSLookupAddrs(t *testing.T) {
	t.Parallel()
	r := dnsResolver(t)
	tests := []struct {
		host string
		want []netip.Addr // in any order
	}{
		{"a.test", addrs("127.0.0.5")},
		{"A.Test.", addrs("127.0.0.5")},
		{"v6.test", addrs("::1")},
		{"dual.test.", addrs("127.0.0.6 ::1")},
		{"mapped.test.", addrs("127.0.0.10")}, // IPv4-mapped answers become IPv4
		{"bücher.test.", addrs("127.0.0.11")}, // asked in punycode
		{"_sip._udp.srv.test.", addrs("127.0.0.12")},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), testpeer.WaitTimeout)
			defer cancel()
			got, err := r.LookupAddrs(ctx, mustHost(t, tt.host))
			if err != nil {
				t.Fatalf("LookupAddrs: %v", err)
			}
			if !sameSet(got, tt.want) {
				t.Errorf("LookupAddrs = %v, want %v in any order", got, tt.want)
			}
		})
	}
}

func TestDNSErrors(t *testing.T) {
	t.Parallel()
	r := dnsResolver(t)
	tests := []struct {
		host   string
		status socketerror.Status
	}{
		// NXDOMAIN.
		{"unknown.test.", socketerror.HostNotFound},
		{"unknown.test", socketerror.HostNotFound},
		// NOERROR without an address record (NODATA): Go reports it as
		// "no such host" with IsNotFound, like NXDOMAIN, so it cannot be
		// NoDataRecordOfRequestedType.
		{"nodata.test.", socketerror.HostNotFound},
		// REFUSED (outside the zone): Go reports "server misbehaving",
		// neither not-found nor temporary.
		{"outside.example.", socketerror.HostNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), testpeer.WaitTimeout)
			defer cancel()
			got, err := r.LookupAddrs(ctx, mustHost(t, tt.host))
			if got != nil {
				t.Errorf("LookupAddrs = %v, want nil", got)
			}
			se := wantSocketError(t, err, tt.status, 0)
			if se.Op != "resolve" || se.Addr == "" {
				t.Errorf("error %v: want Op resolve and the name as Addr", err)
			}
		})
	}
}

func TestDNSCancel(t *testing.T) {
	t.Parallel()
	r := dnsResolver(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := r.LookupAddrs(ctx, mustHost(t, "a.test."))
	wantSocketError(t, err, socketerror.OperationAborted, 0)

	ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	_, err = r.LookupAddrs(ctx, mustHost(t, "a.test."))
	wantSocketError(t, err, socketerror.ConnectionTimedOut, 0)
}

// TestDNSEndpointPairsOrder resolves a dual-stack name through
// GetEndpointPairs and checks the family order of each sort option.
// dnsmasq rotates its answers, so the order within a family changes from
// one query to the next; sort_test.go checks that order on fixed lists.
//
// 2001:db8::7 (a documentation address) is only resolved, never
// contacted: Go's RFC 6724 sort looks up a route to it with a UDP socket
// that sends nothing.
func TestDNSEndpointPairsOrder(t *testing.T) {
	t.Parallel()
	r := dnsResolver(t)
	ctx, cancel := context.WithTimeout(context.Background(), testpeer.WaitTimeout)
	defer cancel()
	host := mustHost(t, "multi.test.")
	all := addrs("127.0.0.7 127.0.0.8 127.0.0.9 ::1 2001:db8::7")
	for _, c := range []struct {
		network string
		sort    networking.HostNameSortOptions
		want    []netip.Addr
		order   func([]netip.Addr) bool
	}{
		{"tcp", networking.SortNone, all, interleaved},
		{"udp", networking.SortNone, all, interleaved},
		{"tcp", networking.OptimizeForLongConnections, all, ipv6First},
		{"tcp4", networking.SortNone, addrs("127.0.0.7 127.0.0.8 127.0.0.9"), nil},
		{"udp6", networking.OptimizeForLongConnections, addrs("::1 2001:db8::7"), nil},
	} {
		pairs, err := r.GetEndpointPairs(ctx, c.network, host, "web", c.sort)
		if err != nil {
			t.Fatalf("GetEndpointPairs(%s, %v): %v", c.network, c.sort, err)
		}
		wantPort := "8080"
		if c.network[:3] == "udp" {
			wantPort = "8081"
		}
		var got []netip.Addr
		for _, p := range pairs {
			a, ok := p.RemoteHostName.Addr()
			if !ok || p.RemoteServiceName != wantPort || p.LocalHostName != nil || p.LocalServiceName != "" {
				t.Errorf("%s %v: pair %v, want a numeric remote host, port %s and no local side", c.network, c.sort, p, wantPort)
			}
			got = append(got, a)
		}
		if !sameSet(got, c.want) {
			t.Errorf("%s %v: remote hosts %v, want %v in some order", c.network, c.sort, got, c.want)
		}
		if c.order != nil && !c.order(got) {
			t.Errorf("%s %v: remote hosts %v are not in the order of %v", c.network, c.sort, got, c.sort)
		}
	}

	_, err := r.GetEndpointPairs(ctx, "tcp6", mustHost(t, "a.test."), "80", networking.SortNone)
	wantSocketError(t, err, socketerror.NoAddressesFound, 0)
	_, err = r.GetEndpointPairs(ctx, "tcp", mustHost(t, "unknown.test."), "80", networking.SortNone)
	wantSocketError(t, err, socketerror.HostNotFound, 0)
}

// interleaved reports whether the families of a alternate, from the
// family of a[0], until one family runs out.
func interleaved(a []netip.Addr) bool {
	n4 := 0
	for _, x := range a {
		if x.Is4() {
			n4++
		}
	}
	n6 := len(a) - n4
	alternating := 2 * min(n4, n6)
	for i := 1; i < len(a); i++ {
		same := a[i].Is4() == a[i-1].Is4()
		if i < alternating && same || i > alternating && !same {
			return false
		}
	}
	return true
}

// ipv6First reports whether every IPv6 address of a precedes every IPv4
// one.
func ipv6First(a []netip.Addr) bool {
	return slices.IsSortedFunc(a, func(x, y netip.Addr) int {
		switch {
		case x.Is4() == y.Is4():
			return 0
		case x.Is6():
			return -1
		}
		return 1
	})
}

// sameSet reports whether a and b hold the same addresses, in any order.
func sameSet(a, b []netip.Addr) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.SortFunc(a, netip.Addr.Compare)
	slices.SortFunc(b, netip.Addr.Compare)
	return slices.Equal(a, b)
}

// srvResolver starts a dnsmasq with SRV records under srv.test and
// returns it with a Resolver that asks it.
func srvResolver(t *testing.T) (*testpeer.DNSServer, *networking.Resolver) {
	t.Helper()
	d := testpeer.StartDNS(t,
		"first.test=127.0.0.21",
		"second.test=127.0.0.22", "second.test=::1",
		// Listed out of order: the answer is sorted by priority.
		"_web2._tcp.srv.test=SRV:second.test,8082,20,0",
		"_web2._tcp.srv.test=SRV:gone.test,8083,30,0", // no address: skipped
		"_web2._tcp.srv.test=SRV:first.test,8081,10,0",
		"_dgram._udp.srv.test=SRV:first.test,9000,10,0",
		"_xmpp-client._service01._tcp.srv.test=SRV:first.test,5222,0,0",
		"_off._tcp.srv.test=SRV:",
		"_dead._tcp.srv.test=SRV:nowhere.test,80,10,0",
		"srv.test=127.0.0.20",
	)
	return d, &networking.Resolver{DNS: d.Resolver(), Services: &networking.Services{Path: testServices}}
}

// TestDNSSRVEndpointPairs resolves service names that no services file
// knows through SRV records: one pair per address of each target, with
// the target's port, targets in priority order.
func TestDNSSRVEndpointPairs(t *testing.T) {
	t.Parallel()
	d, r := srvResolver(t)
	ctx, cancel := context.WithTimeout(context.Background(), testpeer.WaitTimeout)
	defer cancel()
	pairs := func(network, host, service string, sort networking.HostNameSortOptions) []string {
		t.Helper()
		ps, err := r.GetEndpointPairs(ctx, network, mustHost(t, host), service, sort)
		if err != nil {
			t.Fatalf("GetEndpointPairs(%s, %s, %s): %v", network, host, service, err)
		}
		var out []string
		for _, p := range ps {
			if _, ok := p.RemoteHostName.Addr(); !ok || p.LocalHostName != nil || p.LocalServiceName != "" {
				t.Errorf("pair %v: want a numeric remote host and no local side", p)
			}
			out = append(out, p.String())
		}
		return out
	}

	// first.test (priority 10), then second.test (20), whose two
	// addresses are ordered by the sort option; gone.test (30) has none.
	got := pairs("tcp", "srv.test.", "web2", networking.OptimizeForLongConnections)
	want := []string{"*:* -> 127.0.0.21:8081", "*:* -> [::1]:8082", "*:* -> 127.0.0.22:8082"}
	if !slices.Equal(got, want) {
		t.Errorf("web2: pairs %q, want %q", got, want)
	}
	got = pairs("tcp4", "srv.test.", "web2", networking.SortNone)
	if want := []string{"*:* -> 127.0.0.21:8081", "*:* -> 127.0.0.22:8082"}; !slices.Equal(got, want) {
		t.Errorf("web2 over tcp4: pairs %q, want %q", got, want)
	}
	d.WaitOutput(t, "query[SRV] _web2._tcp.srv.test from 127.0.0.1")

	// The protocol comes from the network: _udp for a datagram socket.
	got = pairs("udp", "srv.test.", "dgram", networking.SortNone)
	if want := []string{"*:* -> 127.0.0.21:9000"}; !slices.Equal(got, want) {
		t.Errorf("dgram over udp: pairs %q, want %q", got, want)
	}
	d.WaitOutput(t, "query[SRV] _dgram._udp.srv.test from 127.0.0.1")

	// A hierarchical name gets one leading underscore, as in WinRT.
	got = pairs("tcp", "srv.test.", "xmpp-client._service01", networking.SortNone)
	if want := []string{"*:* -> 127.0.0.21:5222"}; !slices.Equal(got, want) {
		t.Errorf("xmpp-client._service01: pairs %q, want %q", got, want)
	}

	// A name the services file knows is not asked for.
	got = pairs("tcp", "srv.test.", "web", networking.SortNone)
	if want := []string{"*:* -> 127.0.0.20:8080"}; !slices.Equal(got, want) {
		t.Errorf("web (services file): pairs %q, want %q", got, want)
	}
	if out := d.Output(); strings.Contains(out, "_web._tcp") {
		t.Errorf("a service of the services file was looked up as SRV:\n%s", out)
	}
}

// TestDNSSRVErrors checks the failures of SRV lookups: a missing record
// keeps the ClassTypeNotFound of an unknown service, with a message that
// names the service and the name asked for.
func TestDNSSRVErrors(t *testing.T) {
	t.Parallel()
	_, r := srvResolver(t)
	tests := []struct {
		name, network, host, service string
		status                       socketerror.Status
		message                      []string
	}{
		{"no record", "tcp", "srv.test.", "nosuch", socketerror.ClassTypeNotFound,
			[]string{`"nosuch"`, "_nosuch._tcp.srv.test.", "no SRV record"}},
		{"no record on an unknown name", "tcp", "unknown.test.", "nosuch", socketerror.ClassTypeNotFound,
			[]string{`"nosuch"`, "_nosuch._tcp.unknown.test."}},
		{"only for the other protocol", "tcp", "srv.test.", "dgram", socketerror.ClassTypeNotFound,
			[]string{`"dgram"`, "_dgram._tcp.srv.test."}},
		{"not available", "tcp", "srv.test.", "off", socketerror.ClassTypeNotFound,
			[]string{`"off"`, "_off._tcp.srv.test.", "not available"}},
		{"no target resolves", "tcp", "srv.test.", "dead", socketerror.HostNotFound, []string{"nowhere.test"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), testpeer.WaitTimeout)
			defer cancel()
			got, err := r.ResolveEndpoints(ctx, tt.network, mustHost(t, tt.host), tt.service, networking.SortNone)
			if got != nil {
				t.Errorf("ResolveEndpoints = %v, want nil", got)
			}
			wantSocketError(t, err, tt.status, 0)
			t.Log(err)
			for _, m := range tt.message {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not contain %q", err, m)
				}
			}
		})
	}
	// A target with no address of the family asked for.
	ctx, cancel := context.WithTimeout(context.Background(), testpeer.WaitTimeout)
	defer cancel()
	_, err := r.ResolveEndpoints(ctx, "tcp6", mustHost(t, "srv.test."), "xmpp-client._service01", networking.SortNone)
	wantSocketError(t, err, socketerror.NoAddressesFound, 0)

	cancelled, cancelNow := context.WithCancel(context.Background())
	cancelNow()
	_, err = r.ResolveEndpoints(cancelled, "tcp", mustHost(t, "srv.test."), "web2", networking.SortNone)
	wantSocketError(t, err, socketerror.OperationAborted, 0)
}
