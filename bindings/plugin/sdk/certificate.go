package sdk

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"

	"github.com/netrun/netrun/runtime/socketerror"
)

// encodeCertificate returns cert as the protocol carries it: the chain as
// PEM CERTIFICATE blocks, leaf first, and the private key as a PKCS #8
// PEM block. A certificate without a key, or a key Go cannot marshal (one
// held in hardware, say), is E_INVALIDARG for op's argument "cert".
func encodeCertificate(op string, cert *tls.Certificate) (chain, key []byte, err error) {
	if cert == nil || len(cert.Certificate) == 0 || cert.PrivateKey == nil {
		return nil, nil, socketerror.InvalidArg(op, "cert", "must hold a certificate and its private key")
	}
	der, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return nil, nil, socketerror.InvalidArg(op, "cert", "the private key: %v", err)
	}
	for _, c := range cert.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c})...)
	}
	return chain, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
