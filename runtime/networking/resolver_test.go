package networking_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"

	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/socketerror"
)

var (
	loopback4 = netip.MustParseAddr("127.0.0.1")
	loopback6 = netip.IPv6Loopback()
)

func mustHost(t *testing.T, s string) *networking.HostName {
	t.Helper()
	h, err := networking.NewHostName(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// localResolver resolves services through testdata/services and fails the
// test on any DNS query.
func localResolver(t *testing.T) *networking.Resolver {
	return &networking.Resolver{DNS: noDNS(t), Services: &networking.Services{Path: testServices}}
}

func TestLookupAddrsWithoutDNS(t *testing.T) {
	t.Parallel()
	tests := []struct {
		host string
		want []netip.Addr
	}{
		{"localhost", []netip.Addr{loopback4, loopback6}},
		{"LOCALHOST.", []netip.Addr{loopback4, loopback6}},
		{"app.localhost", []netip.Addr{loopback4, loopback6}},
		{"192.0.2.1", []netip.Addr{netip.MustParseAddr("192.0.2.1")}},
		{"[2001:db8::1]", []netip.Addr{netip.MustParseAddr("2001:db8::1")}},
		{"fe80::1%eth0", []netip.Addr{netip.MustParseAddr("fe80::1%eth0")}},
		{"::ffff:192.0.2.1", []netip.Addr{netip.MustParseAddr("::ffff:192.0.2.1")}},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			t.Parallel()
			got, err := localResolver(t).LookupAddrs(context.Background(), mustHost(t, tt.host))
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("LookupAddrs = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// TestZeroAndNilResolver checks the defaults on answers that need no DNS.
func TestZeroAndNilResolver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, r := range map[string]*networking.Resolver{"zero": {}, "nil": nil} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if p, err := r.LookupPort("tcp", "http"); err != nil || p != 80 {
				t.Errorf("LookupPort(http) = %d, %v", p, err)
			}
			if p, err := r.LookupPort("udp", "53"); err != nil || p != 53 {
				t.Errorf("LookupPort(53) = %d, %v", p, err)
			}
			got, err := r.ResolveEndpoints(ctx, "tcp", mustHost(t, "localhost"), "http", networking.SortNone)
			want := []netip.AddrPort{netip.AddrPortFrom(loopback4, 80), netip.AddrPortFrom(loopback6, 80)}
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("ResolveEndpoints(localhost, http) = %v, %v; want %v", got, err, want)
			}
		})
	}
}

func TestLookupAddrsErrors(t *testing.T) {
	t.Parallel()
	r := localResolver(t)
	_, err := r.LookupAddrs(context.Background(), nil)
	wantInvalidArg(t, err, "hostName")

	_, err = r.LookupAddrs(context.Background(), mustHost(t, "(00:11:22:33:44:55)"))
	wantSocketError(t, err, socketerror.AddressFamilyNotSupported, 0)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = r.LookupAddrs(ctx, mustHost(t, "localhost"))
	wantSocketError(t, err, socketerror.OperationAborted, 0)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v does not wrap context.Canceled", err)
	}
}

