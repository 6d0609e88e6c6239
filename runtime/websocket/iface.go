package websocket

import (
	"context"

	"github.com/netrun/netrun/runtime/event"
)

// WebSocket is what the four WebSocket classes share, client or server,
// message or stream: WinRT's IWebSocket less ConnectAsync and
// SetRequestHeader, which a server WebSocket does not have. Bindings use
// it to serve a client and a server WebSocket with one piece of code.
type WebSocket interface {
	Closed() *event.Event[*ClosedEventArgs]
	Information() *WebSocketInformation
	Close() error
	CloseWithStatus(code uint16, reason string) error
}

// MessageConn is a message WebSocket: a [MessageWebSocket] or a
// [ServerMessageWebSocket].
type MessageConn interface {
	WebSocket
	MessageReceived() *event.Event[*MessageReceivedEventArgs]
	OutputStream() *MessageOutputStream
	SendNonfinalFrame(ctx context.Context, p []byte) (int, error)
	SendFinalFrame(ctx context.Context, p []byte) (int, error)
}

// StreamConn is a stream WebSocket: a [StreamWebSocket] or a
// [ServerStreamWebSocket].
type StreamConn interface {
	WebSocket
	InputStream() *InputStream
	OutputStream() *OutputStream
}

// MessageTypeControl is the part of a message WebSocket's Control that
// says the type of the messages it sends: [MessageWebSocketControl] and
// [ServerMessageWebSocketControl] have it.
type MessageTypeControl interface {
	MessageType() SocketMessageType
	SetMessageType(SocketMessageType) error
}

var (
	_ MessageConn        = (*MessageWebSocket)(nil)
	_ MessageConn        = (*ServerMessageWebSocket)(nil)
	_ StreamConn         = (*StreamWebSocket)(nil)
	_ StreamConn         = (*ServerStreamWebSocket)(nil)
	_ MessageTypeControl = (*MessageWebSocketControl)(nil)
	_ MessageTypeControl = (*ServerMessageWebSocketControl)(nil)
)
