// Package sdk is what a netrun plugin written in Go imports: it serves the
// plugin protocol (bindings/plugin/proto/pluginv1) through
// hashicorp/go-plugin and gives the plugin the same classes, events and
// errors as netrun's runtime, so that plugin code reads like in-process
// code:
//
//	func main() {
//		sdk.Serve(sdk.PluginFunc(func(ctx context.Context, h *sdk.Host) error {
//			l := h.NewStreamSocketListener()
//			l.ConnectionReceived().Add(func(a *sdk.ConnectionReceivedEventArgs) { go serve(ctx, a.Socket) })
//			if err := l.BindServiceName(ctx, "7090", sockets.PlainSocket); err != nil {
//				return err
//			}
//			<-ctx.Done()
//			return nil
//		}))
//	}
//
// Start with [Serve] and a [Plugin]; its Run gets a [*Host], which makes
// [StreamSocket], [StreamSocketListener] and [DatagramSocket] objects, and
// the WebSocket clients [MessageWebSocket] and [StreamWebSocket];
// [AcceptMessage] and [AcceptStream] make the server ends of a
// StreamSocket a listener accepted (runtime/websocket's classes).
// Their methods block and take a context, as the runtime's do, and every
// error is, or wraps, a *socketerror.Error with the SocketErrorStatus and
// HRESULT the runtime reports (errors.Is(err, net.ErrClosed) holds for a
// closed socket; a read at end of stream returns io.EOF).
//
// The sockets live in the host, which checks each connect, bind and send
// against the plugin's capabilities; the SDK sends commands for them on
// one gRPC stream and gets their completions and events back. Commands
// issued concurrently are sent in one stream message, and so are the
// host's events, so a busy plugin pays for batches rather than for
// operations.
//
// Differences from the runtime:
//   - A context that ends during an operation sends the host a Cancel for
//     it and waits for its completion, so no data read for it is lost; a
//     context's deadline travels with the command and is enforced by the
//     host.
//   - TransferOwnership keeps the socket usable by the plugin; it makes the
//     socket survive the plugin's crash or exit (see [Host.Transferred]).
//   - Only the commonly used Control options exist (NoDelay, KeepAlive).
//
// Logs go to stderr (the host logs them with the plugin's name); nothing
// may be written to stdout before Serve has printed go-plugin's handshake
// line, so the SDK writes nothing there.
package sdk
