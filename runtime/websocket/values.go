package websocket

import (
	"maps"
	"slices"
)

// CheckCloseStatus returns the E_INVALIDARG error CloseWithStatus would
// return for code and reason, or nil if they may be sent in a close frame.
// Bindings that close off the caller's goroutine use it to refuse bad
// arguments at once.
func CheckCloseStatus(code uint16, reason string) error {
	return checkClose("WebSocket.Close", code, reason)
}

// WebErrorStatuses returns every named WebErrorStatus value in ascending
// order, for bindings that list the enumeration.
func WebErrorStatuses() []WebErrorStatus {
	return slices.Sorted(maps.Keys(webErrorNames))
}
