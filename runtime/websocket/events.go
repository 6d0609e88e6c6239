package websocket

import (
	"bytes"
	"io"
)

// MessageReceivedEventArgs is WinRT's
// MessageWebSocketMessageReceivedEventArgs: one message received, or in
// PartialMessage mode one piece of one.
//
// The args and the bytes of Data belong to the connection and are reused
// for the next event: they are valid only until the handler returns. Copy
// what you keep.
type MessageReceivedEventArgs struct {
	typ      SocketMessageType
	complete bool
	data     []byte
}

// NewMessageReceivedEventArgs returns the arguments of a MessageReceived
// event, for code that raises the event itself from messages received
// elsewhere (the plugin SDK, whose messages come over the plugin
// protocol): data is the message or the piece of it, typ its type, and
// complete whether it ends the message.
func NewMessageReceivedEventArgs(data []byte, typ SocketMessageType, complete bool) *MessageReceivedEventArgs {
	return &MessageReceivedEventArgs{typ: typ, complete: complete, data: data}
}

// MessageType returns the type of the message: Binary or Utf8. Every
// piece of a partial message reports the message's type.
func (a *MessageReceivedEventArgs) MessageType() SocketMessageType { return a.typ }

// IsMessageComplete reports whether this event ends its message: always
// in FullMessage mode; on the last piece in PartialMessage mode.
func (a *MessageReceivedEventArgs) IsMessageComplete() bool { return a.complete }

// Data returns the message, or the piece of it, valid until the handler
// returns. It is WinRT's GetDataReader and GetDataStream in one: a text
// message's bytes are valid UTF-8 (a piece may end inside a rune, which
// the next piece completes). An empty message gives an empty slice.
func (a *MessageReceivedEventArgs) Data() []byte { return a.data }

// Reader returns a reader of Data, valid until the handler returns.
func (a *MessageReceivedEventArgs) Reader() io.Reader { return bytes.NewReader(a.data) }

// ClosedEventArgs is WinRT's WebSocketClosedEventArgs: how a connection
// ended.
type ClosedEventArgs struct {
	code   uint16
	reason string
	err    error
}

// NewClosedEventArgs returns the arguments of a Closed event, for code
// that raises the event itself (see [NewMessageReceivedEventArgs]): the
// close code and reason, and err for a connection no close handshake
// ended.
func NewClosedEventArgs(code uint16, reason string, err error) *ClosedEventArgs {
	return &ClosedEventArgs{code: code, reason: reason, err: err}
}

// Code returns the close code: the peer's close frame's (1005 if it had
// none); else the code this side sent with Close (1005 for Close()); else
// 1006 for a connection that ended without a close frame, 1007 when
// netrun closed it for invalid UTF-8, 1009 for a message over
// MaxMessageSize, 1002 for a protocol violation.
func (a *ClosedEventArgs) Code() uint16 { return a.code }

// Reason returns the close reason that came with Code ("" if none).
func (a *ClosedEventArgs) Reason() string { return a.reason }

// Err returns why the connection ended when it did not end by a close
// handshake either side began: an [*Error] (ConnectionAborted for a
// connection lost, ErrorHttpInvalidServerResponse for a protocol
// violation), or nil. A netrun extension: WinRT raises no Closed event for
// a lost connection and reports it through GetDataReader instead.
func (a *ClosedEventArgs) Err() error { return a.err }
