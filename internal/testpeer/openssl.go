package testpeer

import (
	"encoding/pem"
	"errors"
	"net"
	"os/exec"
	"strconv"
	"testing"
)

// TLSServerOptions configures `openssl s_server`.
type TLSServerOptions struct {
	// Leaf is the server certificate and key; required.
	Leaf *Leaf
	// Chain makes the server send the chain of Leaf.ChainFile, so the
	// client receives the issuing CAs; otherwise only the leaf.
	Chain bool
	// Version pins the protocol: "" (OpenSSL's default range), "tls1",
	// "tls1_1", "tls1_2" or "tls1_3". "tls1" and "tls1_1" also lower the
	// security level to 0, which OpenSSL 3 needs to allow them.
	Version string
	// RequireClientCertFrom, if set, makes the server demand a client
	// certificate issued by this CA (-Verify 1 -verify_return_error):
	// handshakes without a valid one fail.
	RequireClientCertFrom *CA
	// Addr is the IP to listen on: "" means 127.0.0.1; may be "::1".
	Addr string
}

// TLSServer is a running `openssl s_server -rev`.
//
// In -rev mode the server answers every line the client sends with the
// same line reversed, ended by "\n": "hello\n" comes back as "olleh\n",
// "ab\r\n" as "ba\n". It answers only whole lines, so data without a
// final "\n" gets no answer until the newline arrives.
//
// It serves one connection at a time: a second client's TCP connect
// succeeds but its handshake waits until the first connection closes.
// Never send the line "CLOSE": s_server then closes the connection and
// serves no other.
//
// For each connection it prints (Output) "CONNECTION ESTABLISHED", then
// "Protocol version: TLSv1.3" (or TLSv1.2, ...), "Ciphersuite: NAME", the
// client certificate's subject or "No peer certificate", and at the end
// "CONNECTION CLOSED". A failed handshake prints OpenSSL's error lines
// (for a missing client certificate, "peer did not return a
// certificate").
type TLSServer struct {
	Port int
	Addr string // host:port, ready for a dial

	p *proc
}

// StartTLSServer runs `openssl s_server` as opts describes and returns once
// it accepts connections. The server is killed when the test ends.
func StartTLSServer(tb testing.TB, opts TLSServerOptions) *TLSServer {
	tb.Helper()
	openssl := tool(tb, "openssl", "openssl")
	if opts.Leaf == nil {
		tb.Fatal("testpeer: StartTLSServer: TLSServerOptions.Leaf is required")
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1"
	}
	host := checkHost(tb, opts.Addr)
	versionArgs := opensslVersionArgs(tb, opts.Version)

	var err error
	for range startAttempts {
		var port int
		port, err = freePort(host, true, false)
		if err != nil {
			break
		}
		addr := net.JoinHostPort(host.String(), strconv.Itoa(port))
		args := []string{"s_server", "-accept", addr, "-rev",
			"-cert", opts.Leaf.CertFile, "-key", opts.Leaf.KeyFile}
		if opts.Chain {
			args = append(args, issuersArgs(tb, opts.Leaf)...)
		}
		if ca := opts.RequireClientCertFrom; ca != nil {
			args = append(args, "-Verify", "1", "-CAfile", ca.CertFile, "-verify_return_error")
		}
		args = append(args, versionArgs...)

		var p *proc
		p, err = startProc("openssl s_server", exec.Command(openssl, args...))
		if err != nil {
			break
		}
		tb.Cleanup(p.kill)
		// s_server prints ACCEPT once its socket listens.
		err = p.awaitOutput("ACCEPT")
		if err == nil {
			return &TLSServer{Port: port, Addr: addr, p: p}
		}
		p.kill()
		if !errors.Is(err, errExited) || !inUse(p.all.String()) {
			break
		}
	}
	tb.Fatalf("testpeer: start openssl s_server: %v", err)
	return nil
}

// opensslVersionArgs returns the s_server/s_client flags that pin version.
func opensslVersionArgs(tb testing.TB, version string) []string {
	tb.Helper()
	switch version {
	case "":
		return nil
	case "tls1_2", "tls1_3":
		return []string{"-" + version}
	case "tls1", "tls1_1":
		// OpenSSL 3 refuses TLS 1.0/1.1 at the default security level 1.
		return []string{"-" + version, "-cipher", "DEFAULT@SECLEVEL=0"}
	default:
		tb.Fatalf("testpeer: unknown TLS version %q (want \"\", tls1, tls1_1, tls1_2 or tls1_3)", version)
		return nil
	}
}

