package testpeer_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/netrun/netrun/internal/testpeer"
)

// ioTimeout bounds every read and write a test does on its own
// connections.
const ioTimeout = 10 * time.Second

func TestStartTLSServer(t *testing.T) {
	t.Parallel()
	ca := testpeer.NewCA(t, "root")
	leaf := ca.Issue(t, testpeer.LeafOptions{})

	tests := []struct {
		name     string
		version  string
		addr     string
		tlsMin   uint16
		tlsMax   uint16
		wantLine string
	}{
		{name: "default", wantLine: "Protocol version: TLSv1.3"},
		{name: "tls1_2", version: "tls1_2", wantLine: "Protocol version: TLSv1.2"},
		{name: "tls1_3", version: "tls1_3", wantLine: "Protocol version: TLSv1.3"},
		{name: "tls1_2 offered 1.3", version: "tls1_2", tlsMax: tls.VersionTLS13, wantLine: "Protocol version: TLSv1.2"},
		{name: "ipv6", version: "tls1_3", addr: "::1", wantLine: "Protocol version: TLSv1.3"},
		{name: "tls1_1", version: "tls1_1", tlsMin: tls.VersionTLS10, wantLine: "Protocol version: TLSv1.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := testpeer.StartTLSServer(t, testpeer.TLSServerOptions{Leaf: leaf, Version: tt.version, Addr: tt.addr})
			conn := dialTLS(t, srv.Addr, &tls.Config{RootCAs: ca.Pool, ServerName: "localhost", MinVersion: tt.tlsMin, MaxVersion: tt.tlsMax})
			roundTrip(t, conn, "hello\n", "olleh\n")
			roundTrip(t, conn, "second line\n", "enil dnoces\n")
			srv.WaitOutput(t, tt.wantLine)
			srv.WaitOutput(t, "No peer certificate")
			conn.Close()
			srv.WaitOutput(t, "CONNECTION CLOSED")
		})
	}
}

func TestStartTLSServerServesAgain(t *testing.T) {
	t.Parallel()
	ca := testpeer.NewCA(t, "root")
	srv := testpeer.StartTLSServer(t, testpeer.TLSServerOptions{Leaf: ca.Issue(t, testpeer.LeafOptions{})})
	for range 2 {
		conn := dialTLS(t, srv.Addr, &tls.Config{RootCAs: ca.Pool, ServerName: "localhost"})
		roundTrip(t, conn, "abc\n", "cba\n")
		conn.Close()
	}
}

func TestStartTLSServerChain(t *testing.T) {
	t.Parallel()
	root := testpeer.NewCA(t, "root")
	inter := root.NewIntermediate(t, "intermediate")
	leaf := inter.Issue(t, testpeer.LeafOptions{})

	for _, chain := range []bool{true, false} {
		srv := testpeer.StartTLSServer(t, testpeer.TLSServerOptions{Leaf: leaf, Chain: chain})
		conn := dialTLS(t, srv.Addr, &tls.Config{InsecureSkipVerify: true})
		got := conn.ConnectionState().PeerCertificates
		want := 1
		if chain {
			want = 2
		}
		if len(got) != want {
			t.Fatalf("Chain=%v: server sent %d certificates, want %d", chain, len(got), want)
		}
		if chain && !got[1].Equal(inter.Cert) {
			t.Fatalf("second certificate sent is %q, want the intermediate", got[1].Subject)
		}
		roundTrip(t, conn, "x\n", "x\n")
		conn.Close()
	}
}

func TestStartTLSServerClientCert(t *testing.T) {
	t.Parallel()
	ca := testpeer.NewCA(t, "root")
	clientCA := testpeer.NewCA(t, "clients")
	client := clientCA.Issue(t, testpeer.LeafOptions{CommonName: "alice", ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	stranger := ca.Issue(t, testpeer.LeafOptions{CommonName: "mallory", ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	srv := testpeer.StartTLSServer(t, testpeer.TLSServerOptions{
		Leaf:                  ca.Issue(t, testpeer.LeafOptions{}),
		RequireClientCertFrom: clientCA,
		Version:               "tls1_3",
	})

	t.Run("valid", func(t *testing.T) {
		conn := dialTLS(t, srv.Addr, &tls.Config{RootCAs: ca.Pool, ServerName: "localhost", Certificates: []tls.Certificate{client.TLS}})
		roundTrip(t, conn, "ping\n", "gnip\n")
		srv.WaitOutput(t, "CN = alice")
		conn.Close()
	})
	for _, tc := range []struct {
		name       string
		cert       *tls.Certificate
		serverSays string
	}{
		{"missing", nil, "peer did not return a certificate"},
		{"wrong CA", &stranger.TLS, "verify error:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := dialTLS(t, srv.Addr, &tls.Config{
				RootCAs: ca.Pool, ServerName: "localhost",
				// Go sends no certificate the server's CA list does
				// not name; force this one.
				GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
					if tc.cert == nil {
						return &tls.Certificate{}, nil
					}
					return tc.cert, nil
				},
			})
			// In TLS 1.3 the client finishes its handshake before the
			// server checks its certificate: the alert comes on read.
			_, _ = conn.Write([]byte("ping\n"))
			_, err := io.ReadAll(conn)
			if err == nil || !strings.Contains(err.Error(), "remote error: tls:") {
				t.Fatalf("read = %v, want a TLS alert from the server", err)
			}
			conn.Close()
			srv.WaitOutput(t, tc.serverSays)
		})
	}
}

