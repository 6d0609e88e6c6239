package sockets_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netrun/netrun/internal/testpeer"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
)

// revEcho sends a line through an `openssl s_server -rev` and checks it
// comes back reversed.
func revEcho(t *testing.T, s *sockets.StreamSocket) {
	t.Helper()
	write(t, s, "netrun\n")
	if got := readN(t, s, 7); got != "nurten\n" {
		t.Fatalf("s_server -rev answered %q", got)
	}
}

func TestTLSVersionsOpenSSL(t *testing.T) {
	ca := testpeer.NewCA(t, "netrun test CA")
	leaf := ca.Issue(t, testpeer.LeafOptions{})
	env := &sockets.Env{RootCAs: ca.Pool}
	for _, tc := range []struct {
		server string
		level  sockets.SocketProtectionLevel
		want   uint16
	}{
		{"", sockets.Unspecified, tls.VersionTLS13},
		{"", sockets.Tls12, tls.VersionTLS12},
		{"tls1_2", sockets.Unspecified, tls.VersionTLS12},
		{"tls1_3", sockets.Ssl, tls.VersionTLS13},
		{"tls1_1", sockets.Tls11, tls.VersionTLS11},
	} {
		t.Run(tc.server+"_"+tc.level.String(), func(t *testing.T) {
			srv := testpeer.StartTLSServer(t, testpeer.TLSServerOptions{Leaf: leaf, Version: tc.server})
			s := connect(t, env, srv.Addr, tc.level)
			cs, ok := s.Information().TLSConnectionState()
			if !ok || cs.Version != tc.want {
				t.Fatalf("negotiated %x, want %x", cs.Version, tc.want)
			}
			if s.Information().ProtectionLevel() != tc.level {
				t.Errorf("ProtectionLevel = %s", s.Information().ProtectionLevel())
			}
			if s.Information().ServerCertificateErrorSeverity() != sockets.SeverityNone {
				t.Errorf("severity = %s for a trusted chain", s.Information().ServerCertificateErrorSeverity())
			}
			if !s.Information().ServerCertificate().Equal(leaf.Cert) {
				t.Error("ServerCertificate is not the server's leaf")
			}
			revEcho(t, s)
		})
	}
}

func TestTLSIPv6AndIntermediates(t *testing.T) {
	root := testpeer.NewCA(t, "netrun root")
	mid := root.NewIntermediate(t, "netrun intermediate")
	leaf := mid.Issue(t, testpeer.LeafOptions{})
	srv := testpeer.StartTLSServer(t, testpeer.TLSServerOptions{Leaf: leaf, Chain: true, Addr: "::1"})
	s := connect(t, &sockets.Env{RootCAs: root.Pool}, srv.Addr, sockets.Unspecified)
	inter := s.Information().ServerIntermediateCertificates()
	if len(inter) == 0 || !inter[0].Equal(mid.Cert) {
		t.Fatalf("ServerIntermediateCertificates = %d certs, want the intermediate first", len(inter))
	}
	revEcho(t, s)
}

func TestMinProtectionLevel(t *testing.T) {
	ca := testpeer.NewCA(t, "netrun test CA")
	srv := testpeer.StartTLSServer(t, testpeer.TLSServerOptions{Leaf: ca.Issue(t, testpeer.LeafOptions{}), Version: "tls1_1"})
	s := (&sockets.Env{RootCAs: ca.Pool}).NewStreamSocket()
	defer s.Close()
	if err := s.Control().SetMinProtectionLevel(sockets.Tls12); err != nil {
		t.Fatal(err)
	}
	h, p := splitHostPort(t, srv.Addr)
	if err := s.Connect(testCtx(t), h, p, sockets.Ssl); err == nil {
		t.Fatal("connect to a TLS 1.1 server succeeded with MinProtectionLevel Tls12")
	}
	// Tls10 as the level cannot satisfy a Tls12 floor: a clear argument error.
	err := s.Connect(testCtx(t), h, p, sockets.Tls10)
	wantHResult(t, err, socketerror.EInvalidArg)
}

