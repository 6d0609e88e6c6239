// Package websocket implements WinRT's WebSocket classes of
// Windows.Networking.Sockets on top of runtime/sockets and
// github.com/coder/websocket: the clients [MessageWebSocket] and
// [StreamWebSocket], and the server ends [ServerMessageWebSocket] and
// [ServerStreamWebSocket], with their Control and Information companions,
// WinRT's WebErrorStatus and WebSocketError.GetStatus ([GetStatus]).
//
// Start with [NewMessageWebSocket] or [NewStreamWebSocket] and Connect to
// a ws:// or wss:// URI; on a server, pass a socket from a
// sockets.StreamSocketListener's ConnectionReceived to [AcceptMessage] or
// [AcceptStream]. Calls block and take a context; the bindings add the
// ...Async projection. Events are event.Event values.
//
// Every connection is a sockets.StreamSocket made from the caller's
// sockets.Env, so capability checks, name resolution, trust roots and
// SocketErrorStatus mapping are those of plain sockets, and wss uses the
// StreamSocket's TLS validation with its ignorable errors. coder/websocket
// runs the handshake and the framing over the socket's connection.
//
// Errors are, or wrap, a *socketerror.Error with the SocketErrorStatus and
// HRESULT; network and handshake failures are an [*Error] around it that
// carries the WebErrorStatus. docs/websocket.md describes the semantics:
// cancellation, held messages, limits, the origin check and the statuses.
//
// Departures from WinRT, each documented where it applies:
//   - Server classes are made with AcceptMessage and AcceptStream, which
//     run the handshake on a socket the application accepted.
//   - MessageReceived handlers may be added after Connect; messages wait
//     for the first handler.
//   - A message over MaxMessageSize, or a text message that is not UTF-8,
//     closes the connection (1009, 1007); MaxMessageSize defaults to 64
//     MiB, not INFINITE.
//   - A lost connection raises Closed with code 1006.
//   - Close and CloseWithStatus are Close() and Close(code, reason).
//   - Credentials are sent with the first request (HTTP Basic); proxies,
//     redirects, extensions (permessage-deflate) and BandwidthStatistics
//     are not supported.
package websocket
