package sdk_test

import (
	"context"

	"github.com/netrun/netrun/bindings/plugin/sdk"
	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/websocket"
)

// A WebSocket echo plugin: each connection of the listener becomes a
// ServerMessageWebSocket that sends every message back with its type.
func ExampleAcceptMessage() {
	sdk.Serve(sdk.PluginFunc(func(ctx context.Context, h *sdk.Host) error {
		l := h.NewStreamSocketListener()
		defer l.Close()
		l.ConnectionReceived().Add(func(a *sdk.ConnectionReceivedEventArgs) {
			go func() { // the handshake waits for the client: not on the listener's goroutine
				w, err := sdk.AcceptMessage(ctx, a.Socket, websocket.AcceptOptions{Protocols: []string{"chat"}})
				if err != nil {
					return // answered with its HTTP status; the socket is closed
				}
				w.MessageReceived().Add(func(m *sdk.MessageReceivedEventArgs) {
					w.Control().SetMessageType(m.MessageType())
					w.Send(ctx, m.Data())
				})
				w.Closed().Add(func(*sdk.ClosedEventArgs) { w.Close() })
			}()
		})
		host, _ := networking.NewHostName("127.0.0.1")
		if err := l.BindEndpoint(ctx, host, "7093"); err != nil {
			return err
		}
		<-ctx.Done()
		return nil
	}))
}

// A MessageWebSocket client: connect, send a text message, close with a
// code.
func ExampleMessageWebSocket() {
	sdk.Serve(sdk.PluginFunc(func(ctx context.Context, h *sdk.Host) error {
		m := h.NewMessageWebSocket()
		defer m.Close()
		m.Control().AppendSupportedProtocol("chat")
		echoed := make(chan struct{}, 1)
		m.MessageReceived().Add(func(a *sdk.MessageReceivedEventArgs) {
			h.Logger().Info("echo", "type", a.MessageType(), "data", string(a.Data()))
			select {
			case echoed <- struct{}{}:
			default:
			}
		})
		if err := m.Connect(ctx, "ws://127.0.0.1:7093/"); err != nil {
			return err // websocket.GetStatus(err) says why: CannotConnect, NotFound, ...
		}
		m.Control().SetMessageType(websocket.Utf8)
		if err := m.Send(ctx, []byte("hello")); err != nil {
			return err
		}
		select {
		case <-echoed:
		case <-ctx.Done():
		}
		return m.CloseWithStatus(1000, "done")
	}))
}
