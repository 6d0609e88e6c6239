package websocket_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"testing"

	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/websocket"
)

func TestWebErrorStatusValues(t *testing.T) {
	for _, tc := range []struct {
		s    websocket.WebErrorStatus
		n    int32
		name string
	}{
		{websocket.Unknown, 0, "Unknown"},
		{websocket.CertificateCommonNameIsIncorrect, 1, "CertificateCommonNameIsIncorrect"},
		{websocket.CertificateIsInvalid, 5, "CertificateIsInvalid"},
		{websocket.Timeout, 7, "Timeout"},
		{websocket.ConnectionAborted, 9, "ConnectionAborted"},
		{websocket.CannotConnect, 14, "CannotConnect"},
		{websocket.HostNameNotResolved, 15, "HostNameNotResolved"},
		{websocket.OperationCanceled, 16, "OperationCanceled"},
		{websocket.MissingContentLengthSupport, 23, "MissingContentLengthSupport"},
		{websocket.MultipleChoices, 300, "MultipleChoices"},
		{websocket.TemporaryRedirect, 307, "TemporaryRedirect"},
		{websocket.Unauthorized, 401, "Unauthorized"},
		{websocket.NotFound, 404, "NotFound"},
		{websocket.RequestUriTooLong, 414, "RequestUriTooLong"},
		{websocket.ExpectationFailed, 417, "ExpectationFailed"},
		{websocket.HttpVersionNotSupported, 505, "HttpVersionNotSupported"},
		{websocket.WebErrorStatus(306), 306, "WebErrorStatus(306)"},
	} {
		if int32(tc.s) != tc.n || tc.s.String() != tc.name {
			t.Errorf("%d: got %d %q, want %q", tc.n, int32(tc.s), tc.s.String(), tc.name)
		}
	}
	if websocket.Utf8 != 1 || websocket.Binary != 0 || websocket.PartialMessage != 1 || websocket.FullMessage != 0 {
		t.Error("SocketMessageType or MessageWebSocketReceiveMode values differ from WinRT's")
	}
}

func TestStatusOf(t *testing.T) {
	for _, tc := range []struct {
		h    socketerror.HResult
		want websocket.WebErrorStatus
	}{
		{0x80190194, websocket.NotFound},
		{0x80190193, websocket.Forbidden},
		{0x801901A2, websocket.UnexpectedClientError}, // 418
		{0x801901F7, websocket.ServiceUnavailable},    // 503 is named, 599 is not
		{0x8019024F, websocket.UnexpectedServerError},
		{0x80190258, websocket.UnexpectedStatusCode}, // 600 is not HTTP
		{0x80072EE7, websocket.HostNameNotResolved},
		{0x80072EFD, websocket.CannotConnect},
		{0x80072EFE, websocket.ConnectionAborted},
		{0x80072EE2, websocket.Timeout},
		{0x8007274D, websocket.CannotConnect},       // WSAECONNREFUSED
		{0x80072AF9, websocket.HostNameNotResolved}, // WSAHOST_NOT_FOUND
		{0x8007274C, websocket.Timeout},             // WSAETIMEDOUT
		{0x80072746, websocket.ConnectionAborted},   // WSAECONNRESET
		{0x800B0101, websocket.CertificateExpired},
		{0x800B0109, websocket.CertificateContainsErrors},
		{0x800B010F, websocket.CertificateCommonNameIsIncorrect},
		{socketerror.EInvalidArg, websocket.Unknown},
	} {
		if got := websocket.StatusOf(tc.h); got != tc.want {
			t.Errorf("StatusOf(%s) = %s, want %s", tc.h, got, tc.want)
		}
	}
}

func TestGetStatus(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want websocket.WebErrorStatus
	}{
		{nil, websocket.Unknown},
		{errors.New("other"), websocket.Unknown},
		{io.EOF, websocket.ConnectionAborted},
		{syscall.ECONNRESET, websocket.ConnectionAborted},
		{syscall.ECONNREFUSED, websocket.CannotConnect},
		{syscall.EHOSTUNREACH, websocket.ServerUnreachable},
		{context.Canceled, websocket.OperationCanceled},
		{os.ErrDeadlineExceeded, websocket.Timeout},
		{socketerror.Closed("x"), websocket.OperationCanceled},
		{socketerror.InvalidArg("x", "y", "z"), websocket.Unknown},
		{fmt.Errorf("wrapped: %w", &websocket.Error{Status: websocket.Gone}), websocket.Gone},
	} {
		if got := websocket.GetStatus(tc.err); got != tc.want {
			t.Errorf("GetStatus(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}
