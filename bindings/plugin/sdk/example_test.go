package sdk_test

import (
	"context"
	"testing"

	"github.com/netrun/netrun/bindings/plugin/sdk"
	"github.com/netrun/netrun/internal/testpeer"
	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/sockets"
)

// The SDK's behaviour is tested end to end, against the real host, by
// bindings/plugin/host's tests (TestSDK, TestGoPluginEcho,
// TestKill9UnderLoad); this package holds its examples.
func TestMain(m *testing.M) { testpeer.VerifyTestMain(m) }

// A TCP echo plugin: main calls Serve, and Run binds a listener whose
// connections are served on goroutines of their own.
func ExampleServe() {
	sdk.Serve(sdk.PluginFunc(func(ctx context.Context, h *sdk.Host) error {
		l := h.NewStreamSocketListener()
		defer l.Close()
		l.ConnectionReceived().Add(func(a *sdk.ConnectionReceivedEventArgs) {
			go func() {
				s := a.Socket
				defer s.Close()
				buf := make([]byte, 16<<10)
				for {
					n, err := s.InputStream().Read(ctx, buf, sockets.Partial)
					if err != nil {
						return // io.EOF at end of stream
					}
					if _, err := s.OutputStream().Write(ctx, buf[:n]); err != nil {
						return
					}
				}
			}()
		})
		host, err := networking.NewHostName("127.0.0.1")
		if err != nil {
			return err
		}
		if err := l.BindEndpoint(ctx, host, "7090"); err != nil {
			return err // E_ACCESSDENIED without the loopback capability
		}
		h.Logger().Info("listening", "port", l.Information().LocalPort())
		<-ctx.Done()
		return nil
	}))
}

// A plugin that survives its own crash: it transfers its listener and
// reclaims it when it starts again.
func ExampleHost_Transferred() {
	sdk.Serve(sdk.PluginFunc(func(ctx context.Context, h *sdk.Host) error {
		var l *sdk.StreamSocketListener
		for _, t := range h.Transferred() {
			if t.Kind == sdk.KindStreamSocketListener {
				rl, err := h.ReclaimStreamSocketListener(ctx, t.ID)
				if err != nil {
					return err
				}
				l = rl
			}
		}
		if l == nil {
			l = h.NewStreamSocketListener()
			host, _ := networking.NewHostName("127.0.0.1")
			if err := l.BindEndpoint(ctx, host, "7090"); err != nil {
				return err
			}
			if err := l.TransferOwnership(ctx, []byte("listener")); err != nil {
				return err
			}
		}
		l.ConnectionReceived().Add(func(a *sdk.ConnectionReceivedEventArgs) { a.Socket.Close() })
		<-ctx.Done()
		return nil
	}))
}
