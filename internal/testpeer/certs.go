package testpeer

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// caValidity is how long a test CA is valid around now; it covers the
// default validity of the leaves it issues.
const caValidity = 24 * time.Hour

// CA is a test certificate authority with an ECDSA P-256 key.
//
// For a root made by NewCA, CertFile and Pool hold the root. For an
// intermediate made by NewIntermediate, they hold the intermediate only:
// Go accepts it as a trust anchor, OpenSSL does not without
// -partial_chain, so trust the root's Pool or CertFile instead.
type CA struct {
	Cert     *x509.Certificate
	Key      crypto.Signer
	CertFile string // PEM of Cert
	Pool     *x509.CertPool

	// above lists the CAs that issued this one, nearest first, without
	// the self-signed root; nil for a root and for its intermediates.
	above []*x509.Certificate
}

// LeafOptions describes a leaf certificate. The zero value gives a
// server certificate valid from an hour ago for two hours, for the DNS
// name "localhost" and the IPs 127.0.0.1 and ::1.
//
// A nil slice takes its default; a non-nil empty slice means none (for
// example IPs: []net.IP{} for a certificate without IP addresses).
type LeafOptions struct {
	CommonName string   // "": the first DNS name, or "testpeer leaf"
	DNSNames   []string // nil: ["localhost"]
	IPs        []net.IP // nil: [127.0.0.1, ::1]
	// NotBefore and NotAfter bound validity; each zero field takes its
	// default of now-1h and now+1h respectively.
	NotBefore, NotAfter time.Time
	// ExtKeyUsage is nil for ServerAuth; use e.g. ClientAuth for a
	// client certificate, or to make a server certificate with the
	// wrong usage.
	ExtKeyUsage []x509.ExtKeyUsage
	IsCA        bool // also marks the certificate as a CA
}

// Leaf is a certificate with its key, as files and in memory.
type Leaf struct {
	Cert     *x509.Certificate
	Key      crypto.Signer
	CertFile string // PEM of Cert alone
	KeyFile  string // PEM of Key (PKCS #8)
	// TLS holds the chain of ChainFile with Key, ready for a Go
	// tls.Config; its Leaf field is set.
	TLS tls.Certificate
	// ChainFile is the PEM of Cert followed by the issuing CA and every
	// intermediate above it. The root is included only when it issued
	// Cert itself. A self-signed leaf's chain is Cert alone.
	ChainFile string
}

// NewCA makes a self-signed root CA named name, writing its certificate to
// a PEM file in tb.TempDir().
func NewCA(tb testing.TB, name string) *CA {
	tb.Helper()
	key := newKey(tb)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(tb),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"netrun testpeer"}},
		NotBefore:             now.Add(-caValidity),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	cert := sign(tb, tmpl, tmpl, key, key)
	return newCA(tb, name, cert, key, nil)
}

// NewIntermediate makes a CA named name issued by ca, so that servers can
// send a chain longer than their own certificate.
func (ca *CA) NewIntermediate(tb testing.TB, name string) *CA {
	tb.Helper()
	key := newKey(tb)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(tb),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"netrun testpeer"}},
		NotBefore:             now.Add(-caValidity),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	cert := sign(tb, tmpl, ca.Cert, key, ca.Key)
	var above []*x509.Certificate
	if !isSelfSigned(ca.Cert) {
		above = append([]*x509.Certificate{ca.Cert}, ca.above...)
	}
	return newCA(tb, name, cert, key, above)
}

func newCA(tb testing.TB, name string, cert *x509.Certificate, key crypto.Signer, above []*x509.Certificate) *CA {
	tb.Helper()
	dir := tb.TempDir()
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{
		Cert:     cert,
		Key:      key,
		CertFile: writePEM(tb, dir, fileName(name)+".crt", certPEM(cert)),
		Pool:     pool,
		above:    above,
	}
}

// Issue makes a leaf certificate signed by ca, described by opts.
func (ca *CA) Issue(tb testing.TB, opts LeafOptions) *Leaf {
	tb.Helper()
	key := newKey(tb)
	tmpl := leafTemplate(tb, opts)
	cert := sign(tb, tmpl, ca.Cert, key, ca.Key)
	chain := []*x509.Certificate{cert, ca.Cert}
	chain = append(chain, ca.above...)
	return newLeaf(tb, cert, key, chain)
}

