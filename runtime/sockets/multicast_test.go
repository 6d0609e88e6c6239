package sockets_test

import (
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netrun/netrun/internal/testpeer"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
)

// The multicast and broadcast tests run in two network namespaces made for
// them, joined by a veth pair: netrun's ("A", 10.77.0.1, fd00:77::1) and
// socat's ("B", 10.77.0.2, fd00:77::2). TestMulticast builds them and runs
// each case of TestMulticastNetns inside A with (*Netns).ExecTest; socat
// runs in B through `ip netns exec`. No address outside the two namespaces
// is used.

const (
	dgGroup4 = "239.1.2.3"
	dgGroup6 = "ff12::1234"

	// Environment of the half that runs in namespace A.
	dgEnvPeerNS = "DGTEST_PEER_NETNS" // socat's namespace, B
	dgEnvIf     = "DGTEST_IF"         // A's end of the veth
	dgEnvPeerIf = "DGTEST_PEER_IF"    // B's end
	dgEnvPort   = "DGTEST_PORT"       // where socat receives, for the send cases
)

// dgMulticastPayload is what the case named name sends.
func dgMulticastPayload(name string) string { return "netrun multicast test: " + name }

// TestMulticast checks multicast and broadcast between netrun and socat
// across a veth link, each case of TestMulticastNetns run inside netrun's
// namespace:
//
//   - recv4, recv6: netrun joins 239.1.2.3 / ff12::1234 (on its veth),
//     socat sends to the group from the other namespace, and
//     MessageReceived reports the payload, the sender's address and the
//     group as the local address;
//   - multicastOnly: two netrun sockets with MulticastOnly share a port and
//     both receive one group datagram;
//   - send4, send6: netrun sends to the group through GetOutputStream and
//     socat, a member in the other namespace, prints the payload;
//   - broadcast: netrun sends to 10.77.0.255 and socat receives it;
//   - dontFragment: with DontFragment a datagram above the veth's 1500-byte
//     MTU fails with MessageTooLong (IPv4 and IPv6); without, it is sent.
func TestMulticast(t *testing.T) {
	a := testpeer.NewNetns(t)
	b := testpeer.NewNetns(t)
	ifA, ifB := testpeer.VethPair(t, a, b,
		[]string{"10.77.0.1/24", "fd00:77::1/64"}, []string{"10.77.0.2/24", "fd00:77::2/64"})
	env := []string{dgEnvPeerNS + "=" + b.Name, dgEnvIf + "=" + ifA, dgEnvPeerIf + "=" + ifB}

	for _, name := range []string{"recv4", "recv6", "multicastOnly", "dontFragment"} {
		t.Run(name, func(t *testing.T) { dgExecIn(t, a, name, env) })
	}

	// netrun sends: socat in B is a receiver, ready before netrun runs.
	for _, c := range []struct{ name, port, recv string }{
		{"send4", "4241", "UDP4-RECV:4241,ip-add-membership=" + dgGroup4 + ":" + ifB},
		{"send6", "4242", "UDP6-RECV:4242,ipv6-join-group=[" + dgGroup6 + "]:" + ifB},
		{"broadcast", "4243", "UDP4-RECV:4243"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := dgStartSocatIn(t, b.Name, "-u", c.recv, "STDOUT")
			s.waitOutput(t, "starting data transfer loop")
			dgExecIn(t, a, c.name, append(env, dgEnvPort+"="+c.port))
			s.waitOutput(t, dgMulticastPayload(c.name))
		})
	}
}

// dgExecIn runs the case name of TestMulticastNetns in ns and fails unless
// it passed there (rather than, say, skipped).
func dgExecIn(t *testing.T, ns *testpeer.Netns, name string, env []string) {
	t.Helper()
	out := ns.ExecTest(t, "TestMulticastNetns/"+name, env...)
	if !strings.Contains(out, "--- PASS: TestMulticastNetns/"+name+" ") {
		t.Fatalf("TestMulticastNetns/%s did not pass in %s:\n%s", name, ns.Name, out)
	}
}