func TestResolveEndpoints(t *testing.T) {
	t.Parallel()
	ap := netip.MustParseAddrPort
	tests := []struct {
		name, network, host, service string
		sort                         networking.HostNameSortOptions
		want                         []netip.AddrPort
	}{
		{"localhost", "tcp", "localhost", "80", networking.SortNone, []netip.AddrPort{ap("127.0.0.1:80"), ap("[::1]:80")}},
		{"localhost long", "tcp", "localhost", "80", networking.OptimizeForLongConnections, []netip.AddrPort{ap("[::1]:80"), ap("127.0.0.1:80")}},
		{"localhost tcp4", "tcp4", "localhost", "web", networking.SortNone, []netip.AddrPort{ap("127.0.0.1:8080")}},
		{"localhost tcp6", "tcp6", "localhost", "web", networking.SortNone, []netip.AddrPort{ap("[::1]:8080")}},
		{"localhost udp", "udp", "localhost", "web", networking.SortNone, []netip.AddrPort{ap("127.0.0.1:8081"), ap("[::1]:8081")}},
		{"ipv4", "udp4", "192.0.2.1", "0", networking.SortNone, []netip.AddrPort{ap("192.0.2.1:0")}},
		{"ipv6 zone", "tcp6", "fe80::1%eth0", "65535", networking.SortNone, []netip.AddrPort{ap("[fe80::1%eth0]:65535")}},
		{"mapped is v4", "tcp4", "::ffff:192.0.2.1", "1", networking.SortNone, []netip.AddrPort{ap("[::ffff:192.0.2.1]:1")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := localResolver(t).ResolveEndpoints(context.Background(), tt.network, mustHost(t, tt.host), tt.service, tt.sort)
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("ResolveEndpoints = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestResolveEndpointsErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// The DNS name must never be looked up: each case fails before.
	dnsName := "never-queried.example"
	tests := []struct {
		name, network, host, service string
		status                       socketerror.Status
		invalidArg                   string
	}{
		// An unknown service name on a DNS name is an SRV lookup
		// (dns_test.go); on an address or localhost, there is none.
		{"unknown service", "tcp", "192.0.2.1", "nosuchservice", socketerror.ClassTypeNotFound, ""},
		{"unknown service on localhost", "tcp", "localhost", "nosuchservice", socketerror.ClassTypeNotFound, ""},
		{"service for the other protocol", "udp", "::1", "tcpmux", socketerror.ClassTypeNotFound, ""},
		{"port out of range", "tcp", dnsName, "65536", 0, "serviceName"},
		{"empty service", "tcp", dnsName, "", 0, "serviceName"},
		{"nil host", "tcp", "", "80", 0, "hostName"},
		{"bad network", "ip", dnsName, "80", 0, "network"},
		{"no v6 for v4 literal", "tcp6", "192.0.2.1", "80", socketerror.NoAddressesFound, ""},
		{"no v4 for v6 literal", "udp4", "2001:db8::1", "80", socketerror.NoAddressesFound, ""},
		{"no v6 for mapped", "tcp6", "::ffff:192.0.2.1", "80", socketerror.NoAddressesFound, ""},
		{"bluetooth", "tcp", "(00:11:22:33:44:55)", "3", socketerror.AddressFamilyNotSupported, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var host *networking.HostName
			if tt.host != "" {
				host = mustHost(t, tt.host)
			}
			got, err := localResolver(t).ResolveEndpoints(ctx, tt.network, host, tt.service, networking.SortNone)
			if got != nil {
				t.Errorf("ResolveEndpoints = %v, want nil", got)
			}
			if tt.invalidArg != "" {
				wantInvalidArg(t, err, tt.invalidArg)
			} else {
				wantSocketError(t, err, tt.status, 0)
			}
		})
	}
}

func TestGetEndpointPairs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := localResolver(t)
	for _, c := range []struct {
		sort networking.HostNameSortOptions
		want []string
	}{
		{networking.SortNone, []string{"*:* -> 127.0.0.1:8080", "*:* -> [::1]:8080"}},
		{networking.OptimizeForLongConnections, []string{"*:* -> [::1]:8080", "*:* -> 127.0.0.1:8080"}},
	} {
		pairs, err := r.GetEndpointPairs(ctx, "tcp", mustHost(t, "localhost"), "web", c.sort)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range pairs {
			got = append(got, p.String())
			if p.LocalHostName != nil || p.LocalServiceName != "" || p.RemoteServiceName != "8080" {
				t.Errorf("pair %+v: want no local side and remote service 8080", p)
			}
			if _, ok := p.RemoteHostName.Addr(); !ok {
				t.Errorf("pair %v: the remote host is not numeric", p)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%v: pairs %q, want %q", c.sort, got, c.want)
		}
	}

	// A zone stays on the remote host.
	pairs, err := r.GetEndpointPairs(ctx, "udp", mustHost(t, "[fe80::1%eth0]"), "7", networking.SortNone)
	if err != nil || len(pairs) != 1 || pairs[0].RemoteHostName.CanonicalName() != "fe80::1%eth0" {
		t.Errorf("GetEndpointPairs(fe80::1%%eth0) = %v, %v", pairs, err)
	}

	_, err = r.GetEndpointPairs(ctx, "tcp", nil, "80", networking.SortNone)
	wantInvalidArg(t, err, "remoteHostName")
	_, err = r.GetEndpointPairs(ctx, "tcp", mustHost(t, "localhost"), "", networking.SortNone)
	wantInvalidArg(t, err, "remoteServiceName")
	_, err = r.GetEndpointPairs(ctx, "tcp", mustHost(t, "localhost"), "nosuchservice", networking.SortNone)
	wantSocketError(t, err, socketerror.ClassTypeNotFound, 0)
}

// TestLookupAddrsDNSTimeout checks the status of a DNS server that does
// not answer in time: the resolver's dial fails with a time-out, without
// any packet sent.
func TestLookupAddrsDNSTimeout(t *testing.T) {
	t.Parallel()
	r := &networking.Resolver{DNS: &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			return nil, &net.OpError{Op: "dial", Net: network, Err: os.ErrDeadlineExceeded}
		},
	}}
	_, err := r.LookupAddrs(context.Background(), mustHost(t, "slow.test."))
	wantSocketError(t, err, socketerror.NonAuthoritativeHostNotFound, 0)
}
