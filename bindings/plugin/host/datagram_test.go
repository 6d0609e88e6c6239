package host_test

import (
	"testing"

	pluginhost "github.com/netrun/netrun/bindings/plugin/host"
	"github.com/netrun/netrun/internal/testpeer"
	"github.com/netrun/netrun/runtime/isolation"
)

// TestPluginDatagramConnect runs udpplugin against socat's UDP echo: a
// bound datagram socket connects (its port stays, Information names the
// remote), a stranger's datagram sent to it afterwards is dropped and
// the echo of what its OutputStream sends is the first raised; an
// unbound socket connects and is echoed too, and so does one with every
// Control option set, whose Control then cannot change; a second connect, the
// OutputStream of an unconnected socket and bad JoinMulticastGroup
// calls fail naming what was wrong.
func TestPluginDatagramConnect(t *testing.T) {
	echo := testpeer.UDPEchoServer(t, "udp4", "127.0.0.1")
	r, rec := newRunner(t, pluginhost.Options{})
	startPlugin(t, r, "udp", isolation.Capabilities(isolation.Loopback), bins.udp, echo)
	wantChecks(t, rec, 21)
}
