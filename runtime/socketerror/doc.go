// Package socketerror holds netrun's error model: WinRT's SocketErrorStatus,
// the HRESULT a Windows socket would report for the same failure, and the
// [Error] type that carries both.
//
// Every error that leaves runtime/ is, or wraps, an *Error. Find it with
// errors.As, or ask [GetStatus] for the status of any error:
//
//	if socketerror.GetStatus(err) == socketerror.ConnectionRefused { ... }
//
// WinRT counterpart: Windows.Networking.Sockets.SocketError and
// SocketErrorStatus. WinRT maps HRESULTs to statuses; on Linux the failures
// start as errno values, resolver errors and crypto/x509 errors, so [New]
// classifies those and records the HRESULT WinRT would report
// (HRESULT_FROM_WIN32 of the Winsock code, or a CERT_E_* code).
//
// Departures from WinRT: [HResult] values for argument errors (E_INVALIDARG)
// and state errors (E_ILLEGAL_METHOD_CALL) carry status Unknown, as in WinRT,
// but also a message naming the argument or the rule that was broken.
package socketerror
