package websocket

import (
	"errors"
	"io"
	"strconv"

	"github.com/netrun/netrun/runtime/socketerror"
)

// WebErrorStatus is WinRT's Windows.Web.WebErrorStatus: what went wrong in
// a WebSocket operation, as WebSocketError.GetStatus reports it. The
// numeric values are WinRT's; from 300 on they are the HTTP status codes a
// server answered the handshake with.
type WebErrorStatus int32

// The WebErrorStatus values, numbered as in WinRT. WinRT defines no values
// for 1xx and 2xx codes, 306, or codes above 417 in the 4xx range.
const (
	Unknown                          WebErrorStatus = 0
	CertificateCommonNameIsIncorrect WebErrorStatus = 1
	CertificateExpired               WebErrorStatus = 2
	CertificateContainsErrors        WebErrorStatus = 3
	CertificateRevoked               WebErrorStatus = 4
	CertificateIsInvalid             WebErrorStatus = 5
	ServerUnreachable                WebErrorStatus = 6
	Timeout                          WebErrorStatus = 7
	ErrorHttpInvalidServerResponse   WebErrorStatus = 8
	ConnectionAborted                WebErrorStatus = 9
	ConnectionReset                  WebErrorStatus = 10
	Disconnected                     WebErrorStatus = 11
	HttpToHttpsOnRedirection         WebErrorStatus = 12
	HttpsToHttpOnRedirection         WebErrorStatus = 13
	CannotConnect                    WebErrorStatus = 14
	HostNameNotResolved              WebErrorStatus = 15
	OperationCanceled                WebErrorStatus = 16
	RedirectFailed                   WebErrorStatus = 17
	UnexpectedStatusCode             WebErrorStatus = 18
	UnexpectedRedirection            WebErrorStatus = 19
	UnexpectedClientError            WebErrorStatus = 20
	UnexpectedServerError            WebErrorStatus = 21
	InsufficientRangeSupport         WebErrorStatus = 22
	MissingContentLengthSupport      WebErrorStatus = 23

	MultipleChoices              WebErrorStatus = 300
	MovedPermanently             WebErrorStatus = 301
	Found                        WebErrorStatus = 302
	SeeOther                     WebErrorStatus = 303
	NotModified                  WebErrorStatus = 304
	UseProxy                     WebErrorStatus = 305
	TemporaryRedirect            WebErrorStatus = 307
	BadRequest                   WebErrorStatus = 400
	Unauthorized                 WebErrorStatus = 401
	PaymentRequired              WebErrorStatus = 402
	Forbidden                    WebErrorStatus = 403
	NotFound                     WebErrorStatus = 404
	MethodNotAllowed             WebErrorStatus = 405
	NotAcceptable                WebErrorStatus = 406
	ProxyAuthenticationRequired  WebErrorStatus = 407
	RequestTimeout               WebErrorStatus = 408
	Conflict                     WebErrorStatus = 409
	Gone                         WebErrorStatus = 410
	LengthRequired               WebErrorStatus = 411
	PreconditionFailed           WebErrorStatus = 412
	RequestEntityTooLarge        WebErrorStatus = 413
	RequestUriTooLong            WebErrorStatus = 414
	UnsupportedMediaType         WebErrorStatus = 415
	RequestedRangeNotSatisfiable WebErrorStatus = 416
	ExpectationFailed            WebErrorStatus = 417
	InternalServerError          WebErrorStatus = 500
	NotImplemented               WebErrorStatus = 501
	BadGateway                   WebErrorStatus = 502
	ServiceUnavailable           WebErrorStatus = 503
	GatewayTimeout               WebErrorStatus = 504
	HttpVersionNotSupported      WebErrorStatus = 505
)

