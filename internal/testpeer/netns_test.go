package testpeer_test

import (
	"net"
	"os"
	"strings"
	"testing"

	"github.com/netrun/netrun/internal/testpeer"
)

func TestVethPair(t *testing.T) {
	t.Parallel()
	a := testpeer.NewNetns(t)
	b := testpeer.NewNetns(t)
	if a.Name == b.Name || !strings.HasPrefix(a.Name, "nrt-") {
		t.Fatalf("namespace names %q and %q: want distinct, prefixed nrt-", a.Name, b.Name)
	}
	ifA, ifB := testpeer.VethPair(t, a, b, []string{"10.77.0.1/24", "fd00:77::1/64"}, []string{"10.77.0.2/24", "fd00:77::2/64"})

	for _, side := range []struct {
		ns    *testpeer.Netns
		ifc   string
		addrs []string
	}{
		{a, ifA, []string{"10.77.0.1/24", "fd00:77::1/64"}},
		{b, ifB, []string{"10.77.0.2/24", "fd00:77::2/64"}},
	} {
		out := side.ns.Run(t, "ip", "addr", "show", "dev", side.ifc)
		for _, want := range append(side.addrs, "MULTICAST", "UP") {
			if !strings.Contains(out, want) {
				t.Errorf("ip addr in %s lacks %q:\n%s", side.ns.Name, want, out)
			}
		}
		if strings.Contains(out, "tentative") {
			t.Errorf("an address in %s is still tentative (DAD not off):\n%s", side.ns.Name, out)
		}
		routes := side.ns.Run(t, "ip", "route", "show", "224.0.0.0/4") + side.ns.Run(t, "ip", "-6", "route", "show", "ff00::/8")
		if strings.Count(routes, "dev "+side.ifc) != 2 {
			t.Errorf("multicast routes in %s do not both use %s:\n%s", side.ns.Name, side.ifc, routes)
		}
		lo := side.ns.Run(t, "ip", "link", "show", "lo")
		if !strings.Contains(lo, "UP") {
			t.Errorf("lo is not up in %s:\n%s", side.ns.Name, lo)
		}
	}
	// Nothing of the namespaces shows in ours.
	if out := a.Run(t, "ip", "link", "show"); strings.Contains(out, ifB) {
		t.Errorf("%s sees %s, which belongs to %s:\n%s", a.Name, ifB, b.Name, out)
	}
	if _, err := net.InterfaceByName(ifA); err == nil {
		t.Errorf("the test's own namespace has %s", ifA)
	}
}

// TestExecTest runs itself again inside a namespace; the inner half checks
// what it sees there.
func TestExecTest(t *testing.T) {
	if ns := testpeer.InNetns(); ns != "" {
		ifc, err := net.InterfaceByName(os.Getenv("TESTPEER_TEST_IF"))
		if err != nil {
			t.Fatalf("inside %s: %v", ns, err)
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			t.Fatal(err)
		}
		var all []string
		for _, a := range addrs {
			all = append(all, a.String())
		}
		if !strings.Contains(strings.Join(all, " "), "10.78.0.1/24") {
			t.Fatalf("inside %s, %s has %v, want 10.78.0.1/24", ns, ifc.Name, all)
		}
		// Inside a test's namespace, peers may bind its addresses.
		addr := testpeer.TCPEchoServer(t, "tcp4", "10.78.0.1")
		roundTrip(t, dialTCP(t, "tcp4", addr), "inside", "inside")
		t.Logf("inner half ran in %s", ns)
		return
	}
	t.Parallel()
	a := testpeer.NewNetns(t)
	b := testpeer.NewNetns(t)
	ifA, _ := testpeer.VethPair(t, a, b, []string{"10.78.0.1/24"}, []string{"10.78.0.2/24"})
	out := a.ExecTest(t, t.Name(), "TESTPEER_TEST_IF="+ifA)
	if !strings.Contains(out, "inner half ran in "+a.Name) || !strings.Contains(out, "--- PASS: TestExecTest") {
		t.Fatalf("inner half did not report from %s:\n%s", a.Name, out)
	}
}

func TestRunPattern(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"TestX":          "^TestX$",
		"TestX/case_1":   "^TestX$/^case_1$",
		"TestX/a.b(1)/c": `^TestX$/^a\.b\(1\)$/^c$`,
	} {
		if got := testpeer.RunPattern(name); got != want {
			t.Errorf("runPattern(%q) = %q, want %q", name, got, want)
		}
	}
}
