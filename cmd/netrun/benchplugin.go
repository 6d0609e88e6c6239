package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	pluginhost "github.com/netrun/netrun/bindings/plugin/host"
	rthost "github.com/netrun/netrun/runtime/host"
	"github.com/netrun/netrun/runtime/isolation"
	"github.com/netrun/netrun/runtime/sockets"
)

// startPluginEcho runs the first-party echo plugin, served by this binary
// re-executed in plugin mode, behind a plugin host of its own, and returns
// the address it listens on and the function that stops it.
func startPluginEcho(ctx context.Context) (string, func(), error) {
	exe, err := os.Executable()
	if err != nil {
		return "", nil, fmt.Errorf("finding the netrun binary: %w", err)
	}
	bound := make(chan string, 1)
	r := pluginhost.New(pluginhost.Options{
		Logger:     slog.New(slog.DiscardHandler),
		Executable: exe,
		FirstParty: firstPartyNames(),
		Observe: func(e pluginhost.Event) {
			if e.Kind == pluginhost.Bound {
				select {
				case bound <- e.Addr:
				default:
				}
			}
		},
	})
	g, err := r.StartPlugin(ctx, rthost.PluginConfig{Name: "echo", Args: []string{"-addr", "127.0.0.1:0"}},
		&sockets.Env{Guard: isolation.Capabilities(isolation.Loopback)})
	if err != nil {
		return "", nil, err
	}
	select {
	case addr := <-bound:
		return addr, g.Stop, nil
	case <-time.After(30 * time.Second):
		g.Stop()
		return "", nil, errors.New("the echo plugin did not start listening within 30 s")
	case <-ctx.Done():
		g.Stop()
		return "", nil, ctx.Err()
	}
}