var webErrorNames = map[WebErrorStatus]string{
	Unknown: "Unknown", CertificateCommonNameIsIncorrect: "CertificateCommonNameIsIncorrect",
	CertificateExpired: "CertificateExpired", CertificateContainsErrors: "CertificateContainsErrors",
	CertificateRevoked: "CertificateRevoked", CertificateIsInvalid: "CertificateIsInvalid",
	ServerUnreachable: "ServerUnreachable", Timeout: "Timeout",
	ErrorHttpInvalidServerResponse: "ErrorHttpInvalidServerResponse", ConnectionAborted: "ConnectionAborted",
	ConnectionReset: "ConnectionReset", Disconnected: "Disconnected",
	HttpToHttpsOnRedirection: "HttpToHttpsOnRedirection", HttpsToHttpOnRedirection: "HttpsToHttpOnRedirection",
	CannotConnect: "CannotConnect", HostNameNotResolved: "HostNameNotResolved",
	OperationCanceled: "OperationCanceled", RedirectFailed: "RedirectFailed",
	UnexpectedStatusCode: "UnexpectedStatusCode", UnexpectedRedirection: "UnexpectedRedirection",
	UnexpectedClientError: "UnexpectedClientError", UnexpectedServerError: "UnexpectedServerError",
	InsufficientRangeSupport: "InsufficientRangeSupport", MissingContentLengthSupport: "MissingContentLengthSupport",

	MultipleChoices: "MultipleChoices", MovedPermanently: "MovedPermanently", Found: "Found",
	SeeOther: "SeeOther", NotModified: "NotModified", UseProxy: "UseProxy",
	TemporaryRedirect: "TemporaryRedirect", BadRequest: "BadRequest", Unauthorized: "Unauthorized",
	PaymentRequired: "PaymentRequired", Forbidden: "Forbidden", NotFound: "NotFound",
	MethodNotAllowed: "MethodNotAllowed", NotAcceptable: "NotAcceptable",
	ProxyAuthenticationRequired: "ProxyAuthenticationRequired", RequestTimeout: "RequestTimeout",
	Conflict: "Conflict", Gone: "Gone", LengthRequired: "LengthRequired",
	PreconditionFailed: "PreconditionFailed", RequestEntityTooLarge: "RequestEntityTooLarge",
	RequestUriTooLong: "RequestUriTooLong", UnsupportedMediaType: "UnsupportedMediaType",
	RequestedRangeNotSatisfiable: "RequestedRangeNotSatisfiable", ExpectationFailed: "ExpectationFailed",
	InternalServerError: "InternalServerError", NotImplemented: "NotImplemented",
	BadGateway: "BadGateway", ServiceUnavailable: "ServiceUnavailable",
	GatewayTimeout: "GatewayTimeout", HttpVersionNotSupported: "HttpVersionNotSupported",
}

// String returns the WinRT name of s, or "WebErrorStatus(n)" for a value
// WinRT does not define.
func (s WebErrorStatus) String() string {
	if n, ok := webErrorNames[s]; ok {
		return n
	}
	return "WebErrorStatus(" + strconv.Itoa(int(s)) + ")"
}

// HTTP status code s stands for, if it is one (300 and up).
func (s WebErrorStatus) isHTTP() bool { return s >= 300 }

// fromHTTPStatus returns the WebErrorStatus for an HTTP status code a
// server answered a handshake with: the code itself where WinRT names it,
// else the Unexpected... value of its class.
func fromHTTPStatus(code int) WebErrorStatus {
	s := WebErrorStatus(code)
	if _, ok := webErrorNames[s]; ok && s.isHTTP() {
		return s
	}
	switch {
	case code >= 300 && code < 400:
		return UnexpectedRedirection
	case code >= 400 && code < 500:
		return UnexpectedClientError
	case code >= 500 && code < 600:
		return UnexpectedServerError
	}
	return UnexpectedStatusCode
}

// HRESULTs that WinRT's WebSocket classes report, beside the socket ones.
const (
	// httpStatusBase | code is HTTP_E_STATUS_*, e.g. 0x80190194 for 404.
	httpStatusBase socketerror.HResult = 0x80190000

	hrTimeout              socketerror.HResult = 0x80072EE2 // WININET_E_TIMEOUT
	hrNameNotResolved      socketerror.HResult = 0x80072EE7 // WININET_E_NAME_NOT_RESOLVED
	hrOperationCancelled   socketerror.HResult = 0x80072EF1 // WININET_E_OPERATION_CANCELLED
	hrCertDateInvalid      socketerror.HResult = 0x80072F05 // WININET_E_SEC_CERT_DATE_INVALID
	hrCertCNInvalid        socketerror.HResult = 0x80072F06 // WININET_E_SEC_CERT_CN_INVALID
	hrCertErrors           socketerror.HResult = 0x80072F17 // WININET_E_SEC_CERT_ERRORS
	hrCannotConnect        socketerror.HResult = 0x80072EFD // WININET_E_CANNOT_CONNECT
	hrConnectionAborted    socketerror.HResult = 0x80072EFE // WININET_E_CONNECTION_ABORTED
	hrConnectionReset      socketerror.HResult = 0x80072EFF // WININET_E_CONNECTION_RESET
	hrInvalidServerResp    socketerror.HResult = 0x80072F78 // WININET_E_INVALID_SERVER_RESPONSE
	hrRedirectFailed       socketerror.HResult = 0x80072F7C // WININET_E_REDIRECT_FAILED
	hrDisconnected         socketerror.HResult = 0x80072F83 // WININET_E_DISCONNECTED
	hrServerUnreachable    socketerror.HResult = 0x80072F84 // WININET_E_SERVER_UNREACHABLE
	hrCertInvalid          socketerror.HResult = 0x80072F89 // WININET_E_SEC_INVALID_CERT
	hrCertRevoked          socketerror.HResult = 0x80072F8A // WININET_E_SEC_CERT_REVOKED
	hrHTTPStatusUnexpected socketerror.HResult = 0x80190001 // HTTP_E_STATUS_UNEXPECTED
)

