package sockets_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netrun/netrun/internal/testpeer"
	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
)

// TestConnectSRV connects by a service name that only DNS knows, as an
// SRV record served by dnsmasq: the connect reaches the listener on the
// port of the SRV answer, after the guard has refused the target of
// higher priority, and GetEndpointPairs lists both targets in priority
// order.
func TestConnectSRV(t *testing.T) {
	t.Parallel()
	l := sockets.NewStreamSocketListener()
	defer l.Close()
	accepted := make(chan *sockets.StreamSocket, 4)
	l.ConnectionReceived().Add(func(a *sockets.ConnectionReceivedEventArgs) { accepted <- a.Socket })
	if err := l.BindEndpoint(testCtx(t), host(t, "127.0.0.1"), ""); err != nil {
		t.Fatal(err)
	}
	port := l.Information().LocalPort()
	udpEcho := testpeer.UDPEchoServer(t, "udp4", "127.0.0.1")
	_, udpPort := splitHostPort(t, udpEcho)
	dns := testpeer.StartDNS(t,
		"near.test=127.0.0.1", "far.test=192.0.2.1",
		"_app._tcp.srv.test=SRV:far.test,"+port+",1,0", // refused by the guard
		"_app._tcp.srv.test=SRV:near.test,"+port+",2,0",
		"_app._udp.srv.test=SRV:near.test,"+udpPort+",1,0",
		"_faronly._tcp.srv.test=SRV:far.test,80,1,0",
	)
	// The guard allows loopback only, like a script granted "loopback".
	env := &sockets.Env{
		Resolver: &networking.Resolver{DNS: dns.Resolver()},
		Guard:    dgGuard{func(_ sockets.Direction, a netip.Addr) bool { return !a.IsLoopback() }},
	}

	t.Run("stream", func(t *testing.T) {
		s := env.NewStreamSocket()
		defer s.Close()
		if err := s.Connect(testCtx(t), host(t, "srv.test."), "app", sockets.PlainSocket); err != nil {
			t.Fatalf("Connect(srv.test., app): %v", err)
		}
		info := s.Information()
		if info.RemoteAddress().CanonicalName() != "127.0.0.1" || info.RemotePort() != port {
			t.Fatalf("connected to %s:%s, want 127.0.0.1:%s", info.RemoteAddress(), info.RemotePort(), port)
		}
		select {
		case a := <-accepted:
			defer a.Close()
			if a.Information().RemotePort() != info.LocalPort() {
				t.Fatalf("the listener accepted %s, want the client's port %s", a.Information().RemotePort(), info.LocalPort())
			}
		case <-time.After(testpeer.WaitTimeout):
			t.Fatal("the listener accepted no connection")
		}
		dns.WaitOutput(t, "query[SRV] _app._tcp.srv.test from 127.0.0.1")
	})
	t.Run("refused by the guard", func(t *testing.T) {
		s := env.NewStreamSocket()
		defer s.Close()
		err := s.Connect(testCtx(t), host(t, "srv.test."), "faronly", sockets.PlainSocket)
		wantHResult(t, err, socketerror.EAccessDenied)
	})
	t.Run("no record", func(t *testing.T) {
		s := env.NewStreamSocket()
		defer s.Close()
		err := s.Connect(testCtx(t), host(t, "srv.test."), "nosuch", sockets.PlainSocket)
		wantStatus(t, err, socketerror.ClassTypeNotFound)
		if !strings.Contains(err.Error(), `"nosuch"`) || !strings.Contains(err.Error(), "_nosuch._tcp.srv.test.") {
			t.Errorf("error %q names neither the service nor the SRV name", err)
		}
	})
	t.Run("endpoint pairs", func(t *testing.T) {
		pairs, err := env.GetEndpointPairs(testCtx(t), host(t, "srv.test."), "app", networking.SortNone)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range pairs {
			got = append(got, p.String())
		}
		if want := []string{"*:* -> 192.0.2.1:" + port, "*:* -> 127.0.0.1:" + port}; !slices.Equal(got, want) {
			t.Errorf("pairs %q, want %q", got, want)
		}
	})
	t.Run("datagram", func(t *testing.T) {
		d := env.NewDatagramSocket()
		defer d.Close()
		msgs := dgCollect(d)
		if err := d.Connect(testCtx(t), host(t, "srv.test."), "app"); err != nil {
			t.Fatalf("Connect(srv.test., app): %v", err)
		}
		if _, err := d.OutputStream().Write(testCtx(t), []byte("by SRV")); err != nil {
			t.Fatal(err)
		}
		if m := dgRecv(t, msgs); m.data != "by SRV" || m.remotePort != udpPort {
			t.Fatalf("got %q from port %s, want the echo from %s", m.data, m.remotePort, udpPort)
		}
	})
}
