package sockets

import "strconv"

// SocketProtectionLevel is WinRT's SocketProtectionLevel: whether and how a
// StreamSocket encrypts. The numeric values are WinRT's. How each level maps
// to TLS versions is documented on [SocketProtectionLevel.TLSVersions].
type SocketProtectionLevel int32

// The SocketProtectionLevel values.
const (
	PlainSocket                                SocketProtectionLevel = 0
	Ssl                                        SocketProtectionLevel = 1
	SslAllowNullEncryption                     SocketProtectionLevel = 2
	BluetoothEncryptionAllowNullAuthentication SocketProtectionLevel = 3
	BluetoothEncryptionWithAuthentication      SocketProtectionLevel = 4
	Ssl3AllowWeakEncryption                    SocketProtectionLevel = 5
	Tls10                                      SocketProtectionLevel = 6
	Tls11                                      SocketProtectionLevel = 7
	Tls12                                      SocketProtectionLevel = 8
	Unspecified                                SocketProtectionLevel = 9
)

var protectionNames = [...]string{"PlainSocket", "Ssl", "SslAllowNullEncryption",
	"BluetoothEncryptionAllowNullAuthentication", "BluetoothEncryptionWithAuthentication",
	"Ssl3AllowWeakEncryption", "Tls10", "Tls11", "Tls12", "Unspecified"}

// String returns the WinRT name of l.
func (l SocketProtectionLevel) String() string {
	if l >= 0 && int(l) < len(protectionNames) {
		return protectionNames[l]
	}
	return "SocketProtectionLevel(" + strconv.Itoa(int(l)) + ")"
}

// SocketQualityOfService is WinRT's SocketQualityOfService.
//
// On Linux, LowLatency marks outgoing packets with DSCP EF (IP_TOS or
// IPV6_TCLASS 0xB8) and sets SO_PRIORITY 6 (interactive); Normal leaves the
// kernel defaults.
type SocketQualityOfService int32

// The SocketQualityOfService values.
const (
	Normal     SocketQualityOfService = 0
	LowLatency SocketQualityOfService = 1
)

// String returns the WinRT name of q.
func (q SocketQualityOfService) String() string {
	switch q {
	case Normal:
		return "Normal"
	case LowLatency:
		return "LowLatency"
	}
	return "SocketQualityOfService(" + strconv.Itoa(int(q)) + ")"
}

// SocketSslErrorSeverity is WinRT's SocketSslErrorSeverity: how bad the
// certificate errors of a TLS handshake are.
type SocketSslErrorSeverity int32

// The SocketSslErrorSeverity values.
const (
	// SeverityNone means the certificate had no error.
	SeverityNone SocketSslErrorSeverity = 0
	// SeverityIgnorable means every error can be listed in
	// IgnorableServerCertificateErrors and the connect retried.
	SeverityIgnorable SocketSslErrorSeverity = 1
	// SeverityFatal means at least one error can never be ignored.
	SeverityFatal SocketSslErrorSeverity = 2
)

// String returns the WinRT name of s.
func (s SocketSslErrorSeverity) String() string {
	switch s {
	case SeverityNone:
		return "None"
	case SeverityIgnorable:
		return "Ignorable"
	case SeverityFatal:
		return "Fatal"
	}
	return "SocketSslErrorSeverity(" + strconv.Itoa(int(s)) + ")"
}

// ChainValidationResult is WinRT's
// Windows.Security.Cryptography.Certificates.ChainValidationResult: one
// problem found while validating a server's certificate chain.
type ChainValidationResult int32

// The ChainValidationResult values.
const (
	Success                           ChainValidationResult = 0
	Untrusted                         ChainValidationResult = 1
	Revoked                           ChainValidationResult = 2
	Expired                           ChainValidationResult = 3
	IncompleteChain                   ChainValidationResult = 4
	InvalidSignature                  ChainValidationResult = 5
	WrongUsage                        ChainValidationResult = 6
	InvalidName                       ChainValidationResult = 7
	InvalidCertificateAuthorityPolicy ChainValidationResult = 8
	BasicConstraintsError             ChainValidationResult = 9
	UnknownCriticalExtension          ChainValidationResult = 10
	RevocationInformationMissing      ChainValidationResult = 11
	RevocationFailure                 ChainValidationResult = 12
	OtherErrors                       ChainValidationResult = 13
)

var chainNames = [...]string{"Success", "Untrusted", "Revoked", "Expired", "IncompleteChain",
	"InvalidSignature", "WrongUsage", "InvalidName", "InvalidCertificateAuthorityPolicy",
	"BasicConstraintsError", "UnknownCriticalExtension", "RevocationInformationMissing",
	"RevocationFailure", "OtherErrors"}

// String returns the WinRT name of r.
func (r ChainValidationResult) String() string {
	if r >= 0 && int(r) < len(chainNames) {
		return chainNames[r]
	}
	return "ChainValidationResult(" + strconv.Itoa(int(r)) + ")"
}

// Ignorable reports whether WinRT lets an application ignore r by listing
// it in IgnorableServerCertificateErrors: an untrusted or incomplete chain,
// an expired certificate, a name mismatch, a wrong usage and missing
// revocation data. A revoked certificate, a bad signature and structural
// errors are fatal.
func (r ChainValidationResult) Ignorable() bool {
	switch r {
	case Untrusted, Expired, IncompleteChain, InvalidName, WrongUsage,
		RevocationInformationMissing, RevocationFailure:
		return true
	}
	return false
}

// InputStreamOptions is Windows.Storage.Streams.InputStreamOptions: how a
// read completes.
type InputStreamOptions uint32

// The InputStreamOptions flags.
const (
	// InputStreamNone completes a read when the count requested has
	// arrived, or at end of stream.
	InputStreamNone InputStreamOptions = 0
	// Partial completes a read as soon as any bytes are available.
	Partial InputStreamOptions = 1
	// ReadAhead lets the stream read more than requested into its buffer;
	// netrun treats it as Partial.
	ReadAhead InputStreamOptions = 2
)
