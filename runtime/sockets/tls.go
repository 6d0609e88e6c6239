package sockets

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"slices"
	"time"

	"github.com/netrun/netrun/runtime/socketerror"
)

// TLSVersions returns the TLS versions a protection level allows, as
// crypto/tls constants, and whether the level uses TLS at all.
//
// WinRT's levels name the highest protocol a connection may use; Go
// implements neither SSL 3 nor NULL or RC4 ciphers, so the legacy levels
// negotiate the best TLS both sides have:
//
//	PlainSocket                          no TLS
//	Ssl, SslAllowNullEncryption,
//	Ssl3AllowWeakEncryption              TLS 1.0 – 1.3
//	Tls10                                TLS 1.0 only
//	Tls11                                TLS 1.0 – 1.1
//	Tls12                                TLS 1.0 – 1.2
//	Unspecified                          TLS 1.2 – 1.3 (Go's default)
//
// The Bluetooth levels do not apply to TCP: ok is false for them too, and
// callers report E_INVALIDARG.
func (l SocketProtectionLevel) TLSVersions() (minVersion, maxVersion uint16, ok bool) {
	switch l {
	case Ssl, SslAllowNullEncryption, Ssl3AllowWeakEncryption:
		return tls.VersionTLS10, tls.VersionTLS13, true
	case Tls10:
		return tls.VersionTLS10, tls.VersionTLS10, true
	case Tls11:
		return tls.VersionTLS10, tls.VersionTLS11, true
	case Tls12:
		return tls.VersionTLS10, tls.VersionTLS12, true
	case Unspecified:
		return tls.VersionTLS12, tls.VersionTLS13, true
	}
	return 0, 0, false
}

// floorVersion is the lowest TLS version MinProtectionLevel allows: Tls10,
// Tls11 and Tls12 raise the floor to that version; Unspecified means TLS
// 1.2; the other levels set no floor.
func floorVersion(min SocketProtectionLevel) uint16 {
	switch min {
	case Tls10:
		return tls.VersionTLS10
	case Tls11:
		return tls.VersionTLS11
	case Tls12, Unspecified:
		return tls.VersionTLS12
	}
	return 0
}

// checkProtection validates a protection level argument for a TCP socket.
func checkProtection(op string, l SocketProtectionLevel) error {
	if l == PlainSocket {
		return nil
	}
	if _, _, ok := l.TLSVersions(); !ok {
		return socketerror.InvalidArg(op, "protectionLevel", "%s is not valid for a TCP socket", l)
	}
	return nil
}

// certReport is what validating a server's chain found. It is kept on the
// socket's Information, also after a failed handshake, so that an
// application can read the errors and connect again ignoring them.
type certReport struct {
	leaf          *x509.Certificate
	intermediates []*x509.Certificate
	errors        []ChainValidationResult
}

func (r *certReport) severity() SocketSslErrorSeverity {
	if len(r.errors) == 0 {
		return SeverityNone
	}
	for _, e := range r.errors {
		if !e.Ignorable() {
			return SeverityFatal
		}
	}
	return SeverityIgnorable
}

