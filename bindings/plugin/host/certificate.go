package host

import (
	"crypto/tls"
	"crypto/x509"

	"github.com/netrun/netrun/runtime/socketerror"
)

// clientCertificate parses the client certificate a plugin sends for the
// ClientCertificate property of op's Control (op names the class, e.g.
// "StreamSocketControl"): certPEM, the chain with the leaf first, and
// keyPEM, the leaf's private key. It returns nil for neither; one without
// the other, or a pair that does not parse, is E_INVALIDARG naming the
// field.
func clientCertificate(op string, certPEM, keyPEM []byte) (*tls.Certificate, error) {
	op += ".ClientCertificate"
	switch {
	case len(certPEM) == 0 && len(keyPEM) == 0:
		return nil, nil
	case len(certPEM) == 0:
		return nil, socketerror.InvalidArg(op, "client_certificate_pem", "is empty while client_key_pem is set: send both or neither")
	case len(keyPEM) == 0:
		return nil, socketerror.InvalidArg(op, "client_key_pem", "is empty while client_certificate_pem is set: send both or neither")
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, socketerror.InvalidArg(op, "client_certificate_pem", "with client_key_pem: %v", err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, socketerror.InvalidArg(op, "client_certificate_pem", "%v", err)
		}
	}
	return &cert, nil
}