var wininetStatus = map[socketerror.HResult]WebErrorStatus{
	hrTimeout: Timeout, hrNameNotResolved: HostNameNotResolved, hrOperationCancelled: OperationCanceled,
	hrCertDateInvalid: CertificateExpired, hrCertCNInvalid: CertificateCommonNameIsIncorrect,
	hrCertErrors: CertificateContainsErrors, hrCannotConnect: CannotConnect,
	hrConnectionAborted: ConnectionAborted, hrConnectionReset: ConnectionReset,
	hrInvalidServerResp: ErrorHttpInvalidServerResponse, hrRedirectFailed: RedirectFailed,
	hrDisconnected: Disconnected, hrServerUnreachable: ServerUnreachable,
	hrCertInvalid: CertificateIsInvalid, hrCertRevoked: CertificateRevoked,
	hrHTTPStatusUnexpected: UnexpectedStatusCode,
}

// StatusOf returns the WebErrorStatus for an HRESULT, as WinRT's
// WebSocketError.GetStatus(int) does: HTTP_E_STATUS_* codes give their
// HTTP status, WININET_E_* codes their status, and socket and certificate
// HRESULTs what [GetStatus] gives for their SocketErrorStatus. Anything
// else is Unknown.
func StatusOf(h socketerror.HResult) WebErrorStatus {
	if st, ok := wininetStatus[h]; ok {
		return st
	}
	if h&0xFFFF0000 == httpStatusBase {
		return fromHTTPStatus(int(h & 0xFFFF))
	}
	return fromSocketStatus(socketerror.StatusOf(h))
}

// GetStatus returns the WebErrorStatus of any error, as WinRT's
// WebSocketError.GetStatus does: the Status of an [*Error] found with
// errors.As; else the status the HRESULT or SocketErrorStatus of a
// *socketerror.Error stands for; else the classification of err. A
// handshake the server refused gives its HTTP status (NotFound, Forbidden,
// ...), an unresolvable host HostNameNotResolved, a refused connect
// CannotConnect, a connection reset or dropped without a close frame
// ConnectionAborted, an expired deadline Timeout, a cancelled context
// OperationCanceled, and certificate failures the Certificate... values.
// It returns Unknown for nil.
func GetStatus(err error) WebErrorStatus {
	if err == nil {
		return Unknown
	}
	var we *Error
	if errors.As(err, &we) {
		return we.Status
	}
	var se *socketerror.Error
	if errors.As(err, &se) {
		if st := StatusOf(se.HResult); st != Unknown {
			return st
		}
		return fromSocketStatus(se.Status)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return ConnectionAborted
	}
	return fromSocketStatus(socketerror.Classify(err))
}

// fromSocketStatus maps a SocketErrorStatus to the WebErrorStatus of the
// same failure met under a WebSocket.
func fromSocketStatus(st socketerror.Status) WebErrorStatus {
	switch st {
	case socketerror.OperationAborted:
		return OperationCanceled
	case socketerror.ConnectionTimedOut:
		return Timeout
	case socketerror.HttpInvalidServerResponse:
		return ErrorHttpInvalidServerResponse
	case socketerror.HostNotFound, socketerror.NoDataRecordOfRequestedType,
		socketerror.NonAuthoritativeHostNotFound, socketerror.NoAddressesFound:
		return HostNameNotResolved
	case socketerror.ConnectionRefused, socketerror.ClassTypeNotFound, socketerror.AddressFamilyNotSupported,
		socketerror.SocketTypeNotSupported, socketerror.AddressAlreadyInUse,
		socketerror.CannotAssignRequestedAddress:
		return CannotConnect
	case socketerror.NetworkIsUnreachable, socketerror.UnreachableHost, socketerror.NetworkIsDown,
		socketerror.HostIsDown:
		return ServerUnreachable
	case socketerror.ConnectionResetByPeer, socketerror.SoftwareCausedConnectionAbort,
		socketerror.NetworkDroppedConnectionOnReset:
		return ConnectionAborted
	case socketerror.CertificateExpired:
		return CertificateExpired
	case socketerror.CertificateCommonNameIsIncorrect:
		return CertificateCommonNameIsIncorrect
	case socketerror.CertificateRevoked:
		return CertificateRevoked
	case socketerror.CertificateIsInvalid:
		return CertificateIsInvalid
	case socketerror.CertificateUntrustedRoot, socketerror.CertificateWrongUsage,
		socketerror.CertificateNoRevocationCheck, socketerror.CertificateRevocationServerOffline:
		return CertificateContainsErrors
	}
	return Unknown
}

