package socketerror

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
)

// Error is a failed socket operation. It carries what WinRT's exception
// would (Status and HResult) and what a Go caller wants (the operation, the
// address and the underlying error, reachable through errors.Unwrap).
type Error struct {
	// Op names the operation: "connect", "bind", "read", "write",
	// "resolve", "tls handshake", a method name such as
	// "StreamSocket.Connect", or a property such as "StreamSocketControl.NoDelay".
	Op string
	// Addr is the address or name the operation was about, if any.
	Addr string
	// Status is the SocketErrorStatus WinRT would report.
	Status Status
	// HResult is the HRESULT WinRT would report.
	HResult HResult
	// Err is the underlying error; it may be nil when Message says it all.
	Err error
	// Message, if set, replaces Err's text in Error(): the clear sentence for
	// argument and state errors ("service name 'x': unknown service").
	Message string
}

// Error formats e as "op addr: Status (HRESULT): cause".
func (e *Error) Error() string {
	s := e.Op
	if e.Addr != "" {
		s += " " + e.Addr
	}
	detail := e.Message
	if detail == "" && e.Err != nil {
		detail = e.Err.Error()
	}
	name := e.Status.String()
	switch e.HResult {
	case EInvalidArg:
		name = "invalid argument"
	case EIllegalMethodCall:
		name = "illegal method call"
	case EAccessDenied:
		name = "access denied"
	case EClosed:
		name = "closed"
	}
	s += fmt.Sprintf(": %s (%s)", name, e.HResult)
	if detail != "" {
		s += ": " + detail
	}
	return s
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Timeout reports whether the error is a time-out, so that *Error
// satisfies net.Error's view of deadlines.
func (e *Error) Timeout() bool { return e.Status == ConnectionTimedOut }

// New wraps err as an *Error for operation op on addr, classifying it into a
// Status and HResult. If err already is (or wraps) an *Error, that error's
// status is kept and op and addr are filled in only where it has none. New
// returns nil for a nil err.
func New(op, addr string, err error) error {
	if err == nil {
		return nil
	}
	var se *Error
	if errors.As(err, &se) {
		if se.Op != "" && (se.Addr != "" || addr == "") {
			return err
		}
		c := *se
		if c.Op == "" {
			c.Op = op
		}
		if c.Addr == "" {
			c.Addr = addr
		}
		return &c
	}
	st := Classify(err)
	return &Error{Op: op, Addr: addr, Status: st, HResult: st.HResult(), Err: err}
}

// WithStatus wraps err as an *Error of the given status, for failures whose
// status the caller knows better than [Classify] could guess (a time-out
// that is really a cancelled context, a name that resolved to nothing).
func WithStatus(op, addr string, st Status, err error) error {
	return &Error{Op: op, Addr: addr, Status: st, HResult: st.HResult(), Err: err}
}

// InvalidArg returns an E_INVALIDARG error for operation op that names the
// argument and says what was wrong with it.
func InvalidArg(op, arg, format string, a ...any) error {
	return &Error{Op: op, Status: Unknown, HResult: EInvalidArg,
		Message: fmt.Sprintf("argument %q: %s", arg, fmt.Sprintf(format, a...))}
}

// IllegalCall returns an E_ILLEGAL_METHOD_CALL error for op, explaining the
// state rule the call broke ("cannot be changed after Connect").
func IllegalCall(op, format string, a ...any) error {
	return &Error{Op: op, Status: Unknown, HResult: EIllegalMethodCall, Message: fmt.Sprintf(format, a...)}
}

// AccessDenied returns an E_ACCESSDENIED error for op on addr whose message
// names the capability that was missing.
func AccessDenied(op, addr, capability string) error {
	return &Error{Op: op, Addr: addr, Status: Unknown, HResult: EAccessDenied,
		Message: fmt.Sprintf("the %s capability is required", capability)}
}

// Closed returns the RO_E_CLOSED error for an operation on a closed object.
// It wraps net.ErrClosed so errors.Is(err, net.ErrClosed) holds.
func Closed(op string) error {
	return &Error{Op: op, Status: OperationAborted, HResult: EClosed, Err: net.ErrClosed}
}

// GetStatus returns the SocketErrorStatus of any error: the Status of an
// *Error found with errors.As, or else the classification of err. It returns
// Unknown for nil. It is WinRT's SocketError.GetStatus for Go errors.
func GetStatus(err error) Status {
	if err == nil {
		return Unknown
	}
	var se *Error
	if errors.As(err, &se) {
		return se.Status
	}
	return Classify(err)
}

// HResultOf returns the HRESULT WinRT would report for err: the HResult of
// an *Error found with errors.As, or else that of its classified status. It
// returns 0 (S_OK) for nil.
func HResultOf(err error) HResult {
	if err == nil {
		return 0
	}
	var se *Error
	if errors.As(err, &se) {
		return se.HResult
	}
	return Classify(err).HResult()
}

// Classify maps an error from the Go standard library or the kernel to a
// Status: errno values, resolver errors, x509 verification errors, context
// and deadline errors. It returns Unknown for what it does not recognise.
func Classify(err error) Status {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if st, ok := errnoStatus(errno); ok {
			return st
		}
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		switch {
		case dnsErr.IsNotFound:
			return HostNotFound
		case dnsErr.IsTimeout, dnsErr.IsTemporary:
			return NonAuthoritativeHostNotFound
		}
		return HostNotFound
	}
	var addrErr *net.AddrError
	if errors.As(err, &addrErr) {
		if addrErr.Err == "no suitable address found" {
			return NoAddressesFound
		}
		return HostNotFound
	}
	if st := certStatus(err); st != Unknown {
		return st
	}
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, net.ErrClosed):
		return OperationAborted
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return ConnectionTimedOut
	}
	var recErr tls.RecordHeaderError
	if errors.As(err, &recErr) {
		return HttpInvalidServerResponse
	}
	return Unknown
}