// validateChain checks a server's certificates the way WinRT reports them:
// every problem is listed, not only the first. The name, the validity
// period and the chain are judged separately, so that a self-signed,
// expired certificate for another host reports Untrusted, Expired and
// InvalidName together.
func validateChain(certs []*x509.Certificate, serverName string, roots *x509.CertPool, now time.Time) *certReport {
	r := &certReport{}
	if len(certs) == 0 {
		r.errors = []ChainValidationResult{OtherErrors}
		return r
	}
	r.leaf = certs[0]
	r.intermediates = certs[1:]
	add := func(e ChainValidationResult) {
		if !slices.Contains(r.errors, e) {
			r.errors = append(r.errors, e)
		}
	}
	if serverName != "" {
		if err := r.leaf.VerifyHostname(serverName); err != nil {
			add(InvalidName)
		}
	}
	for _, c := range certs {
		if now.Before(c.NotBefore) || now.After(c.NotAfter) {
			add(Expired)
			break
		}
	}
	// Judge the links the server sent itself: Go's chain builder reports
	// a non-CA issuer or a bad signature only as an unknown authority.
	structural := false
	for i := 1; i < len(certs); i++ {
		child, parent := certs[i-1], certs[i]
		if !bytes.Equal(child.RawIssuer, parent.RawSubject) {
			continue
		}
		var cv x509.ConstraintViolationError
		switch err := child.CheckSignatureFrom(parent); {
		case err == nil:
		case errors.As(err, &cv):
			add(BasicConstraintsError)
			structural = true
		default:
			add(InvalidSignature)
			structural = true
		}
	}
	pool := x509.NewCertPool()
	for _, c := range r.intermediates {
		pool.AddCert(c)
	}
	// Judge the chain at a moment when the leaf was valid, so that
	// expiry, reported above, does not hide a trust problem.
	at := now
	if now.Before(r.leaf.NotBefore) || now.After(r.leaf.NotAfter) {
		at = r.leaf.NotBefore.Add(r.leaf.NotAfter.Sub(r.leaf.NotBefore) / 2)
	}
	opts := x509.VerifyOptions{Roots: roots, Intermediates: pool, CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	_, err := r.leaf.Verify(opts)
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) && inv.Reason == x509.IncompatibleUsage {
		add(WrongUsage)
		opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageAny}
		_, err = r.leaf.Verify(opts)
	}
	if err != nil {
		if e := chainError(err); !(structural && e == Untrusted) {
			add(e)
		}
	}
	return r
}

// chainError maps a chain-building failure to its ChainValidationResult.
func chainError(err error) ChainValidationResult {
	var unknown x509.UnknownAuthorityError
	var inv x509.CertificateInvalidError
	var sysRoots x509.SystemRootsError
	switch {
	case errors.As(err, &unknown), errors.As(err, &sysRoots):
		return Untrusted
	case errors.As(err, &inv):
		switch inv.Reason {
		case x509.NotAuthorizedToSign, x509.TooManyIntermediates:
			return BasicConstraintsError
		case x509.Expired:
			return Expired
		case x509.IncompatibleUsage:
			return WrongUsage
		case x509.CANotAuthorizedForThisName, x509.NameConstraintsWithoutSANs, x509.UnconstrainedName:
			return InvalidCertificateAuthorityPolicy
		}
	}
	var unhandled x509.UnhandledCriticalExtension
	if errors.As(err, &unhandled) {
		return UnknownCriticalExtension
	}
	return OtherErrors
}

// certStatus returns the SocketErrorStatus a handshake that failed on these
// errors reports: the fatal problems first, then an untrusted chain,
// expiry, the name and the usage.
func certStatus(errs []ChainValidationResult) socketerror.Status {
	order := []struct {
		r  ChainValidationResult
		st socketerror.Status
	}{
		{Revoked, socketerror.CertificateRevoked},
		{InvalidSignature, socketerror.CertificateIsInvalid},
		{BasicConstraintsError, socketerror.CertificateIsInvalid},
		{UnknownCriticalExtension, socketerror.CertificateIsInvalid},
		{InvalidCertificateAuthorityPolicy, socketerror.CertificateIsInvalid},
		{OtherErrors, socketerror.CertificateIsInvalid},
		{Untrusted, socketerror.CertificateUntrustedRoot},
		{IncompleteChain, socketerror.CertificateUntrustedRoot},
		{Expired, socketerror.CertificateExpired},
		{InvalidName, socketerror.CertificateCommonNameIsIncorrect},
		{WrongUsage, socketerror.CertificateWrongUsage},
		{RevocationInformationMissing, socketerror.CertificateNoRevocationCheck},
		{RevocationFailure, socketerror.CertificateRevocationServerOffline},
	}
	for _, o := range order {
		if slices.Contains(errs, o.r) {
			return o.st
		}
	}
	return socketerror.CertificateIsInvalid
}

// certError is the error a handshake returns when the server's chain has
// errors the application did not list as ignorable.
type certError struct {
	errors []ChainValidationResult
}

func (e *certError) Error() string {
	s := "server certificate rejected:"
	for _, r := range e.errors {
		s += " " + r.String()
	}
	return s
}
