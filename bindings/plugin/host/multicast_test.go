package host_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	pluginhost "github.com/netrun/netrun/bindings/plugin/host"
	"github.com/netrun/netrun/internal/testpeer"
	"github.com/netrun/netrun/runtime/isolation"
)

// The multicast test runs as runtime/sockets' does (multicast_test.go
// there): two network namespaces made for it, joined by a veth pair, the
// host and its plugin in A (10.77.0.1, fd00:77::1), socat in B
// (10.77.0.2, fd00:77::2). TestPluginMulticast builds them and runs each
// case of TestPluginMulticastNetns inside A with (*Netns).ExecTest, which
// uses the plugin binaries this process built (binsDirEnv).

const (
	mcGroup4 = "239.1.2.3"
	mcGroup6 = "ff12::1234"

	// Environment of the half that runs in namespace A.
	mcEnvPeerNS = "PLUGINMC_PEER_NETNS" // socat's namespace, B
	mcEnvIf     = "PLUGINMC_IF"         // A's end of the veth
	mcEnvPeerIf = "PLUGINMC_PEER_IF"    // B's end
)

// TestPluginMulticast checks that a plugin receives multicast: udpplugin
// binds a DatagramSocket to every address, joins 239.1.2.3 (recv4) or
// ff12::1234 on its veth (recv6), socat in the other namespace sends one
// datagram to the group, and the plugin's MessageReceived reports the
// payload, the sender's address and port, and the group as the local
// address.
func TestPluginMulticast(t *testing.T) {
	a := testpeer.NewNetns(t)
	b := testpeer.NewNetns(t)
	ifA, ifB := testpeer.VethPair(t, a, b,
		[]string{"10.77.0.1/24", "fd00:77::1/64"}, []string{"10.77.0.2/24", "fd00:77::2/64"})
	env := []string{mcEnvPeerNS + "=" + b.Name, mcEnvIf + "=" + ifA, mcEnvPeerIf + "=" + ifB,
		binsDirEnv + "=" + binsDir}
	for _, name := range []string{"recv4", "recv6"} {
		t.Run(name, func(t *testing.T) {
			out := a.ExecTest(t, "TestPluginMulticastNetns/"+name, env...)
			if !strings.Contains(out, "--- PASS: TestPluginMulticastNetns/"+name+" ") {
				t.Fatalf("TestPluginMulticastNetns/%s did not pass in %s:\n%s", name, a.Name, out)
			}
		})
	}
}

// TestPluginMulticastNetns is the half of TestPluginMulticast that runs
// inside the host's namespace.
func TestPluginMulticastNetns(t *testing.T) {
	if testpeer.InNetns() == "" {
		t.Skip("run by TestPluginMulticast inside the network namespace it creates")
	}
	peerNS, ifA, ifB := os.Getenv(mcEnvPeerNS), os.Getenv(mcEnvIf), os.Getenv(mcEnvPeerIf)
	if peerNS == "" || ifA == "" || ifB == "" || os.Getenv(binsDirEnv) == "" {
		t.Fatal("TestPluginMulticast did not pass the namespace, the interfaces and the plugins")
	}

	// recv has the plugin join join, has socat in the peer namespace send
	// to target at the plugin's port from sender, and checks the record.
	recv := func(t *testing.T, group, join, target, sender string) {
		r, rec := newRunner(t, pluginhost.Options{})
		startPlugin(t, r, "mc", isolation.Capabilities(isolation.Loopback|isolation.PrivateNetworkClientServer),
			bins.udp, "multicast", join)
		port := rec.logged("joined", nil)["port"].(string)
		payload := "netrun plugin multicast test: " + t.Name()
		mcSocatSend(t, peerNS, payload, target+":"+port+",bind="+mcBracket(sender)+":4250")
		m := rec.logged("datagram", nil)
		if m["data"] != payload {
			t.Fatalf("the plugin got %q, want %q", m["data"], payload)
		}
		if m["remote"] != sender || m["remote_port"] != "4250" || m["local"] != group {
			t.Fatalf("from %v port %v to %v, want from %s port 4250 to the group %s", m["remote"], m["remote_port"], m["local"], sender, group)
		}
	}
	t.Run("recv4", func(t *testing.T) {
		recv(t, mcGroup4, mcGroup4, "UDP4-DATAGRAM:"+mcGroup4, "10.77.0.2")
	})
	t.Run("recv6", func(t *testing.T) {
		recv(t, mcGroup6, mcGroup6+"%"+ifA, "UDP6-DATAGRAM:["+mcGroup6+"%"+ifB+"]", "fd00:77::2")
	})
}

// mcBracket puts an IPv6 address in brackets, as socat wants it.
func mcBracket(a string) string {
	if strings.Contains(a, ":") {
		return "[" + a + "]"
	}
	return a
}

// mcSocatSend sends payload as one datagram from a socat in the namespace
// netns (through `ip netns exec`, which works from inside another
// namespace) to the socat address target, and waits for socat to exit.
func mcSocatSend(t *testing.T, netns, payload, target string) {
	t.Helper()
	ip, err := exec.LookPath("ip")
	if err != nil {
		ip = "/usr/sbin/ip"
	}
	ctx, cancel := context.WithTimeout(context.Background(), testpeer.WaitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, ip, "netns", "exec", netns, "socat", "-u", "STDIN", target)
	cmd.Stdin = strings.NewReader(payload)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("socat in %s sending to %s: %v\n%s", netns, target, err, out)
	}
}