// TestMulticastNetns is the half of TestMulticast that runs inside
// netrun's namespace.
func TestMulticastNetns(t *testing.T) {
	if testpeer.InNetns() == "" {
		t.Skip("run by TestMulticast inside the network namespace it creates")
	}
	peerNS, ifA, ifB := os.Getenv(dgEnvPeerNS), os.Getenv(dgEnvIf), os.Getenv(dgEnvPeerIf)
	if peerNS == "" || ifA == "" || ifB == "" {
		t.Fatal("TestMulticast did not pass the namespace and interfaces")
	}

	// recv joins group on a socket bound to every address, has socat in
	// the peer namespace send to it from sender, and checks the event.
	recv := func(t *testing.T, group, join, target, sender string) {
		ctx := testCtx(t)
		d := sockets.NewDatagramSocket()
		defer d.Close()
		msgs := dgCollect(d)
		must(t, d.BindServiceName(ctx, ""))
		must(t, d.JoinMulticastGroup(host(t, join)))
		payload := dgMulticastPayload(t.Name())
		dgSocatSendIn(t, peerNS, payload, target+":"+d.Information().LocalPort()+",bind="+dgBracket(sender))
		m := dgRecv(t, msgs)
		if m.data != payload {
			t.Fatalf("got %q, want %q", m.data, payload)
		}
		if m.remoteHost != sender || m.local.String() != group || m.localHost != group {
			t.Fatalf("from %s to %s (%s), want from %s to the group %s", m.remoteHost, m.local, m.localHost, sender, group)
		}
	}
	t.Run("recv4", func(t *testing.T) {
		recv(t, dgGroup4, dgGroup4, "UDP4-DATAGRAM:"+dgGroup4, "10.77.0.2")
	})
	t.Run("recv6", func(t *testing.T) {
		recv(t, dgGroup6, dgGroup6+"%"+ifA, "UDP6-DATAGRAM:["+dgGroup6+"%"+ifB+"]", "fd00:77::2")
	})

	t.Run("multicastOnly", func(t *testing.T) {
		ctx := testCtx(t)
		var all []<-chan dgMsg
		port := ""
		for range 2 {
			d := sockets.NewDatagramSocket()
			defer d.Close()
			must(t, d.Control().SetMulticastOnly(true))
			all = append(all, dgCollect(d))
			must(t, d.BindServiceName(ctx, port))
			port = d.Information().LocalPort()
			must(t, d.JoinMulticastGroup(host(t, dgGroup4)))
		}
		payload := dgMulticastPayload(t.Name())
		dgSocatSendIn(t, peerNS, payload, "UDP4-DATAGRAM:"+dgGroup4+":"+port)
		for i, msgs := range all {
			if m := dgRecv(t, msgs); m.data != payload {
				t.Fatalf("socket %d got %q", i, m.data)
			}
		}
	})

	// send writes this case's payload to dest through GetOutputStream.
	send := func(t *testing.T, dest string) {
		ctx := testCtx(t)
		d := sockets.NewDatagramSocket()
		defer d.Close()
		out, err := d.GetOutputStream(ctx, host(t, dest), os.Getenv(dgEnvPort))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := out.Write(ctx, []byte(dgMulticastPayload(strings.TrimPrefix(t.Name(), "TestMulticastNetns/")))); err != nil {
			t.Fatal(err)
		}
		must(t, out.Flush(ctx))
	}
	t.Run("send4", func(t *testing.T) { send(t, dgGroup4) })
	t.Run("send6", func(t *testing.T) { send(t, dgGroup6+"%"+ifA) })
	t.Run("broadcast", func(t *testing.T) { send(t, "10.77.0.255") })

	t.Run("dontFragment", func(t *testing.T) {
		ctx := testCtx(t)
		big := make([]byte, 2000) // above the veth's 1500-byte MTU
		for _, peer := range []string{"10.77.0.2", "fd00:77::2"} {
			df := sockets.NewDatagramSocket()
			defer df.Close()
			must(t, df.Control().SetDontFragment(true))
			out, err := df.GetOutputStream(ctx, host(t, peer), "9")
			if err != nil {
				t.Fatal(err)
			}
			_, err = out.Write(ctx, big)
			wantStatus(t, err, socketerror.MessageTooLong)

			frag := sockets.NewDatagramSocket()
			defer frag.Close()
			out, err = frag.GetOutputStream(ctx, host(t, peer), "9")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := out.Write(ctx, big); err != nil {
				t.Fatalf("without DontFragment, a 2000-byte datagram to %s: %v", peer, err)
			}
		}
	})
}

