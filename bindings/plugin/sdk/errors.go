package sdk

import (
	"errors"
	"net"

	"github.com/netrun/netrun/bindings/plugin/proto/pluginv1"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/websocket"
)

// errorFrom turns the protocol's Error into the runtime's error type.
// RO_E_CLOSED wraps net.ErrClosed, as socketerror.Closed does. An error
// with a WebErrorStatus is a *websocket.Error around the
// *socketerror.Error, as runtime/websocket reports it.
func errorFrom(e *pluginv1.Error) error {
	se := socketErrorFrom(e)
	if e.WebErrorStatus == nil {
		return se
	}
	return &websocket.Error{Op: e.Op, URI: e.Addr, Status: websocket.WebErrorStatus(*e.WebErrorStatus), HTTPStatus: int(e.HttpStatus), Err: se}
}

// socketErrorFrom is errorFrom without the WebErrorStatus.
func socketErrorFrom(e *pluginv1.Error) *socketerror.Error {
	se := &socketerror.Error{
		Op:      e.Op,
		Addr:    e.Addr,
		Status:  socketerror.Status(e.Status),
		HResult: socketerror.HResult(e.Hresult),
		Message: e.Message,
	}
	if se.HResult == socketerror.EClosed {
		se.Err = net.ErrClosed
	}
	return se
}

// closedError is the protocol Error for an operation on a closed socket
// or session.
func closedError(msg string) *pluginv1.Error {
	return &pluginv1.Error{Hresult: uint32(socketerror.EClosed), Status: int32(socketerror.OperationAborted), Message: msg}
}

// ErrorToProto turns any error into the protocol's Error, keeping the
// HRESULT and status an *socketerror.Error carries (the host uses it for
// completions).
func ErrorToProto(err error) *pluginv1.Error {
	e := &pluginv1.Error{
		Hresult: uint32(socketerror.HResultOf(err)),
		Status:  int32(socketerror.GetStatus(err)),
		Message: err.Error(),
	}
	var se *socketerror.Error
	if errors.As(err, &se) {
		e.Op, e.Addr = se.Op, se.Addr
		e.Message = se.Message
		if e.Message == "" && se.Err != nil {
			e.Message = se.Err.Error()
		}
	}
	var we *websocket.Error
	if errors.As(err, &we) {
		st := int32(we.Status)
		e.WebErrorStatus, e.HttpStatus = &st, uint32(max(we.HTTPStatus, 0))
		if e.Op == "" {
			e.Op = we.Op
		}
		if e.Addr == "" {
			e.Addr = we.URI
		}
	}
	return e
}
