// Package echo is netrun's first-party TCP echo plugin: it listens on an
// address (127.0.0.1:7090 unless -addr says otherwise) and writes back
// whatever each connection sends. With -transfer it transfers its
// listener and every connection to the host's socket broker, so that they
// survive the plugin's crash: the restarted plugin reclaims them and the
// connections carry on without losing a byte.
//
// Run it from a config with
//
//	[[plugin]]
//	name = "echo"
//	args = ["-addr", "127.0.0.1:7090"]
//	allow = ["loopback"]
package echo

import (
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"sync"

	"github.com/netrun/netrun/bindings/plugin/sdk"
	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/sockets"
)

// DefaultAddr is where the echo plugin listens without -addr.
const DefaultAddr = "127.0.0.1:7090"

// Plugin is the echo plugin.
type Plugin struct {
	// Addr is host:port to listen on; port 0 picks one.
	Addr string
	// Transfer makes the listener and connections survive a crash.
	Transfer bool
}

// New parses args (-addr, -transfer) into a Plugin.
func New(args []string) (sdk.Plugin, error) {
	fs := flag.NewFlagSet("echo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	p := &Plugin{}
	fs.StringVar(&p.Addr, "addr", DefaultAddr, "host:port to listen on")
	fs.BoolVar(&p.Transfer, "transfer", false, "transfer the listener and connections so they survive a crash")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, errors.New("echo: unexpected argument " + fs.Arg(0))
	}
	return p, nil
}

// Run serves until ctx ends: it reclaims what an earlier instance
// transferred, binds the listener if it did not get one back, and echoes.
func (p *Plugin) Run(ctx context.Context, h *sdk.Host) error {
	log := h.Logger()
	var wg sync.WaitGroup
	defer wg.Wait()
	serve := func(s *sdk.StreamSocket) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.echo(ctx, h, s)
		}()
	}
	var l *sdk.StreamSocketListener
	for _, t := range h.Transferred() {
		switch t.Kind {
		case sdk.KindStreamSocketListener:
			rl, err := h.ReclaimStreamSocketListener(ctx, t.ID)
			if err != nil {
				return err
			}
			l = rl
		case sdk.KindStreamSocket:
			s, err := h.ReclaimStreamSocket(ctx, t.ID)
			if err != nil {
				log.Warn("could not reclaim a connection", "socket", t.ID, "err", err)
				continue
			}
			serve(s)
		}
	}
	reclaimed := l != nil
	if l == nil {
		l = h.NewStreamSocketListener()
	}
	defer l.Close()
	l.ConnectionReceived().Add(func(a *sdk.ConnectionReceivedEventArgs) {
		if p.Transfer {
			if err := a.Socket.TransferOwnership(ctx, nil); err != nil {
				log.Warn("transfer failed", "err", err)
			}
		}
		serve(a.Socket)
	})
	if !reclaimed {
		host, port, err := net.SplitHostPort(p.Addr)
		if err != nil {
			return err
		}
		hn, err := networking.NewHostName(host)
		if err != nil {
			return err
		}
		if err := l.BindEndpoint(ctx, hn, port); err != nil {
			return err
		}
		if p.Transfer {
			if err := l.TransferOwnership(ctx, nil); err != nil {
				return err
			}
		}
	}
	log.Info("echo plugin listening", "port", l.Information().LocalPort(), "reclaimed", reclaimed, "instance", h.Instance())
	<-ctx.Done()
	return nil
}

// echo writes back what s sends until it ends.
func (p *Plugin) echo(ctx context.Context, h *sdk.Host, s *sdk.StreamSocket) {
	defer s.Close()
	buf := make([]byte, 16<<10)
	in, out := s.InputStream(), s.OutputStream()
	for {
		n, err := in.Read(ctx, buf, sockets.Partial)
		if err != nil {
			if err != io.EOF && ctx.Err() == nil {
				h.Logger().Debug("echo read ended", "err", err)
			}
			return
		}
		if _, err := out.Write(ctx, buf[:n]); err != nil {
			return
		}
	}
}
