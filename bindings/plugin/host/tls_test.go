package host_test

import (
	"strconv"
	"testing"

	pluginhost "github.com/netrun/netrun/bindings/plugin/host"
	"github.com/netrun/netrun/internal/testpeer"
	"github.com/netrun/netrun/runtime/isolation"
	"github.com/netrun/netrun/runtime/sockets"
)

// TestPluginTLS runs tlsplugin against two `openssl s_server`s, one
// whose certificate chains to the root the plugin's Env trusts and one
// whose CA it does not know: STARTTLS with UpgradeToSsl (after a read,
// whose read-ahead must stop first) exchanges a line; the untrusted one
// fails with CertificateUntrustedRoot, reports [Untrusted] as Ignorable
// and closes the connection, and is accepted once
// IgnorableServerCertificateErrors lists Untrusted; bad arguments are
// E_INVALIDARG or E_ILLEGAL_METHOD_CALL naming them.
func TestPluginTLS(t *testing.T) {
	ca := testpeer.NewCA(t, "netrun plugin test CA")
	other := testpeer.NewCA(t, "a CA nobody trusts")
	good := testpeer.StartTLSServer(t, testpeer.TLSServerOptions{Leaf: ca.Issue(t, testpeer.LeafOptions{})})
	bad := testpeer.StartTLSServer(t, testpeer.TLSServerOptions{Leaf: other.Issue(t, testpeer.LeafOptions{})})
	r, rec := newRunner(t, pluginhost.Options{})
	startPluginEnv(t, r, "tls", &sockets.Env{Guard: isolation.Capabilities(isolation.Loopback), RootCAs: ca.Pool},
		bins.tls, strconv.Itoa(good.Port), strconv.Itoa(bad.Port))
	wantChecks(t, rec, 18)
}