// errnoStatus maps a Linux errno to its status.
func errnoStatus(e syscall.Errno) (Status, bool) {
	switch e {
	case syscall.ECANCELED:
		return OperationAborted, true
	case syscall.ETIMEDOUT:
		return ConnectionTimedOut, true
	case syscall.EAFNOSUPPORT, syscall.EPFNOSUPPORT:
		return AddressFamilyNotSupported, true
	case syscall.ESOCKTNOSUPPORT, syscall.EPROTONOSUPPORT, syscall.EPROTOTYPE:
		return SocketTypeNotSupported, true
	case syscall.EADDRINUSE:
		return AddressAlreadyInUse, true
	case syscall.EADDRNOTAVAIL:
		return CannotAssignRequestedAddress, true
	case syscall.ECONNREFUSED:
		return ConnectionRefused, true
	case syscall.ENETUNREACH:
		return NetworkIsUnreachable, true
	case syscall.EHOSTUNREACH:
		return UnreachableHost, true
	case syscall.ENETDOWN:
		return NetworkIsDown, true
	case syscall.ENETRESET:
		return NetworkDroppedConnectionOnReset, true
	case syscall.ECONNABORTED:
		return SoftwareCausedConnectionAbort, true
	case syscall.ECONNRESET, syscall.EPIPE:
		return ConnectionResetByPeer, true
	case syscall.EHOSTDOWN:
		return HostIsDown, true
	case syscall.EMFILE, syscall.ENFILE:
		return TooManyOpenFiles, true
	case syscall.EMSGSIZE:
		return MessageTooLong, true
	}
	return Unknown, false
}

// certStatus maps x509 verification failures to certificate statuses.
func certStatus(err error) Status {
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) {
		switch invalid.Reason {
		case x509.Expired:
			return CertificateExpired
		case x509.IncompatibleUsage:
			return CertificateWrongUsage
		}
		return CertificateIsInvalid
	}
	var unknownAuth x509.UnknownAuthorityError
	if errors.As(err, &unknownAuth) {
		return CertificateUntrustedRoot
	}
	var hostErr x509.HostnameError
	if errors.As(err, &hostErr) {
		return CertificateCommonNameIsIncorrect
	}
	var sysRoots x509.SystemRootsError
	if errors.As(err, &sysRoots) {
		return CertificateUntrustedRoot
	}
	var constraint x509.ConstraintViolationError
	if errors.As(err, &constraint) {
		return CertificateIsInvalid
	}
	var insecure x509.InsecureAlgorithmError
	if errors.As(err, &insecure) {
		return CertificateIsInvalid
	}
	return Unknown
}
