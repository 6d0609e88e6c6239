package lua

import (
	"bytes"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"strings"

	glua "github.com/yuin/gopher-lua"
)

// A Certificate in Lua is a userdata whose value is the *tls.Certificate
// itself (its Leaf set): a certificate with its private key, as
// Control.ClientCertificate offers it to a TLS server. WinRT's Certificate
// class lives in Windows.Security.Cryptography.Certificates and comes from
// a certificate store; scripts have neither, so netrun makes one from PEM
// text with Certificate.FromPem. Certificates are immutable and may be set
// on any number of sockets.

var certificateClass = &class{
	name: "Certificate",
	getters: map[string]getter{
		"Subject":      func(L *glua.LState, o any) glua.LValue { return glua.LString(leafOf(o).Subject.String()) },
		"Issuer":       func(L *glua.LState, o any) glua.LValue { return glua.LString(leafOf(o).Issuer.String()) },
		"FriendlyName": func(L *glua.LState, o any) glua.LValue { return glua.LString(leafOf(o).Subject.CommonName) },
		"ValidFrom":    func(L *glua.LState, o any) glua.LValue { return glua.LNumber(leafOf(o).NotBefore.Unix()) },
		"ValidTo":      func(L *glua.LState, o any) glua.LValue { return glua.LNumber(leafOf(o).NotAfter.Unix()) },
		"SerialNumber": func(L *glua.LState, o any) glua.LValue {
			return glua.LString(hex.EncodeToString(leafOf(o).SerialNumber.Bytes()))
		},
		"Thumbprint": func(L *glua.LState, o any) glua.LValue {
			sum := sha1.Sum(leafOf(o).Raw)
			return glua.LString(hex.EncodeToString(sum[:]))
		},
		"DnsNames": func(L *glua.LState, o any) glua.LValue {
			t := L.NewTable()
			for _, n := range leafOf(o).DNSNames {
				t.Append(glua.LString(n))
			}
			return t
		},
		"HasPrivateKey": func(L *glua.LState, o any) glua.LValue { return glua.LTrue },
	},
	// Two objects for the same certificate are equal: a Control's getter
	// makes a new userdata for the certificate that was set.
	eq:       func(a, b any) bool { return a.(*tls.Certificate) == b.(*tls.Certificate) },
	tostring: func(o any) string { return "Certificate: " + leafOf(o).Subject.String() },
}

func leafOf(o any) *x509.Certificate { return o.(*tls.Certificate).Leaf }

// certificateModule is net.Certificate: the static FromPem.
func certificateModule(L *glua.LState) *glua.LTable {
	t := L.NewTable()
	t.RawSetString("FromPem", L.NewFunction(func(L *glua.LState) int {
		const m = "Certificate.FromPem"
		certPEM := argString(L, 1, m, "certificatePem")
		keyPEM := argString(L, 2, m, "privateKeyPem")
		L.Push(newObject(L, certificateClass, certificateFromPEM(L, m, certPEM, keyPEM)))
		return 1
	}))
	return t
}

// certificateFromPEM parses a certificate chain (the leaf first, then any
// intermediates) and the leaf's private key, raising an E_INVALIDARG error
// that names the argument at fault.
func certificateFromPEM(L *glua.LState, m, certPEM, keyPEM string) *tls.Certificate {
	var blocks int
	rest := []byte(certPEM)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch {
		case b.Type == "CERTIFICATE":
			if _, err := x509.ParseCertificate(b.Bytes); err != nil {
				raiseArg(L, m, 1, "certificatePem", "certificate #%d: %v", blocks+1, err)
			}
			blocks++
		case strings.HasSuffix(b.Type, "PRIVATE KEY"):
			raiseArg(L, m, 1, "certificatePem", "holds a private key; pass the key as argument #2")
		default:
			raiseArg(L, m, 1, "certificatePem", "PEM block %q is not a CERTIFICATE", b.Type)
		}
	}
	if blocks == 0 {
		raiseArg(L, m, 1, "certificatePem", "no PEM CERTIFICATE block found")
	}
	if len(bytes.TrimSpace(rest)) != 0 && bytes.Contains(rest, []byte("-----BEGIN")) {
		raiseArg(L, m, 1, "certificatePem", "a PEM block after certificate #%d is malformed", blocks)
	}
	if b, _ := pem.Decode([]byte(keyPEM)); b == nil || !strings.HasSuffix(b.Type, "PRIVATE KEY") {
		raiseArg(L, m, 2, "privateKeyPem", "no PEM PRIVATE KEY block found")
	}
	// The certificates parsed above, so what X509KeyPair still refuses
	// is the key: unparsable, of an unsupported type, or not the
	// certificate's.
	cert, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	if err != nil {
		raiseArg(L, m, 2, "privateKeyPem", "%s", strings.TrimPrefix(err.Error(), "tls: "))
	}
	if cert.Leaf == nil { // Go sets it since 1.23; keep the getters safe anyway
		leaf, err := x509.ParseCertificate(cert.Certificate[0])
		if err != nil {
			raiseArg(L, m, 1, "certificatePem", "%v", err)
		}
		cert.Leaf = leaf
	}
	return &cert
}

// certificateProp is the ClientCertificate property of a Control named
// prop: get and set reach the runtime's ClientCertificate and
// SetClientCertificate. The getter returns a Certificate or nil; the
// setter takes one or nil and raises the runtime's error, IllegalMethodCall
// once the socket has connected.
func certificateProp(prop string, get func(o any) *tls.Certificate, set func(o any, c *tls.Certificate) error) (getter, setter) {
	return func(L *glua.LState, o any) glua.LValue {
			c := get(o)
			if c == nil || len(c.Certificate) == 0 {
				return glua.LNil
			}
			if c.Leaf == nil { // set from Go without its Leaf
				leaf, err := x509.ParseCertificate(c.Certificate[0])
				if err != nil {
					return glua.LNil
				}
				withLeaf := *c
				withLeaf.Leaf = leaf
				c = &withLeaf
			}
			return newObject(L, certificateClass, c)
		}, func(L *glua.LState, o any, v glua.LValue) {
			var c *tls.Certificate
			if v != glua.LNil {
				ud, ok := v.(*glua.LUserData)
				if ok {
					c, ok = ud.Value.(*tls.Certificate)
				}
				if !ok {
					raiseArg(L, prop, 1, "value", "Certificate or nil expected, got %s", typeName(v))
				}
			}
			if err := set(o, c); err != nil {
				raiseError(L, err)
			}
		}
}
