package socketerror_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/netrun/netrun/runtime/socketerror"
)

// winrt lists every SocketErrorStatus with the name and HRESULT WinRT uses.
var winrt = []struct {
	status  socketerror.Status
	name    string
	hresult socketerror.HResult
}{
	{0, "Unknown", 0x80004005},
	{1, "OperationAborted", 0x800703E3},
	{2, "HttpInvalidServerResponse", 0x80072F78},
	{3, "ConnectionTimedOut", 0x8007274C},
	{4, "AddressFamilyNotSupported", 0x8007273F},
	{5, "SocketTypeNotSupported", 0x8007273C},
	{6, "HostNotFound", 0x80072AF9},
	{7, "NoDataRecordOfRequestedType", 0x80072AFC},
	{8, "NonAuthoritativeHostNotFound", 0x80072AFA},
	{9, "ClassTypeNotFound", 0x8007277D},
	{10, "AddressAlreadyInUse", 0x80072740},
	{11, "CannotAssignRequestedAddress", 0x80072741},
	{12, "ConnectionRefused", 0x8007274D},
	{13, "NetworkIsUnreachable", 0x80072743},
	{14, "UnreachableHost", 0x80072751},
	{15, "NetworkIsDown", 0x80072742},
	{16, "NetworkDroppedConnectionOnReset", 0x80072744},
	{17, "SoftwareCausedConnectionAbort", 0x80072745},
	{18, "ConnectionResetByPeer", 0x80072746},
	{19, "HostIsDown", 0x80072750},
	{20, "NoAddressesFound", 0x80072AFC},
	{21, "TooManyOpenFiles", 0x80072728},
	{22, "MessageTooLong", 0x80072738},
	{23, "CertificateExpired", 0x800B0101},
	{24, "CertificateUntrustedRoot", 0x800B0109},
	{25, "CertificateCommonNameIsIncorrect", 0x800B010F},
	{26, "CertificateWrongUsage", 0x800B0110},
	{27, "CertificateRevoked", 0x80092010},
	{28, "CertificateNoRevocationCheck", 0x80092012},
	{29, "CertificateRevocationServerOffline", 0x80092013},
	{30, "CertificateIsInvalid", 0x800B0108},
}

func TestStatusTable(t *testing.T) {
	if len(winrt) != socketerror.NumStatuses || socketerror.NumStatuses != 31 {
		t.Fatalf("table has %d statuses, package %d, WinRT 31", len(winrt), socketerror.NumStatuses)
	}
	for _, w := range winrt {
		if got := w.status.String(); got != w.name {
			t.Errorf("Status(%d).String() = %q, want %q", w.status, got, w.name)
		}
		if got := w.status.HResult(); got != w.hresult {
			t.Errorf("%s.HResult() = %s, want %s", w.name, got, w.hresult)
		}
		// GetStatus(HRESULT) maps back, except where two statuses share one
		// Winsock code (NoAddressesFound borrows WSANO_DATA) and Unknown.
		if w.status == socketerror.Unknown || w.status == socketerror.NoAddressesFound {
			continue
		}
		if got := socketerror.StatusOf(w.hresult); got != w.status {
			t.Errorf("StatusOf(%s) = %s, want %s", w.hresult, got, w.name)
		}
	}
	if got := socketerror.Status(31).String(); got != "SocketErrorStatus(31)" {
		t.Errorf("String of an undefined status = %q", got)
	}
}

func TestStatusOfOtherHResults(t *testing.T) {
	for _, tc := range []struct {
		h    socketerror.HResult
		want socketerror.Status
	}{
		{socketerror.EAbort, socketerror.OperationAborted},
		{socketerror.EInvalidArg, socketerror.Unknown},
		{socketerror.CertEChaining, socketerror.CertificateUntrustedRoot},
		{socketerror.TrustEExplicitDistrust, socketerror.CertificateRevoked},
		{socketerror.TrustECertSignature, socketerror.CertificateIsInvalid},
		{socketerror.CertEInvalidName, socketerror.CertificateCommonNameIsIncorrect},
		{0x12345678, socketerror.Unknown},
	} {
		if got := socketerror.StatusOf(tc.h); got != tc.want {
			t.Errorf("StatusOf(%s) = %s, want %s", tc.h, got, tc.want)
		}
	}
}