// SelfSigned makes a leaf certificate signed by its own key.
func SelfSigned(tb testing.TB, opts LeafOptions) *Leaf {
	tb.Helper()
	key := newKey(tb)
	tmpl := leafTemplate(tb, opts)
	cert := sign(tb, tmpl, tmpl, key, key)
	return newLeaf(tb, cert, key, []*x509.Certificate{cert})
}

func leafTemplate(tb testing.TB, opts LeafOptions) *x509.Certificate {
	tb.Helper()
	now := time.Now()
	if opts.DNSNames == nil {
		opts.DNSNames = []string{"localhost"}
	}
	if opts.IPs == nil {
		opts.IPs = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	}
	if opts.ExtKeyUsage == nil {
		opts.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	if opts.NotBefore.IsZero() {
		opts.NotBefore = now.Add(-time.Hour)
	}
	if opts.NotAfter.IsZero() {
		opts.NotAfter = now.Add(time.Hour)
	}
	if opts.CommonName == "" {
		opts.CommonName = "testpeer leaf"
		if len(opts.DNSNames) > 0 {
			opts.CommonName = opts.DNSNames[0]
		}
	}
	t := &x509.Certificate{
		SerialNumber: serial(tb),
		Subject:      pkix.Name{CommonName: opts.CommonName, Organization: []string{"netrun testpeer"}},
		DNSNames:     opts.DNSNames,
		IPAddresses:  opts.IPs,
		NotBefore:    opts.NotBefore,
		NotAfter:     opts.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  opts.ExtKeyUsage,
	}
	if opts.IsCA {
		t.IsCA = true
		t.BasicConstraintsValid = true
		t.KeyUsage |= x509.KeyUsageCertSign
	}
	return t
}

// newLeaf writes cert, its key and its chain (cert first) as PEM files in
// tb.TempDir() and returns the Leaf.
func newLeaf(tb testing.TB, cert *x509.Certificate, key crypto.Signer, chain []*x509.Certificate) *Leaf {
	tb.Helper()
	dir := tb.TempDir()
	base := fileName(cert.Subject.CommonName) + "-" + cert.SerialNumber.Text(16)[:8]
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatalf("testpeer: marshal key of %q: %v", cert.Subject.CommonName, err)
	}
	var chainPEM bytes.Buffer
	tc := tls.Certificate{PrivateKey: key, Leaf: cert}
	for _, c := range chain {
		chainPEM.Write(certPEM(c))
		tc.Certificate = append(tc.Certificate, c.Raw)
	}
	return &Leaf{
		Cert:      cert,
		Key:       key,
		CertFile:  writePEM(tb, dir, base+".crt", certPEM(cert)),
		KeyFile:   writePEM(tb, dir, base+".key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})),
		TLS:       tc,
		ChainFile: writePEM(tb, dir, base+"-chain.crt", chainPEM.Bytes()),
	}
}

func newKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatalf("testpeer: generate ECDSA P-256 key: %v", err)
	}
	return key
}

func serial(tb testing.TB) *big.Int {
	tb.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		tb.Fatalf("testpeer: random serial number: %v", err)
	}
	// Setting the top bit fixes the length at 32 hex digits, so file
	// names can take the first 8 of them.
	return n.SetBit(n, 127, 1)
}

// sign creates the certificate tmpl for key's public key, issued by
// parent with parentKey, and parses it back.
func sign(tb testing.TB, tmpl, parent *x509.Certificate, key, parentKey crypto.Signer) *x509.Certificate {
	tb.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		tb.Fatalf("testpeer: create certificate %q: %v", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatalf("testpeer: parse certificate %q: %v", tmpl.Subject.CommonName, err)
	}
	return cert
}

func isSelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// writePEM writes data to dir/name, readable by its owner only, and
// returns the path.
func writePEM(tb testing.TB, dir, name string, data []byte) string {
	tb.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		tb.Fatalf("testpeer: write %s: %v", p, err)
	}
	return p
}

// fileName turns a certificate name into a safe file name.
func fileName(name string) string {
	s := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		default:
			return '_'
		}
	}, name)
	if s == "" || strings.Trim(s, ".") == "" {
		s = "cert"
	}
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}
