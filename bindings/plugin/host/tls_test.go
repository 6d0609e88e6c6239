package host_test

import (
	"crypto/x509"
	"fmt"
	"net"
	"strconv"
	"strings"
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
	wantChecks(t, rec, 29)
}

// TestPluginTLSListener: a plugin's listener bound at Tls12 with a
// certificate it loads serves `openssl s_client`, which verifies the
// certificate against its CA and gets its bytes echoed; a listener with
// no certificate fails naming it.
func TestPluginTLSListener(t *testing.T) {
	ca := testpeer.NewCA(t, "netrun plugin test CA")
	leaf := ca.Issue(t, testpeer.LeafOptions{})
	r, rec := newRunner(t, pluginhost.Options{})
	startPlugin(t, r, "tlsserve", isolation.Capabilities(isolation.Loopback), bins.tls, "serve", leaf.ChainFile, leaf.KeyFile)
	if a := rec.logged("no certificate", nil); !strings.Contains(fmt.Sprint(a["err"]), "ServerCertificate") {
		t.Errorf("a TLS bind without a certificate: %v, want an error naming ServerCertificate", a["err"])
	}
	port := rec.logged("listening", nil)["port"]
	c := testpeer.StartTLSClient(t, testpeer.TLSClientOptions{Addr: fmt.Sprintf("127.0.0.1:%v", port),
		ServerName: "localhost", CAFile: ca.CertFile, Version: "tls1_2"})
	c.WaitOutput(t, "Verification: OK")
	c.Write(t, "hello from openssl\n")
	c.WaitOutput(t, "hello from openssl")
	if !strings.Contains(c.Output(), "Protocol version: TLSv1.2") {
		t.Errorf("s_client says\n%s\nwant TLSv1.2", c.Output())
	}
	c.Close()
}

// TestPluginClientCertificate runs tlsplugin clientcert against `openssl
// s_server -Verify 1`, which demands a client certificate from its CA:
// StreamSocketControl.SetClientCertificate makes a TLS 1.2 and a TLS 1.3
// exchange work, which fails without it; a WebSocket's certificate gets
// through the TLS handshake (the server speaks no HTTP, so the upgrade
// then fails), and without it the handshake itself fails.
func TestPluginClientCertificate(t *testing.T) {
	ca := testpeer.NewCA(t, "netrun plugin test CA")
	srv := testpeer.StartTLSServer(t, testpeer.TLSServerOptions{Leaf: ca.Issue(t, testpeer.LeafOptions{}), RequireClientCertFrom: ca})
	client := ca.Issue(t, testpeer.LeafOptions{CommonName: "plugin client", DNSNames: []string{}, IPs: []net.IP{},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	r, rec := newRunner(t, pluginhost.Options{})
	startPluginEnv(t, r, "tls", &sockets.Env{Guard: isolation.Capabilities(isolation.Loopback), RootCAs: ca.Pool},
		bins.tls, "clientcert", strconv.Itoa(srv.Port), client.ChainFile, client.KeyFile)
	wantChecks(t, rec, 6)
	with := rec.logged("wss", func(a map[string]any) bool { return a["with"] == true })
	without := rec.logged("wss", func(a map[string]any) bool { return a["with"] == false })
	// crypto/tls names the alert; net/http the reversed request line
	// s_server -rev sent back once the handshake was through.
	if e := fmt.Sprint(with["err"]); strings.Contains(e, "certificate required") || !strings.Contains(e, "malformed HTTP") {
		t.Errorf("wss with the certificate failed with %q; want the handshake through and the HTTP upgrade failing", e)
	}
	if e := fmt.Sprint(without["err"]); !strings.Contains(e, "certificate required") {
		t.Errorf("wss without the certificate failed with %q; want the server's certificate_required alert", e)
	}
}
