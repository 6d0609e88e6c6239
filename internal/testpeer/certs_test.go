package testpeer_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/netrun/netrun/internal/testpeer"
)

func TestIssueVerifies(t *testing.T) {
	t.Parallel()
	ca := testpeer.NewCA(t, "root")
	leaf := ca.Issue(t, testpeer.LeafOptions{})

	for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
		if _, err := leaf.Cert.Verify(x509.VerifyOptions{DNSName: name, Roots: ca.Pool}); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	if got := leaf.Cert.ExtKeyUsage; len(got) != 1 || got[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("ExtKeyUsage = %v, want [ServerAuth]", got)
	}
	if leaf.Cert.Subject.CommonName != "localhost" {
		t.Errorf("CommonName = %q, want localhost", leaf.Cert.Subject.CommonName)
	}
	if _, err := tls.LoadX509KeyPair(leaf.CertFile, leaf.KeyFile); err != nil {
		t.Errorf("LoadX509KeyPair(CertFile, KeyFile): %v", err)
	}
	if got := pemCerts(t, leaf.ChainFile); len(got) != 2 || !got[0].Equal(leaf.Cert) || !got[1].Equal(ca.Cert) {
		t.Errorf("ChainFile holds %d certificates, want leaf then root", len(got))
	}
	if got := pemCerts(t, ca.CertFile); len(got) != 1 || !got[0].Equal(ca.Cert) {
		t.Errorf("CA CertFile does not hold the CA certificate")
	}
	if len(leaf.TLS.Certificate) != 2 || leaf.TLS.Leaf != leaf.Cert {
		t.Errorf("TLS has %d certificates and Leaf %v, want the chain and the leaf", len(leaf.TLS.Certificate), leaf.TLS.Leaf)
	}
}

func TestIssueOptions(t *testing.T) {
	t.Parallel()
	ca := testpeer.NewCA(t, "root")
	other := testpeer.NewCA(t, "other")
	past := time.Now().Add(-48 * time.Hour)

	tests := []struct {
		name    string
		leaf    *testpeer.Leaf
		opts    x509.VerifyOptions
		wantErr any // pointer to the error type Verify returns, or nil
	}{
		{
			name: "dns name",
			leaf: ca.Issue(t, testpeer.LeafOptions{DNSNames: []string{"a.test"}, IPs: []net.IP{}}),
			opts: x509.VerifyOptions{DNSName: "a.test", Roots: ca.Pool},
		},
		{
			name:    "wrong name",
			leaf:    ca.Issue(t, testpeer.LeafOptions{DNSNames: []string{"a.test"}}),
			opts:    x509.VerifyOptions{DNSName: "b.test", Roots: ca.Pool},
			wantErr: new(x509.HostnameError),
		},
		{
			name:    "expired",
			leaf:    ca.Issue(t, testpeer.LeafOptions{NotBefore: past, NotAfter: past.Add(time.Hour)}),
			opts:    x509.VerifyOptions{DNSName: "localhost", Roots: ca.Pool},
			wantErr: new(x509.CertificateInvalidError),
		},
		{
			name:    "client usage",
			leaf:    ca.Issue(t, testpeer.LeafOptions{ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}),
			opts:    x509.VerifyOptions{DNSName: "localhost", Roots: ca.Pool},
			wantErr: new(x509.CertificateInvalidError),
		},
		{
			name:    "unknown authority",
			leaf:    other.Issue(t, testpeer.LeafOptions{}),
			opts:    x509.VerifyOptions{DNSName: "localhost", Roots: ca.Pool},
			wantErr: new(x509.UnknownAuthorityError),
		},
		{
			name:    "self-signed",
			leaf:    testpeer.SelfSigned(t, testpeer.LeafOptions{}),
			opts:    x509.VerifyOptions{DNSName: "localhost", Roots: ca.Pool},
			wantErr: new(x509.UnknownAuthorityError),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.leaf.Cert.Verify(tt.opts)
			switch want := tt.wantErr.(type) {
			case nil:
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
			case *x509.HostnameError:
				if !errors.As(err, want) {
					t.Fatalf("Verify = %v, want a HostnameError", err)
				}
			case *x509.CertificateInvalidError:
				if !errors.As(err, want) {
					t.Fatalf("Verify = %v, want a CertificateInvalidError", err)
				}
			case *x509.UnknownAuthorityError:
				if !errors.As(err, want) {
					t.Fatalf("Verify = %v, want an UnknownAuthorityError", err)
				}
			}
		})
	}
}

func TestSelfSignedAndCALeaf(t *testing.T) {
	t.Parallel()
	ss := testpeer.SelfSigned(t, testpeer.LeafOptions{CommonName: "me", IsCA: true})
	pool := x509.NewCertPool()
	pool.AddCert(ss.Cert)
	if _, err := ss.Cert.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: pool}); err != nil {
		t.Fatalf("self-signed leaf does not verify against itself: %v", err)
	}
	if !ss.Cert.IsCA || ss.Cert.Subject.CommonName != "me" {
		t.Errorf("IsCA = %v, CommonName = %q", ss.Cert.IsCA, ss.Cert.Subject.CommonName)
	}
	if got := pemCerts(t, ss.ChainFile); len(got) != 1 {
		t.Errorf("self-signed ChainFile holds %d certificates, want 1", len(got))
	}
}

func TestIntermediate(t *testing.T) {
	t.Parallel()
	root := testpeer.NewCA(t, "root")
	inter := root.NewIntermediate(t, "inter")
	inter2 := inter.NewIntermediate(t, "inter2")
	leaf := inter2.Issue(t, testpeer.LeafOptions{})

	chain := pemCerts(t, leaf.ChainFile)
	if len(chain) != 3 || !chain[1].Equal(inter2.Cert) || !chain[2].Equal(inter.Cert) {
		t.Fatalf("ChainFile holds %d certificates, want leaf, inter2, inter", len(chain))
	}
	intermediates := x509.NewCertPool()
	for _, c := range chain[1:] {
		intermediates.AddCert(c)
	}
	if _, err := leaf.Cert.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: root.Pool, Intermediates: intermediates}); err != nil {
		t.Fatalf("leaf of a second intermediate does not verify against the root: %v", err)
	}
	if _, err := leaf.Cert.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: root.Pool}); err == nil {
		t.Fatal("leaf verified against the root without its intermediates")
	}
}

// pemCerts parses every certificate in the PEM file path.
func pemCerts(t *testing.T, path string) []*x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var certs []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return certs
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		certs = append(certs, c)
	}
}
