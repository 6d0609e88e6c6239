package testpeer

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// dnsZone is the only zone a DNSServer answers for.
const dnsZone = "test"

// DNSServer is a dnsmasq bound to 127.0.0.1 on a free UDP and TCP port,
// authoritative for the zone "test." only. It never forwards a query: it
// has no upstream servers (--no-resolv) and reads neither /etc/hosts nor
// any configuration file.
//
// What it answers (dnsmasq 2.90, as Go's resolver reports it):
//
//   - a name given to StartDNS, for a type it has: the records;
//   - a name given to StartDNS, for another type (say AAAA for a name with
//     only an A): NOERROR with no answer (NODATA); Go returns a
//     *net.DNSError with IsNotFound true, "no such host";
//   - any other name in test.: NXDOMAIN; Go returns IsNotFound true;
//   - any name outside test. (example.com, localhost, reverse lookups of
//     addresses not given): REFUSED; Go returns "server misbehaving" with
//     IsNotFound and IsTemporary false.
//
// Query names with a final dot ("a.test."): a name without one may be
// tried with the search domains of /etc/resolv.conf first. Go's errors
// name the server of /etc/resolv.conf even though the query went to this
// one: Resolver's Dial ignores the address Go asks for.
type DNSServer struct {
	Addr string // 127.0.0.1:port, for UDP and TCP

	p *proc
}

// StartDNS starts dnsmasq with the given records and returns once it
// answers. A record is "name=ip", which adds an A or AAAA record (and its
// PTR) with --host-record, or "name=TXT:value", which adds a TXT record
// only, so that A and AAAA queries for the name get NODATA. A comma in a
// TXT value splits it into several strings of the one record.
// "name=SRV:target,port,priority,weight" adds an SRV record with
// --srv-host ("_svc._tcp.a.test=SRV:b.test,8080,10,5"); "name=SRV:"
// adds one whose target is ".", the service is not available. Names must
// be in test. Repeating a name adds records to it. dnsmasq is killed when
// the test ends.
func StartDNS(tb testing.TB, records ...string) *DNSServer {
	tb.Helper()
	dnsmasq := tool(tb, "dnsmasq", "dnsmasq-base")
	recordArgs := dnsRecordArgs(tb, records)
	host := netip.AddrFrom4([4]byte{127, 0, 0, 1})

	var err error
	for range startAttempts {
		var port int
		port, err = freePort(host, true, true)
		if err != nil {
			break
		}
		args := []string{
			"--keep-in-foreground", "--conf-file=/dev/null", "--pid-file=",
			"--no-resolv", "--no-hosts", "--local=/" + dnsZone + "/",
			"--listen-address=" + host.String(), "--bind-interfaces", "--port=" + strconv.Itoa(port),
			"--log-facility=-", "--log-queries",
		}
		args = append(args, recordArgs...)
		var p *proc
		p, err = startProc("dnsmasq", exec.Command(dnsmasq, args...))
		if err != nil {
			break
		}
		tb.Cleanup(p.kill)
		addr := net.JoinHostPort(host.String(), strconv.Itoa(port))
		// dnsmasq binds its sockets before it logs "started"; the dial
		// confirms that TCP accepts.
		err = p.awaitOutput("started, version")
		if err == nil {
			err = dialOnce(addr)
		}
		if err == nil {
			return &DNSServer{Addr: addr, p: p}
		}
		p.kill()
		if !errors.Is(err, errExited) || !inUse(p.all.String()) {
			break
		}
	}
	tb.Fatalf("testpeer: start dnsmasq: %v", err)
	return nil
}

// dnsRecordArgs turns StartDNS records into dnsmasq flags.
func dnsRecordArgs(tb testing.TB, records []string) []string {
	tb.Helper()
	var args []string
	for _, r := range records {
		name, value, ok := strings.Cut(r, "=")
		name = strings.ToLower(strings.TrimSuffix(name, "."))
		if !ok || name == "" || value == "" {
			tb.Fatalf("testpeer: DNS record %q: want name=ip, name=TXT:value or name=SRV:target,port,priority,weight", r)
		}
		if name != dnsZone && !strings.HasSuffix(name, "."+dnsZone) {
			tb.Fatalf("testpeer: DNS record %q: the name must be in the zone %s.", r, dnsZone)
		}
		if txt, isTXT := strings.CutPrefix(value, "TXT:"); isTXT {
			args = append(args, "--txt-record="+name+","+txt)
			continue
		}
		if srv, isSRV := strings.CutPrefix(value, "SRV:"); isSRV {
			if srv == "" {
				args = append(args, "--srv-host="+name)
				continue
			}
			f := strings.Split(srv, ",")
			if len(f) != 4 || f[0] == "" {
				tb.Fatalf("testpeer: DNS record %q: want name=SRV:target,port,priority,weight", r)
			}
			for _, n := range f[1:] {
				if v, err := strconv.ParseUint(n, 10, 16); err != nil || v > 65535 {
					tb.Fatalf("testpeer: DNS record %q: %q is not a number 0-65535", r, n)
				}
			}
			args = append(args, "--srv-host="+name+","+strings.TrimSuffix(f[0], ".")+","+f[1]+","+f[2]+","+f[3])
			continue
		}
		ip, err := netip.ParseAddr(value)
		if err != nil {
			tb.Fatalf("testpeer: DNS record %q: %v", r, err)
		}
		args = append(args, "--host-record="+name+","+ip.String())
	}
	return args
}

// dialOnce checks that addr accepts a TCP connection.
func dialOnce(addr string) error {
	c, err := net.DialTimeout("tcp", addr, WaitTimeout)
	if err != nil {
		return err
	}
	return c.Close()
}

// Resolver returns a *net.Resolver that uses Go's own resolver and sends
// every query to this server, whatever address Go asks to dial.
func (d *DNSServer) Resolver() *net.Resolver {
	addr := d.Addr
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var dialer net.Dialer
			return dialer.DialContext(ctx, network, addr)
		},
	}
}

// Output returns what dnsmasq logged so far: its start-up lines, then for
// each query a line such as "query[A] a.test from 127.0.0.1" followed by
// its answer, "config a.test is 127.0.0.5", "config a.test is
// NODATA-IPv6", "config b.test is NXDOMAIN" or, outside test.,
// "config error is REFUSED (EDE: not ready)".
func (d *DNSServer) Output() string { return d.p.all.String() }

// WaitOutput waits until Output contains substr, failing tb with the
// output if dnsmasq exits or WaitTimeout passes first.
func (d *DNSServer) WaitOutput(tb testing.TB, substr string) {
	tb.Helper()
	d.p.waitOutput(tb, substr)
}
