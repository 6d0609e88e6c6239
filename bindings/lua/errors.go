package lua

import (
	"errors"
	"fmt"

	glua "github.com/yuin/gopher-lua"

	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/websocket"
)

// luaError is what a failed operation raises in Lua: err.HResult,
// err.Status and err.Message, and tostring(err) names the status.
type luaError struct {
	HResult socketerror.HResult
	Status  socketerror.Status
	Web     websocket.WebErrorStatus // WebSocketError.GetStatus(err)
	Message string
}

// String formats the error as tostring(err) shows it.
func (e *luaError) String() string {
	name := e.Status.String()
	switch e.HResult {
	case socketerror.EInvalidArg:
		name = "InvalidArgument"
	case socketerror.EIllegalMethodCall:
		name = "IllegalMethodCall"
	case socketerror.EAccessDenied:
		name = "AccessDenied"
	case socketerror.EClosed:
		name = "Closed"
	case eBounds:
		name = "OutOfBounds"
	}
	return fmt.Sprintf("%s (%s): %s", name, e.HResult, e.Message)
}

// toLuaError converts a Go error into the value Lua code sees.
func toLuaError(err error) *luaError {
	web := websocket.GetStatus(err)
	var se *socketerror.Error
	if errors.As(err, &se) {
		return &luaError{HResult: se.HResult, Status: se.Status, Web: web, Message: err.Error()}
	}
	return &luaError{HResult: socketerror.HResultOf(err), Status: socketerror.GetStatus(err), Web: web, Message: err.Error()}
}

var errorClass = &class{
	name: "Error",
	getters: map[string]getter{
		"HResult": func(L *glua.LState, o any) glua.LValue { return glua.LNumber(o.(*luaError).HResult) },
		"Status":  func(L *glua.LState, o any) glua.LValue { return glua.LNumber(o.(*luaError).Status) },
		"Message": func(L *glua.LState, o any) glua.LValue { return glua.LString(o.(*luaError).Message) },
	},
	tostring: func(o any) string { return o.(*luaError).String() },
}

// raiseError raises err in L as a netrun error value.
func raiseError(L *glua.LState, err error) {
	L.Error(newObject(L, errorClass, toLuaError(err)), 0)
}

// raiseArg raises E_INVALIDARG naming the method and the argument.
func raiseArg(L *glua.LState, method string, n int, arg, format string, a ...any) {
	L.Error(newObject(L, errorClass, &luaError{
		HResult: socketerror.EInvalidArg,
		Message: fmt.Sprintf("%s: argument #%d (%s): %s", method, n, arg, fmt.Sprintf(format, a...)),
	}), 0)
}

// raiseIllegal raises E_ILLEGAL_METHOD_CALL for method.
func raiseIllegal(L *glua.LState, method, format string, a ...any) {
	L.Error(newObject(L, errorClass, &luaError{
		HResult: socketerror.EIllegalMethodCall,
		Message: fmt.Sprintf("%s: %s", method, fmt.Sprintf(format, a...)),
	}), 0)
}