// Error is a failed WebSocket operation: a connect, a handshake, a send,
// or the end of a connection as a Closed event reports it. It carries the
// WebErrorStatus, and wraps the *socketerror.Error with the
// SocketErrorStatus and HRESULT (errors.As finds both). A handshake the
// server refused wraps an error whose HRESULT is HTTP_E_STATUS_* of the
// code, as WinRT reports it.
type Error struct {
	// Op names the operation, e.g. "MessageWebSocket.Connect".
	Op string
	// URI is the WebSocket URI, or the peer's address on a server.
	URI string
	// Status is the WebErrorStatus WinRT would report.
	Status WebErrorStatus
	// HTTPStatus is the status code of a handshake response that was not
	// 101 Switching Protocols (sent or received), else 0.
	HTTPStatus int
	// Err is the underlying error, a *socketerror.Error.
	Err error
}

// Error formats e as "op uri: Status: cause".
func (e *Error) Error() string {
	s := e.Op
	if e.URI != "" {
		s += " " + e.URI
	}
	s += ": " + e.Status.String()
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying *socketerror.Error.
func (e *Error) Unwrap() error { return e.Err }

// Timeout reports whether the error is a time-out, as net.Error does.
func (e *Error) Timeout() bool { return e.Status == Timeout }

// wrapError makes err, which the caller has classified as st, an *Error
// for op on uri. err is wrapped as a *socketerror.Error if it is not one.
func wrapError(op, uri string, st WebErrorStatus, err error) *Error {
	return &Error{Op: op, URI: uri, Status: st, Err: socketerror.New(op, uri, err)}
}

// classify makes err an *Error for op on uri with the status GetStatus
// finds for it. An *Error is returned as it is.
func classify(op, uri string, err error) error {
	if err == nil {
		return nil
	}
	var we *Error
	if errors.As(err, &we) {
		return err
	}
	return wrapError(op, uri, GetStatus(err), err)
}

// httpError is the *Error of a handshake answered (or, on a server,
// refused) with HTTP status code: it wraps a *socketerror.Error carrying
// HTTP_E_STATUS_* of the code, and the message msg.
func httpError(op, uri string, code int, msg string) *Error {
	st := fromHTTPStatus(code)
	h := httpStatusBase | socketerror.HResult(code&0xFFFF)
	if code < 100 || code > 599 {
		h = hrHTTPStatusUnexpected
	}
	return &Error{Op: op, URI: uri, Status: st, HTTPStatus: code,
		Err: &socketerror.Error{Op: op, Addr: uri, Status: socketerror.Unknown, HResult: h, Message: msg}}
}

// protocolError is the *Error of a peer that broke the WebSocket or HTTP
// protocol: ErrorHttpInvalidServerResponse, with WinRT's HRESULT for it.
func protocolError(op, uri string, err error) *Error {
	return &Error{Op: op, URI: uri, Status: ErrorHttpInvalidServerResponse,
		Err: &socketerror.Error{Op: op, Addr: uri, Status: socketerror.HttpInvalidServerResponse,
			HResult: hrInvalidServerResp, Err: err}}
}

// abortedError is the *Error of a connection that ended without a close
// handshake: ConnectionAborted, keeping the socket status of err when it
// has one (a reset), else WININET_E_CONNECTION_ABORTED.
func abortedError(op, uri string, err error) *Error {
	inner := socketerror.New(op, uri, err)
	var se *socketerror.Error
	if errors.As(inner, &se) && se.Status == socketerror.Unknown && se.HResult == socketerror.EFail {
		c := *se
		c.HResult = hrConnectionAborted
		inner = &c
	}
	return &Error{Op: op, URI: uri, Status: ConnectionAborted, Err: inner}
}
