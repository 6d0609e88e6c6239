package testpeer_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/netrun/netrun/internal/testpeer"
)

func TestStartDNS(t *testing.T) {
	t.Parallel()
	d := testpeer.StartDNS(t,
		"a.test=127.0.0.5",
		"both.test=127.0.0.6", "both.test=fd00::6",
		"multi.test=127.0.0.7", "multi.test=127.0.0.8",
		"txt.test=TXT:hello world",
		"_svc._tcp.a.test=SRV:b.test,8080,20,0", "_svc._tcp.a.test=SRV:c.test.,9090,10,5",
		"_gone._udp.a.test=SRV:",
	)
	if ap, err := netip.ParseAddrPort(d.Addr); err != nil || !ap.Addr().IsLoopback() {
		t.Fatalf("Addr = %q, want a loopback host:port (%v)", d.Addr, err)
	}
	r := d.Resolver()
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()

	t.Run("found", func(t *testing.T) {
		for name, want := range map[string][]string{
			"a.test.":     {"127.0.0.5"},
			"both.test.":  {"127.0.0.6", "fd00::6"},
			"multi.test.": {"127.0.0.7", "127.0.0.8"},
		} {
			got, err := r.LookupHost(ctx, name)
			if err != nil {
				t.Fatalf("LookupHost(%s): %v", name, err)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("LookupHost(%s) = %v, want %v", name, got, want)
			}
		}
		txt, err := r.LookupTXT(ctx, "txt.test.")
		if err != nil || !slices.Equal(txt, []string{"hello world"}) {
			t.Errorf("LookupTXT(txt.test.) = %q, %v", txt, err)
		}
		_, srvs, err := r.LookupSRV(ctx, "svc", "tcp", "a.test.")
		if err != nil || len(srvs) != 2 ||
			*srvs[0] != (net.SRV{Target: "c.test.", Port: 9090, Priority: 10, Weight: 5}) ||
			*srvs[1] != (net.SRV{Target: "b.test.", Port: 8080, Priority: 20, Weight: 0}) {
			t.Errorf("LookupSRV(_svc._tcp.a.test.) = %v, %v; want c.test.:9090 (priority 10), then b.test.:8080 (20)", srvs, err)
		}
		_, srvs, err = r.LookupSRV(ctx, "gone", "udp", "a.test.")
		if err != nil || len(srvs) != 1 || srvs[0].Target != "." {
			t.Errorf("LookupSRV(_gone._udp.a.test.) = %v, %v; want one record with target \".\"", srvs, err)
		}
	})
	t.Run("not found", func(t *testing.T) {
		for _, name := range []string{"unknown.test.", "txt.test."} {
			_, err := r.LookupHost(ctx, name)
			var de *net.DNSError
			if !errors.As(err, &de) || !de.IsNotFound {
				t.Errorf("LookupHost(%s) = %v, want a DNSError with IsNotFound", name, err)
			}
		}
		_, err := r.LookupIP(ctx, "ip6", "a.test.")
		var de *net.DNSError
		if !errors.As(err, &de) || !de.IsNotFound {
			t.Errorf("LookupIP(ip6, a.test.) = %v, want NODATA as IsNotFound", err)
		}
	})
	t.Run("outside the zone", func(t *testing.T) {
		_, err := r.LookupHost(ctx, "example.com.")
		var de *net.DNSError
		if !errors.As(err, &de) || de.IsNotFound || de.IsTemporary || de.Err != "server misbehaving" {
			t.Errorf("LookupHost(example.com.) = %#v, want REFUSED as \"server misbehaving\"", err)
		}
	})
	d.WaitOutput(t, "query[A] example.com from 127.0.0.1")
	d.WaitOutput(t, "config error is REFUSED")
}
