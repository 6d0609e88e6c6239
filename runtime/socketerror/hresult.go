package socketerror

import "fmt"

// HResult is a Windows HRESULT: the 32-bit error code a WinRT exception
// carries. Scripts see it as err.HResult.
type HResult uint32

// HRESULTs that netrun reports outside the Winsock range.
const (
	// EFail is E_FAIL, an unspecified failure.
	EFail HResult = 0x80004005
	// EAbort is E_ABORT, an operation aborted; it maps to OperationAborted.
	EAbort HResult = 0x80004004
	// EInvalidArg is E_INVALIDARG: an argument was missing, of the wrong
	// type or out of range.
	EInvalidArg HResult = 0x80070057
	// EIllegalMethodCall is E_ILLEGAL_METHOD_CALL: the call is not allowed in
	// the object's current state (a Control property set after connect).
	EIllegalMethodCall HResult = 0x8000000E
	// EAccessDenied is E_ACCESSDENIED: a capability was missing.
	EAccessDenied HResult = 0x80070005
	// EClosed is RO_E_CLOSED: the object was closed.
	EClosed HResult = 0x80000013
	// ENotFound is HRESULT_FROM_WIN32(ERROR_NOT_FOUND).
	ENotFound HResult = 0x80070490

	CertEExpired            HResult = 0x800B0101 // CERT_E_EXPIRED
	CertEValidityPeriodNest HResult = 0x800B0102 // CERT_E_VALIDITYPERIODNESTING
	CertERole               HResult = 0x800B0103 // CERT_E_ROLE
	CertEPathLenConst       HResult = 0x800B0104 // CERT_E_PATHLENCONST
	CertECritical           HResult = 0x800B0105 // CERT_E_CRITICAL
	CertEPurpose            HResult = 0x800B0106 // CERT_E_PURPOSE
	CertEIssuerChaining     HResult = 0x800B0107 // CERT_E_ISSUERCHAINING
	CertEMalformed          HResult = 0x800B0108 // CERT_E_MALFORMED
	CertEUntrustedRoot      HResult = 0x800B0109 // CERT_E_UNTRUSTEDROOT
	CertEChaining           HResult = 0x800B010A // CERT_E_CHAINING
	CertERevoked            HResult = 0x800B010C // CERT_E_REVOKED
	CertECNNoMatch          HResult = 0x800B010F // CERT_E_CN_NO_MATCH
	CertEWrongUsage         HResult = 0x800B0110 // CERT_E_WRONG_USAGE
	TrustEExplicitDistrust  HResult = 0x800B0111 // TRUST_E_EXPLICIT_DISTRUST
	CertEInvalidPolicy      HResult = 0x800B0113 // CERT_E_INVALID_POLICY
	CertEInvalidName        HResult = 0x800B0114 // CERT_E_INVALID_NAME
	TrustECertSignature     HResult = 0x80096004 // TRUST_E_CERT_SIGNATURE
	TrustEBasicConstraints  HResult = 0x80096019 // TRUST_E_BASIC_CONSTRAINTS
	CryptERevoked           HResult = 0x80092010 // CRYPT_E_REVOKED
	CryptENoRevocationCheck HResult = 0x80092012 // CRYPT_E_NO_REVOCATION_CHECK
	CryptERevocationOffline HResult = 0x80092013 // CRYPT_E_REVOCATION_OFFLINE
)

// fromWin32 is HRESULT_FROM_WIN32 for codes that fit in 16 bits.
func fromWin32(code uint32) HResult { return HResult(0x80070000 | code&0xFFFF) }

// String formats h as WinRT tools print it, e.g. "0x8007274D".
func (h HResult) String() string { return fmt.Sprintf("0x%08X", uint32(h)) }

// extraStatus maps HRESULTs other than the canonical ones of statusInfo to
// their status, as WinRT's SocketError.GetStatus does.
func extraStatus(h HResult) (Status, bool) {
	switch h {
	case EAbort:
		return OperationAborted, true
	case CertEValidityPeriodNest:
		return CertificateExpired, true
	case CertEChaining:
		return CertificateUntrustedRoot, true
	case CertEInvalidName:
		return CertificateCommonNameIsIncorrect, true
	case CertERevoked, TrustEExplicitDistrust:
		return CertificateRevoked, true
	case CertERole, CertEPathLenConst, CertECritical, CertEPurpose, CertEIssuerChaining,
		TrustECertSignature, CertEInvalidPolicy, TrustEBasicConstraints:
		return CertificateIsInvalid, true
	}
	return Unknown, false
}

// StatusOf returns the SocketErrorStatus for an HRESULT, as WinRT's
// SocketError.GetStatus(int) does; Unknown for anything it does not
// recognise, E_INVALIDARG included.
func StatusOf(h HResult) Status {
	if s, ok := extraStatus(h); ok {
		return s
	}
	for s := Status(1); int(s) < len(statuses); s++ {
		if statuses[s].hresult == h && s != NoAddressesFound {
			return s
		}
	}
	return Unknown
}