// dgBracket puts an IPv6 address in brackets, as socat wants it.
func dgBracket(a string) string {
	if strings.Contains(a, ":") {
		return "[" + a + "]"
	}
	return a
}

// dgSocatSendIn sends payload as one datagram from a socat in the
// namespace netns to the socat address target, and waits for it to exit.
func dgSocatSendIn(t testing.TB, netns, payload, target string) {
	t.Helper()
	s := dgStartSocatIn(t, netns, "-u", "STDIN", target)
	if _, err := io.WriteString(s.stdin, payload); err != nil {
		t.Fatal(err)
	}
	s.stdin.Close()
	s.waitExit(t)
}

// dgNetnsSocat is a socat running in a network namespace, started through
// `ip netns exec` because testpeer starts socat in the current one only.
// Its stdout and stderr are recorded together.
type dgNetnsSocat struct {
	stdin io.WriteCloser
	done  chan struct{} // closed when socat has exited and its output is copied
	err   error         // Wait's result; read after done

	mu   sync.Mutex // guards the fields below
	out  []byte
	grew chan struct{} // closed and replaced at each write
}

// dgStartSocatIn runs `socat -d -d args...` in the namespace netns. It is
// killed when the test ends.
func dgStartSocatIn(t testing.TB, netns string, args ...string) *dgNetnsSocat {
	t.Helper()
	ip, err := exec.LookPath("ip")
	if err != nil {
		ip = "/usr/sbin/ip"
	}
	s := &dgNetnsSocat{done: make(chan struct{}), grew: make(chan struct{})}
	cmd := exec.Command(ip, append([]string{"netns", "exec", netns, "socat", "-d", "-d"}, args...)...)
	cmd.Stdout, cmd.Stderr = s, s
	cmd.WaitDelay = time.Second
	if s.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start socat in %s: %v", netns, err)
	}
	go func() { s.err = cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-s.done
	})
	return s
}

func (s *dgNetnsSocat) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.out = append(s.out, p...)
	close(s.grew)
	s.grew = make(chan struct{})
	return len(p), nil
}

func (s *dgNetnsSocat) output() (string, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.out), s.grew
}

// waitOutput waits until socat has printed substr, failing the test if it
// exits first or after testpeer.WaitTimeout.
func (s *dgNetnsSocat) waitOutput(t testing.TB, substr string) {
	t.Helper()
	timer := time.NewTimer(testpeer.WaitTimeout)
	defer timer.Stop()
	for {
		out, grew := s.output()
		if strings.Contains(out, substr) {
			return
		}
		select {
		case <-grew:
		case <-s.done:
			if out, _ := s.output(); !strings.Contains(out, substr) {
				t.Fatalf("socat exited (%v) without printing %q:\n%s", s.err, substr, out)
			}
			return
		case <-timer.C:
			t.Fatalf("socat did not print %q within %v:\n%s", substr, testpeer.WaitTimeout, out)
		}
	}
}

// waitExit waits for socat to exit by itself, and fails the test if it
// failed or did not exit within testpeer.WaitTimeout.
func (s *dgNetnsSocat) waitExit(t testing.TB) {
	t.Helper()
	select {
	case <-s.done:
		if s.err != nil {
			out, _ := s.output()
			t.Fatalf("socat: %v:\n%s", s.err, out)
		}
	case <-time.After(testpeer.WaitTimeout):
		out, _ := s.output()
		t.Fatalf("socat did not exit within %v:\n%s", testpeer.WaitTimeout, out)
	}
}
