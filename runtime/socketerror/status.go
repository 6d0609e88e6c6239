package socketerror

import "strconv"

// Status is WinRT's SocketErrorStatus: the kind of failure a socket
// operation met. The numeric values are WinRT's.
type Status int32

// The 31 SocketErrorStatus values, numbered as in WinRT.
const (
	Unknown                            Status = 0
	OperationAborted                   Status = 1
	HttpInvalidServerResponse          Status = 2
	ConnectionTimedOut                 Status = 3
	AddressFamilyNotSupported          Status = 4
	SocketTypeNotSupported             Status = 5
	HostNotFound                       Status = 6
	NoDataRecordOfRequestedType        Status = 7
	NonAuthoritativeHostNotFound       Status = 8
	ClassTypeNotFound                  Status = 9
	AddressAlreadyInUse                Status = 10
	CannotAssignRequestedAddress       Status = 11
	ConnectionRefused                  Status = 12
	NetworkIsUnreachable               Status = 13
	UnreachableHost                    Status = 14
	NetworkIsDown                      Status = 15
	NetworkDroppedConnectionOnReset    Status = 16
	SoftwareCausedConnectionAbort      Status = 17
	ConnectionResetByPeer              Status = 18
	HostIsDown                         Status = 19
	NoAddressesFound                   Status = 20
	TooManyOpenFiles                   Status = 21
	MessageTooLong                     Status = 22
	CertificateExpired                 Status = 23
	CertificateUntrustedRoot           Status = 24
	CertificateCommonNameIsIncorrect   Status = 25
	CertificateWrongUsage              Status = 26
	CertificateRevoked                 Status = 27
	CertificateNoRevocationCheck       Status = 28
	CertificateRevocationServerOffline Status = 29
	CertificateIsInvalid               Status = 30
)

// statusInfo describes one status: its WinRT name and the HRESULT that
// WinRT reports for it.
type statusInfo struct {
	name    string
	hresult HResult
}

var statuses = [...]statusInfo{
	Unknown:                            {"Unknown", EFail},
	OperationAborted:                   {"OperationAborted", fromWin32(995)},
	HttpInvalidServerResponse:          {"HttpInvalidServerResponse", fromWin32(12152)},
	ConnectionTimedOut:                 {"ConnectionTimedOut", fromWin32(10060)},
	AddressFamilyNotSupported:          {"AddressFamilyNotSupported", fromWin32(10047)},
	SocketTypeNotSupported:             {"SocketTypeNotSupported", fromWin32(10044)},
	HostNotFound:                       {"HostNotFound", fromWin32(11001)},
	NoDataRecordOfRequestedType:        {"NoDataRecordOfRequestedType", fromWin32(11004)},
	NonAuthoritativeHostNotFound:       {"NonAuthoritativeHostNotFound", fromWin32(11002)},
	ClassTypeNotFound:                  {"ClassTypeNotFound", fromWin32(10109)},
	AddressAlreadyInUse:                {"AddressAlreadyInUse", fromWin32(10048)},
	CannotAssignRequestedAddress:       {"CannotAssignRequestedAddress", fromWin32(10049)},
	ConnectionRefused:                  {"ConnectionRefused", fromWin32(10061)},
	NetworkIsUnreachable:               {"NetworkIsUnreachable", fromWin32(10051)},
	UnreachableHost:                    {"UnreachableHost", fromWin32(10065)},
	NetworkIsDown:                      {"NetworkIsDown", fromWin32(10050)},
	NetworkDroppedConnectionOnReset:    {"NetworkDroppedConnectionOnReset", fromWin32(10052)},
	SoftwareCausedConnectionAbort:      {"SoftwareCausedConnectionAbort", fromWin32(10053)},
	ConnectionResetByPeer:              {"ConnectionResetByPeer", fromWin32(10054)},
	HostIsDown:                         {"HostIsDown", fromWin32(10064)},
	NoAddressesFound:                   {"NoAddressesFound", fromWin32(11004)},
	TooManyOpenFiles:                   {"TooManyOpenFiles", fromWin32(10024)},
	MessageTooLong:                     {"MessageTooLong", fromWin32(10040)},
	CertificateExpired:                 {"CertificateExpired", CertEExpired},
	CertificateUntrustedRoot:           {"CertificateUntrustedRoot", CertEUntrustedRoot},
	CertificateCommonNameIsIncorrect:   {"CertificateCommonNameIsIncorrect", CertECNNoMatch},
	CertificateWrongUsage:              {"CertificateWrongUsage", CertEWrongUsage},
	CertificateRevoked:                 {"CertificateRevoked", CryptERevoked},
	CertificateNoRevocationCheck:       {"CertificateNoRevocationCheck", CryptENoRevocationCheck},
	CertificateRevocationServerOffline: {"CertificateRevocationServerOffline", CryptERevocationOffline},
	CertificateIsInvalid:               {"CertificateIsInvalid", CertEMalformed},
}

// NumStatuses is the number of SocketErrorStatus values (0 through 30).
const NumStatuses = len(statuses)

// String returns the WinRT name of s, or "SocketErrorStatus(n)" for a value
// WinRT does not define.
func (s Status) String() string {
	if s >= 0 && int(s) < len(statuses) {
		return statuses[s].name
	}
	return "SocketErrorStatus(" + strconv.Itoa(int(s)) + ")"
}

// HResult returns the HRESULT that WinRT reports for a failure of status s.
// Several HRESULTs can map to one status; this is the canonical one.
// NoAddressesFound has no Winsock code of its own and shares WSANO_DATA.
func (s Status) HResult() HResult {
	if s >= 0 && int(s) < len(statuses) {
		return statuses[s].hresult
	}
	return EFail
}

// IsCertificate reports whether s is one of the Certificate* statuses.
func (s Status) IsCertificate() bool {
	return s >= CertificateExpired && s <= CertificateIsInvalid
}