// issuersArgs returns -cert_chain with a PEM file of the certificates
// that follow the leaf in its chain, or nothing for a self-signed leaf.
// OpenSSL sends every certificate of that file, so passing ChainFile
// would send the leaf twice.
func issuersArgs(tb testing.TB, leaf *Leaf) []string {
	tb.Helper()
	if len(leaf.TLS.Certificate) < 2 {
		return nil
	}
	var data []byte
	for _, der := range leaf.TLS.Certificate[1:] {
		data = append(data, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	return []string{"-cert_chain", writePEM(tb, tb.TempDir(), "issuers.crt", data)}
}

// Output returns everything the server printed so far, stdout and stderr
// interleaved.
func (s *TLSServer) Output() string { return s.p.all.String() }

// WaitOutput waits until Output contains substr, failing tb with the
// output if the server exits or WaitTimeout passes first.
func (s *TLSServer) WaitOutput(tb testing.TB, substr string) {
	tb.Helper()
	s.p.waitOutput(tb, substr)
}

// Close kills the server. The test's cleanup does it too; call Close to
// test what a client sees when its peer disappears.
func (s *TLSServer) Close() { s.p.kill() }

// TLSClientOptions configures `openssl s_client`.
type TLSClientOptions struct {
	// Addr is the server's host:port; the host must be a loopback IP or
	// "localhost".
	Addr string
	// ServerName is sent as SNI and, with CAFile, checked against the
	// server certificate (-verify_hostname). "" lets s_client send the
	// host of Addr when it is a name.
	ServerName string
	// CAFile, if set, makes the client verify the server against it and
	// abort the handshake when verification fails
	// (-verify_return_error). If empty the client does not verify.
	CAFile string
	// Version pins the protocol, as TLSServerOptions.Version.
	Version string
	// Cert, if set, is sent as the client certificate with its chain.
	Cert *Leaf
}

// TLSClient is a running `openssl s_client -brief`.
//
// What is written with Write is sent to the server once the handshake is
// done; what the server sends appears on the client's stdout (Stdout).
// The client's stderr carries the handshake summary: it prints
// "CONNECTION ESTABLISHED", "Protocol version: TLSv1.3" and
// "Verification: OK" (or the verification error), and "DONE" when its
// stdin closes. Output returns stdout and stderr together.
//
// Lines starting with "Q" or "R" are plain data: the client's command
// letters are off (-nocommands).
type TLSClient struct {
	p *proc
}

// StartTLSClient runs `openssl s_client` against opts.Addr and returns at
// once, without waiting for the handshake; wait for
// "CONNECTION ESTABLISHED" with WaitOutput to know it completed. The
// client is killed when the test ends if Close was not called.
func StartTLSClient(tb testing.TB, opts TLSClientOptions) *TLSClient {
	tb.Helper()
	openssl := tool(tb, "openssl", "openssl")
	checkHostPort(tb, opts.Addr)
	// -brief prints the summary to stderr and keeps stdout for data;
	// -no_ign_eof makes EOF on stdin close the connection.
	args := []string{"s_client", "-connect", opts.Addr, "-brief", "-no_ign_eof", "-nocommands"}
	if opts.ServerName != "" {
		args = append(args, "-servername", opts.ServerName)
	}
	if opts.CAFile != "" {
		args = append(args, "-CAfile", opts.CAFile, "-verify_return_error")
		if opts.ServerName != "" {
			args = append(args, "-verify_hostname", opts.ServerName)
		}
	}
	if opts.Cert != nil {
		args = append(args, "-cert", opts.Cert.CertFile, "-key", opts.Cert.KeyFile)
		args = append(args, issuersArgs(tb, opts.Cert)...)
	}
	args = append(args, opensslVersionArgs(tb, opts.Version)...)
	p, err := startProc("openssl s_client", exec.Command(openssl, args...))
	if err != nil {
		tb.Fatalf("testpeer: %v", err)
	}
	tb.Cleanup(p.kill)
	return &TLSClient{p: p}
}

// Write sends s to the server (through the client's stdin), failing tb if
// the client has gone.
func (c *TLSClient) Write(tb testing.TB, s string) {
	tb.Helper()
	c.p.write(tb, s)
}

// WaitOutput waits until Output contains substr, failing tb with the
// output if the client exits or WaitTimeout passes first.
func (c *TLSClient) WaitOutput(tb testing.TB, substr string) {
	tb.Helper()
	c.p.waitOutput(tb, substr)
}

// Output returns everything the client printed so far, stdout and stderr
// interleaved: the handshake summary and the data received.
func (c *TLSClient) Output() string { return c.p.all.String() }

// Stdout returns only what the client printed on stdout: the data the
// server sent, byte for byte.
func (c *TLSClient) Stdout() string { return c.p.stdout.String() }

// Wait waits up to WaitTimeout for the client to exit by itself (the
// server closed, or the handshake failed) and returns its exit status as
// an error, with its output.
func (c *TLSClient) Wait() error { return c.p.wait() }

// Close closes the client's stdin, which makes it send close_notify and
// exit, and waits for it; a client still running after WaitTimeout is
// killed.
func (c *TLSClient) Close() {
	_ = c.p.stdin.Close()
	_ = c.p.wait() // bounded; kill ends a client that did not exit
	c.p.kill()
}