func TestStartTLSClient(t *testing.T) {
	t.Parallel()
	ca := testpeer.NewCA(t, "root")
	leaf := ca.Issue(t, testpeer.LeafOptions{})
	clientCA := testpeer.NewCA(t, "clients")
	clientLeaf := clientCA.Issue(t, testpeer.LeafOptions{CommonName: "bob", ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})

	tests := []struct {
		name    string
		version string
		network string
		host    string
		want    uint16
		cert    *testpeer.Leaf
	}{
		{name: "tls1_3", version: "tls1_3", network: "tcp4", host: "127.0.0.1", want: tls.VersionTLS13},
		{name: "tls1_2", version: "tls1_2", network: "tcp4", host: "127.0.0.1", want: tls.VersionTLS12},
		{name: "ipv6", network: "tcp6", host: "::1", want: tls.VersionTLS13},
		{name: "client cert", network: "tcp4", host: "127.0.0.1", want: tls.VersionTLS13, cert: clientLeaf},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := &tls.Config{Certificates: []tls.Certificate{leaf.TLS}}
			if tt.cert != nil {
				cfg.ClientAuth = tls.RequireAndVerifyClientCert
				cfg.ClientCAs = clientCA.Pool
			}
			ln, err := tls.Listen(tt.network, net.JoinHostPort(tt.host, "0"), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			type result struct {
				state tls.ConnectionState
				line  string
				err   error
			}
			done := make(chan result, 1)
			go func() {
				var r result
				defer func() { done <- r }()
				c, err := ln.Accept()
				if err != nil {
					r.err = err
					return
				}
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(ioTimeout))
				r.line, r.err = bufio.NewReader(c).ReadString('\n')
				r.state = c.(*tls.Conn).ConnectionState()
				if r.err == nil {
					_, r.err = io.WriteString(c, "got "+r.line)
				}
			}()

			cl := testpeer.StartTLSClient(t, testpeer.TLSClientOptions{
				Addr: ln.Addr().String(), ServerName: "localhost", CAFile: ca.CertFile,
				Version: tt.version, Cert: tt.cert,
			})
			cl.WaitOutput(t, "CONNECTION ESTABLISHED")
			cl.WaitOutput(t, "Verification: OK")
			cl.Write(t, "Quit now\n")
			cl.WaitOutput(t, "got Quit now\n")
			r := <-done
			if r.err != nil {
				t.Fatalf("server: %v\n%s", r.err, cl.Output())
			}
			if r.state.Version != tt.want {
				t.Errorf("negotiated %s, want %s", tls.VersionName(r.state.Version), tls.VersionName(tt.want))
			}
			if tt.cert != nil && (len(r.state.PeerCertificates) == 0 || r.state.PeerCertificates[0].Subject.CommonName != "bob") {
				t.Errorf("server did not get the client certificate")
			}
			if got := cl.Stdout(); got != "got Quit now\n" {
				t.Errorf("client stdout = %q, want only the data the server sent", got)
			}
			cl.Close()
		})
	}
}

func TestStartTLSClientVerifyFails(t *testing.T) {
	t.Parallel()
	ca := testpeer.NewCA(t, "root")
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{testpeer.SelfSigned(t, testpeer.LeafOptions{}).TLS}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		_ = c.SetDeadline(time.Now().Add(ioTimeout))
		_ = c.(*tls.Conn).Handshake()
		c.Close()
	}()
	cl := testpeer.StartTLSClient(t, testpeer.TLSClientOptions{Addr: ln.Addr().String(), ServerName: "localhost", CAFile: ca.CertFile})
	if err := cl.Wait(); err == nil {
		t.Fatalf("s_client exited 0 against an untrusted server:\n%s", cl.Output())
	}
	if !strings.Contains(cl.Output(), "self-signed certificate") {
		t.Errorf("output does not name the verification error:\n%s", cl.Output())
	}
	<-accepted
}

// dialTLS dials addr with cfg, failing t on error, and closes the
// connection when the test ends.
func dialTLS(t *testing.T, addr string, cfg *tls.Config) *tls.Conn {
	t.Helper()
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: ioTimeout}, Config: cfg}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		t.Fatal(err)
	}
	return c.(*tls.Conn)
}

// roundTrip writes send on c and reads back exactly len(want) bytes,
// which must equal want.
func roundTrip(t *testing.T, c net.Conn, send, want string) {
	t.Helper()
	if _, err := io.WriteString(c, send); err != nil {
		t.Fatalf("write: %v", err)
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read: %v (got %q)", err, got)
	}
	if string(got) != want {
		t.Fatalf("sent %q, got %q, want %q", send, got, want)
	}
}