// TestCertificateErrors makes each certificate failure that crypto/x509 can
// detect, checks the status, HRESULT, error list and severity that
// Information keeps after the failure, and for ignorable ones follows
// WinRT's flow: copy the errors to IgnorableServerCertificateErrors and
// connect again on the same socket.
func TestCertificateErrors(t *testing.T) {
	ca := testpeer.NewCA(t, "netrun test CA")
	notCA := ca.Issue(t, testpeer.LeafOptions{CommonName: "not a CA"})
	for _, tc := range []struct {
		name     string
		leaf     func() *testpeer.Leaf
		status   socketerror.Status
		errors   []sockets.ChainValidationResult
		severity sockets.SocketSslErrorSeverity
	}{
		{"expired", func() *testpeer.Leaf {
			return ca.Issue(t, testpeer.LeafOptions{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
		}, socketerror.CertificateExpired, []sockets.ChainValidationResult{sockets.Expired}, sockets.SeverityIgnorable},
		{"self-signed", func() *testpeer.Leaf { return testpeer.SelfSigned(t, testpeer.LeafOptions{}) },
			socketerror.CertificateUntrustedRoot, []sockets.ChainValidationResult{sockets.Untrusted}, sockets.SeverityIgnorable},
		{"wrong-name", func() *testpeer.Leaf {
			return ca.Issue(t, testpeer.LeafOptions{DNSNames: []string{"elsewhere.test"}, IPs: []net.IP{net.ParseIP("127.0.0.9")}})
		}, socketerror.CertificateCommonNameIsIncorrect, []sockets.ChainValidationResult{sockets.InvalidName}, sockets.SeverityIgnorable},
		{"wrong-usage", func() *testpeer.Leaf {
			return ca.Issue(t, testpeer.LeafOptions{ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		}, socketerror.CertificateWrongUsage, []sockets.ChainValidationResult{sockets.WrongUsage}, sockets.SeverityIgnorable},
		{"self-signed-expired-wrong-name", func() *testpeer.Leaf {
			return testpeer.SelfSigned(t, testpeer.LeafOptions{DNSNames: []string{"elsewhere.test"}, IPs: []net.IP{net.ParseIP("127.0.0.9")},
				NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
		}, socketerror.CertificateUntrustedRoot, []sockets.ChainValidationResult{sockets.InvalidName, sockets.Expired, sockets.Untrusted}, sockets.SeverityIgnorable},
		{"issuer-not-a-CA", func() *testpeer.Leaf {
			return issueFrom(t, notCA)
		}, socketerror.CertificateIsInvalid, []sockets.ChainValidationResult{sockets.BasicConstraintsError}, sockets.SeverityFatal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leaf := tc.leaf()
			srv := testpeer.StartTLSServer(t, testpeer.TLSServerOptions{Leaf: leaf, Chain: true})
			s := (&sockets.Env{RootCAs: ca.Pool}).NewStreamSocket()
			defer s.Close()
			h, p := splitHostPort(t, srv.Addr)
			err := s.Connect(testCtx(t), h, p, sockets.Tls12)
			wantStatus(t, err, tc.status)
			info := s.Information()
			if got := info.ServerCertificateErrors(); !sameSet(got, tc.errors) {
				t.Fatalf("ServerCertificateErrors = %v, want %v", got, tc.errors)
			}
			if got := info.ServerCertificateErrorSeverity(); got != tc.severity {
				t.Fatalf("severity = %s, want %s", got, tc.severity)
			}
			if !info.ServerCertificate().Equal(leaf.Cert) {
				t.Fatal("ServerCertificate not kept after the failed handshake")
			}
			err = s.Control().SetIgnorableServerCertificateErrors(info.ServerCertificateErrors())
			if tc.severity == sockets.SeverityFatal {
				wantHResult(t, err, socketerror.EInvalidArg)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Connect(testCtx(t), h, p, sockets.Tls12); err != nil {
				t.Fatalf("second connect ignoring %v: %v", info.ServerCertificateErrors(), err)
			}
			revEcho(t, s)
		})
	}
}

// issueFrom signs a server certificate with a leaf that is not a CA.
func issueFrom(t *testing.T, issuer *testpeer.Leaf) *testpeer.Leaf {
	fake := &testpeer.CA{Cert: issuer.Cert, Key: issuer.Key}
	return fake.Issue(t, testpeer.LeafOptions{})
}

func sameSet(a, b []sockets.ChainValidationResult) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestClientCertificate(t *testing.T) {
	ca := testpeer.NewCA(t, "netrun test CA")
	srv := testpeer.StartTLSServer(t, testpeer.TLSServerOptions{Leaf: ca.Issue(t, testpeer.LeafOptions{}), RequireClientCertFrom: ca})
	client := ca.Issue(t, testpeer.LeafOptions{CommonName: "netrun client", ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	env := &sockets.Env{RootCAs: ca.Pool}

	t.Run("without", func(t *testing.T) {
		s := env.NewStreamSocket()
		defer s.Close()
		h, p := splitHostPort(t, srv.Addr)
		err := s.Connect(testCtx(t), h, p, sockets.Unspecified)
		if err == nil {
			// TLS 1.3 reports the server's refusal on the first read.
			write(t, s, "x\n")
			_, err = s.InputStream().Read(testCtx(t), make([]byte, 1), sockets.Partial)
		}
		if err == nil {
			t.Fatal("server requiring a client certificate accepted none")
		}
		srv.WaitOutput(t, "peer did not return a certificate")
	})
	t.Run("without, TLS 1.2", func(t *testing.T) {
		// A TLS 1.2 server refuses inside the handshake with a bare
		// handshake_failure alert; the error says what was missing.
		srv12 := testpeer.StartTLSServer(t, testpeer.TLSServerOptions{Leaf: ca.Issue(t, testpeer.LeafOptions{}),
			RequireClientCertFrom: ca, Version: "tls1_2"})
		s := env.NewStreamSocket()
		defer s.Close()
		h, p := splitHostPort(t, srv12.Addr)
		err := s.Connect(testCtx(t), h, p, sockets.Unspecified)
		if err == nil {
			t.Fatal("server requiring a client certificate accepted none")
		}
		if want := "the server asked for a client certificate and Control.ClientCertificate is not set"; !strings.Contains(err.Error(), want) {
			t.Errorf("Connect: %v; want it to say %q", err, want)
		}
		srv12.WaitOutput(t, "peer did not return a certificate")
	})
	t.Run("with", func(t *testing.T) {
		s := env.NewStreamSocket()
		defer s.Close()
		if err := s.Control().SetClientCertificate(&client.TLS); err != nil {
			t.Fatal(err)
		}
		h, p := splitHostPort(t, srv.Addr)
		if err := s.Connect(testCtx(t), h, p, sockets.Unspecified); err != nil {
			t.Fatal(err)
		}
		revEcho(t, s)
		srv.WaitOutput(t, "netrun client")
	})
}

// TestTLSListenerOpenSSLClient serves TLS (the netrun extension) to
// `openssl s_client`, which verifies the chain and the name.
func TestTLSListenerOpenSSLClient(t *testing.T) {
	ca := testpeer.NewCA(t, "netrun test CA")
	leaf := ca.Issue(t, testpeer.LeafOptions{})
	for _, version := range []string{"tls1_2", "tls1_3"} {
		t.Run(version, func(t *testing.T) {
			l := sockets.NewStreamSocketListener()
			defer l.Close()
			if err := l.Control().LoadServerCertificate(leaf.CertFile, leaf.KeyFile); err != nil {
				t.Fatal(err)
			}
			l.ConnectionReceived().Add(func(a *sockets.ConnectionReceivedEventArgs) {
				go func() {
					defer a.Socket.Close()
					buf := make([]byte, 256)
					n, err := a.Socket.InputStream().Read(context.Background(), buf, sockets.Partial)
					if err != nil {
						t.Error(err)
						return
					}
					a.Socket.OutputStream().Write(context.Background(), bytes.ToUpper(buf[:n]))
				}()
			})
			if err := l.BindEndpointTLS(testCtx(t), host(t, "127.0.0.1"), "", sockets.Unspecified); err != nil {
				t.Fatal(err)
			}
			c := testpeer.StartTLSClient(t, testpeer.TLSClientOptions{Addr: "127.0.0.1:" + l.Information().LocalPort(),
				ServerName: "localhost", CAFile: ca.CertFile, Version: version})
			c.WaitOutput(t, "Verification: OK")
			c.Write(t, "served over tls\n")
			c.WaitOutput(t, "SERVED OVER TLS")
			want := map[string]string{"tls1_2": "TLSv1.2", "tls1_3": "TLSv1.3"}[version]
			if !strings.Contains(c.Output(), want) {
				t.Fatalf("s_client did not report %s:\n%s", want, c.Output())
			}
		})
	}
}

// TestUpgradeToSsl runs STARTTLS against a peer that speaks a line of
// plain text and then TLS (Go's crypto/tls as the server).
func TestUpgradeToSsl(t *testing.T) {
	ca := testpeer.NewCA(t, "netrun test CA")
	leaf := ca.Issue(t, testpeer.LeafOptions{})
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		line := make([]byte, 9)
		if _, err := c.Read(line); err != nil || string(line) != "STARTTLS\n" {
			done <- err
			return
		}
		c.Write([]byte("GO\n"))
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{leaf.TLS}})
		buf := make([]byte, 6)
		n, err := tc.Read(buf)
		if err == nil {
			_, err = tc.Write(bytes.ToUpper(buf[:n]))
		}
		done <- err
	}()
	s := connect(t, &sockets.Env{RootCAs: ca.Pool}, ln.Addr().String(), sockets.PlainSocket)
	write(t, s, "STARTTLS\n")
	if got := readN(t, s, 3); got != "GO\n" {
		t.Fatalf("got %q", got)
	}
	if err := s.UpgradeToSsl(testCtx(t), sockets.Tls12, host(t, "localhost")); err != nil {
		t.Fatal(err)
	}
	if s.Information().ProtectionLevel() != sockets.Tls12 {
		t.Errorf("ProtectionLevel after upgrade = %s", s.Information().ProtectionLevel())
	}
	write(t, s, "secret")
	if got := readN(t, s, 6); got != "SECRET" {
		t.Fatalf("got %q", got)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	err = s.UpgradeToSsl(testCtx(t), sockets.Tls12, host(t, "localhost"))
	wantHResult(t, err, socketerror.EIllegalMethodCall)
}
