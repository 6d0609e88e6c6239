package lua_test

import (
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/netrun/netrun/internal/testpeer"
)

// pemModule is a Lua module returning a leaf's certificate and key PEM
// as strings, the way a script gets PEM text without io.
func pemModule(t *testing.T, leaf *testpeer.Leaf) string {
	t.Helper()
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	return fmt.Sprintf("return { cert = [==[%s]==], key = [==[%s]==] }\n", read(leaf.CertFile), read(leaf.KeyFile))
}

// TestLuaClientCertificate connects a Lua StreamSocket with TLS to
// `openssl s_server -Verify 1`, which requires a client certificate
// issued by the test CA: with Control.ClientCertificate set, the exchange
// succeeds and the server names the client's subject; without it, the
// handshake fails (in ConnectAsync for TLS 1.2, on the first read for TLS
// 1.3, where the server refuses after the client's Finished).
func TestLuaClientCertificate(t *testing.T) {
	ca := testpeer.NewCA(t, "netrun Lua CA")
	srv := testpeer.StartTLSServer(t, testpeer.TLSServerOptions{Leaf: ca.Issue(t, testpeer.LeafOptions{}), RequireClientCertFrom: ca})
	client := ca.Issue(t, testpeer.LeafOptions{CommonName: "lua client", DNSNames: []string{}, IPs: []net.IP{},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	other := ca.Issue(t, testpeer.LeafOptions{CommonName: "other"})
	env := loopbackEnv(t)
	env.RootCAs = ca.Pool
	h := newHarness(t, 0)
	h.write(t, "client_pem.lua", pemModule(t, client))
	h.write(t, "other_pem.lua", pemModule(t, other))
	host, port, _ := strings.Cut(srv.Addr, ":")
	h.start(t, "clientcert.lua", `
local net = require("netrun")
local pem = require("client_pem")
local other = require("other_pem")
local HOST, PORT = "`+host+`", "`+port+`"

local cert = net.Certificate.FromPem(pem.cert, pem.key)
print("cert", cert.FriendlyName, cert.Subject, cert.Issuer, cert.SerialNumber, cert.Thumbprint,
	cert.ValidFrom < cert.ValidTo, cert.HasPrivateKey, #cert.DnsNames, tostring(cert))

local function exchange(level, withCert)
	local s = net.StreamSocket.new()
	if withCert then s.Control.ClientCertificate = cert end
	local ok, err = pcall(function()
		s:ConnectAsync(HOST, PORT, level):await()
		s.OutputStream:WriteAsync("hello\n"):await()
		local got = ""
		while not got:find("\n") do
			local part = s.InputStream:ReadAsync(64, net.InputStreamOptions.Partial):await()
			if part == "" then error("end of stream before the answer") end
			got = got .. part
		end
		return got
	end)
	local result
	if ok then
		result = "ok " .. err:gsub("\n", "")
		-- Connected: the certificate can no longer change.
		local setOk, setErr = pcall(function() s.Control.ClientCertificate = nil end)
		result = result .. " reset=" .. (setOk and "allowed" or tostring(setErr))
	else
		result = "failed " .. tostring(err)
	end
	s:Close()
	return result
end

print("tls12 with", exchange(net.SocketProtectionLevel.Tls12, true))
print("tls12 without", exchange(net.SocketProtectionLevel.Tls12, false))
print("tls13 with", exchange(net.SocketProtectionLevel.Unspecified, true))
print("tls13 without", exchange(net.SocketProtectionLevel.Unspecified, false))

-- The getters: nil, then an object equal to the one set, on all three
-- Controls; nil clears it.
for _, obj in ipairs({ net.StreamSocket.new(), net.MessageWebSocket.new(), net.StreamWebSocket.new() }) do
	local c = obj.Control
	local before = c.ClientCertificate
	c.ClientCertificate = cert
	local same = c.ClientCertificate == cert and c.ClientCertificate.Subject == cert.Subject
	c.ClientCertificate = nil
	print("prop", tostring(before), same, tostring(c.ClientCertificate))
	obj:Close()
end

local function raises(f)
	local ok, err = pcall(f)
	if ok then return "no error" end
	return tostring(err)
end
print("bad type", raises(function() net.StreamSocket.new().Control.ClientCertificate = "pem" end))
print("bad ws type", raises(function() net.MessageWebSocket.new().Control.ClientCertificate = {} end))
print("not pem", raises(function() net.Certificate.FromPem("hello", pem.key) end))
print("no key", raises(function() net.Certificate.FromPem(pem.cert, "hello") end))
print("swapped", raises(function() net.Certificate.FromPem(pem.key, pem.cert) end))
print("mismatch", raises(function() net.Certificate.FromPem(pem.cert, other.key) end))
print("number", raises(function() net.Certificate.FromPem(1, pem.key) end))
print("read-only", raises(function() cert.Subject = "x" end))
print("finished")
`, 1, env)
	out := h.out.wait(t, "finished")
	serial := hex.EncodeToString(client.Cert.SerialNumber.Bytes())
	for _, want := range []string{
		"cert\tlua client\tCN=lua client,O=netrun testpeer\tCN=netrun Lua CA,O=netrun testpeer\t" + serial + "\t",
		"\ttrue\ttrue\t0\tCertificate: CN=lua client,O=netrun testpeer\n",
		"tls12 with\tok olleh reset=IllegalMethodCall (0x8000000E): StreamSocketControl.ClientCertificate: ",
		"cannot be changed once the socket has connected\n",
		"tls12 without\tfailed Unknown (0x80004005): StreamSocket.ConnectEndpointPair (TLS handshake) " + host + ": ",
		"the server asked for a client certificate and Control.ClientCertificate is not set: remote error: tls: handshake failure\n",
		"tls13 with\tok olleh reset=IllegalMethodCall",
		"tls13 without\tfailed Unknown (0x80004005): StreamSocket.InputStream.ReadBuffer " + srv.Addr + ": ",
		"remote error: tls: certificate required\n",
		"prop\tnil\ttrue\tnil\n",
		"bad type\tInvalidArgument (0x80070057): StreamSocketControl.ClientCertificate: argument #1 (value): Certificate or nil expected, got string\n",
		"bad ws type\tInvalidArgument (0x80070057): MessageWebSocketControl.ClientCertificate: argument #1 (value): Certificate or nil expected, got table\n",
		"not pem\tInvalidArgument (0x80070057): Certificate.FromPem: argument #1 (certificatePem): no PEM CERTIFICATE block found\n",
		"no key\tInvalidArgument (0x80070057): Certificate.FromPem: argument #2 (privateKeyPem): no PEM PRIVATE KEY block found\n",
		"swapped\tInvalidArgument (0x80070057): Certificate.FromPem: argument #1 (certificatePem): holds a private key",
		"mismatch\tInvalidArgument (0x80070057): Certificate.FromPem: argument #2 (privateKeyPem): private key does not match public key\n",
		"number\tInvalidArgument (0x80070057): Certificate.FromPem: argument #1 (certificatePem): string expected, got number\n",
		"read-only\tIllegalMethodCall (0x8000000E): Certificate.Subject: the property is read-only\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "prop\tnil\ttrue\tnil\n") != 3 {
		t.Errorf("want the property on three Controls:\n%s", out)
	}
	// The server saw the client's certificate on the connections that
	// offered it, and refused the others for want of one.
	srv.WaitOutput(t, "lua client")
	srv.WaitOutput(t, "peer did not return a certificate")
}
