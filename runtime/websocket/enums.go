package websocket

import "strconv"

// SocketMessageType is WinRT's SocketMessageType: whether a message is
// binary data or UTF-8 text. The numeric values are WinRT's.
type SocketMessageType int32

// The SocketMessageType values.
const (
	// Binary is a binary message (opcode 2).
	Binary SocketMessageType = 0
	// Utf8 is a text message (opcode 1), which must be valid UTF-8.
	Utf8 SocketMessageType = 1
)

// String returns the WinRT name of t.
func (t SocketMessageType) String() string {
	switch t {
	case Binary:
		return "Binary"
	case Utf8:
		return "Utf8"
	}
	return "SocketMessageType(" + strconv.Itoa(int(t)) + ")"
}

// MessageWebSocketReceiveMode is WinRT's MessageWebSocketReceiveMode:
// whether MessageReceived carries whole messages or pieces of them as they
// arrive. The numeric values are WinRT's.
type MessageWebSocketReceiveMode int32

// The MessageWebSocketReceiveMode values.
const (
	// FullMessage raises MessageReceived once per message, with all of it.
	FullMessage MessageWebSocketReceiveMode = 0
	// PartialMessage raises MessageReceived for each piece of a message
	// as it arrives; IsMessageComplete marks the last piece.
	PartialMessage MessageWebSocketReceiveMode = 1
)

// String returns the WinRT name of m.
func (m MessageWebSocketReceiveMode) String() string {
	switch m {
	case FullMessage:
		return "FullMessage"
	case PartialMessage:
		return "PartialMessage"
	}
	return "MessageWebSocketReceiveMode(" + strconv.Itoa(int(m)) + ")"
}

// PasswordCredential is the part of
// Windows.Security.Credentials.PasswordCredential that a WebSocket uses: a
// user name and password for HTTP authentication.
type PasswordCredential struct {
	UserName string
	Password string
}