func TestClassify(t *testing.T) {
	wrap := func(e error) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", e)}
	}
	for _, tc := range []struct {
		err  error
		want socketerror.Status
	}{
		{wrap(syscall.ECONNREFUSED), socketerror.ConnectionRefused},
		{wrap(syscall.ECONNRESET), socketerror.ConnectionResetByPeer},
		{wrap(syscall.EADDRINUSE), socketerror.AddressAlreadyInUse},
		{wrap(syscall.EADDRNOTAVAIL), socketerror.CannotAssignRequestedAddress},
		{wrap(syscall.EMSGSIZE), socketerror.MessageTooLong},
		{wrap(syscall.EMFILE), socketerror.TooManyOpenFiles},
		{wrap(syscall.ENETUNREACH), socketerror.NetworkIsUnreachable},
		{wrap(syscall.EHOSTUNREACH), socketerror.UnreachableHost},
		{&net.DNSError{Err: "no such host", Name: "x.test", IsNotFound: true}, socketerror.HostNotFound},
		{&net.DNSError{Err: "server misbehaving", Name: "x.test", IsTemporary: true}, socketerror.NonAuthoritativeHostNotFound},
		{context.Canceled, socketerror.OperationAborted},
		{fmt.Errorf("read: %w", net.ErrClosed), socketerror.OperationAborted},
		{os.ErrDeadlineExceeded, socketerror.ConnectionTimedOut},
		{errors.New("something else"), socketerror.Unknown},
	} {
		if got := socketerror.Classify(tc.err); got != tc.want {
			t.Errorf("Classify(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}

func TestErrorWrapping(t *testing.T) {
	cause := &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	err := socketerror.New("connect", "127.0.0.1:9", cause)
	var se *socketerror.Error
	if !errors.As(err, &se) {
		t.Fatalf("New returned %T, want *Error", err)
	}
	if se.Status != socketerror.ConnectionRefused || se.HResult != 0x8007274D {
		t.Errorf("got %s %s, want ConnectionRefused 0x8007274D", se.Status, se.HResult)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Error("errors.Is(err, ECONNREFUSED) = false; the cause must unwrap")
	}
	want := "connect 127.0.0.1:9: ConnectionRefused (0x8007274D): dial: connect: connection refused"
	if err.Error() != want {
		t.Errorf("Error() = %q\nwant      %q", err.Error(), want)
	}
	// Wrapping again keeps the first classification.
	again := socketerror.New("read", "", fmt.Errorf("outer: %w", err))
	if socketerror.GetStatus(again) != socketerror.ConnectionRefused {
		t.Errorf("re-wrapped status = %s", socketerror.GetStatus(again))
	}
	if socketerror.New("x", "", nil) != nil {
		t.Error("New(nil) != nil")
	}

	arg := socketerror.InvalidArg("StreamSocket.Connect", "remoteServiceName", "port %d out of range", 70000)
	if socketerror.HResultOf(arg) != socketerror.EInvalidArg || socketerror.GetStatus(arg) != socketerror.Unknown {
		t.Errorf("InvalidArg: %s %s", socketerror.HResultOf(arg), socketerror.GetStatus(arg))
	}
	if want := `StreamSocket.Connect: invalid argument (0x80070057): argument "remoteServiceName": port 70000 out of range`; arg.Error() != want {
		t.Errorf("InvalidArg text = %q", arg.Error())
	}
	if !errors.Is(socketerror.Closed("read"), net.ErrClosed) {
		t.Error("Closed does not wrap net.ErrClosed")
	}
}
