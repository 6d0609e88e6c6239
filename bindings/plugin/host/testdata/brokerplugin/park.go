package main

import (
	"context"
	"io"
	"math"
	"strings"
	"sync"

	"github.com/netrun/netrun/bindings/plugin/sdk"
	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/sockets"
)

// park is the "park" mode. The first instance binds a listener and a
// datagram socket on 127.0.0.1, transfers them to the broker for its own
// task under the ids "lst" and "udp", logs "parked" with their ports and
// exits. A later instance serves them with serveHeld: it answers each
// connection's first line L with "got L" and closes it.
func park(ctx context.Context, h *sdk.Host) error {
	log := h.Logger()
	if h.Instance() == 1 {
		local, err := networking.NewHostName("127.0.0.1")
		if err != nil {
			return err
		}
		l := h.NewStreamSocketListener()
		if err := l.BindEndpoint(ctx, local, "0"); err != nil {
			return err
		}
		d := h.NewDatagramSocket()
		if err := d.BindEndpoint(ctx, local, "0"); err != nil {
			return err
		}
		lport, dport := l.Information().LocalPort(), d.Information().LocalPort()
		l.EnableTransferOwnership(h.Name())
		if err := l.TransferToBroker(ctx, "lst", []byte("the listener")); err != nil {
			return err
		}
		d.EnableTransferOwnership(h.Name())
		if err := d.TransferToBroker(ctx, "udp", []byte("the datagram socket"), 0); err != nil {
			return err
		}
		// Closing a transferred socket is a no-op.
		l.Close()
		d.Close()
		log.Info("parked", "listener", lport, "datagram", dport)
		return nil
	}

	return serveHeld(ctx, h, answer, false)
}

// answer reads s's first line L, writes "got L" and closes s.
func answer(ctx context.Context, h *sdk.Host, s *sdk.StreamSocket) {
	defer s.Close()
	var line []byte
	buf := make([]byte, 256)
	for !strings.Contains(string(line), "\n") {
		n, err := s.InputStream().Read(ctx, buf, sockets.Partial)
		if err != nil {
			h.Logger().Error("read failed", "err", err)
			return
		}
		line = append(line, buf[:n]...)
	}
	if _, err := s.OutputStream().Write(ctx, []byte("got "+string(line))); err != nil {
		h.Logger().Error("write failed", "err", err)
	}
}

// adopt is the "adopt" mode: it serves the listener and the datagram
// socket the broker holds for its task, transferred there by another
// guest, with serveHeld: it echoes each connection to its end and each
// datagram back to its sender.
func adopt(ctx context.Context, h *sdk.Host) error {
	return serveHeld(ctx, h, func(ctx context.Context, h *sdk.Host, s *sdk.StreamSocket) {
		defer s.Close()
		if err := echo(ctx, s, math.MaxInt); err != io.EOF {
			h.Logger().Error("echo failed", "err", err)
		}
	}, true)
}

// serveHeld reclaims the first stream socket listener and the first
// datagram socket the broker holds for the plugin's task, each once the
// broker holds something for it, and logs "reclaimed" with the kind, the
// context and how much was held. It logs each connection as "connection"
// with the client's port and hands it to serve on a goroutine of its own;
// it logs each datagram as "datagram" with its payload and the sender's
// port, and with echoDatagrams set sends it back to the sender. It returns when
// the session ends, once every serve returned.
func serveHeld(ctx context.Context, h *sdk.Host, serve func(context.Context, *sdk.Host, *sdk.StreamSocket), echoDatagrams bool) error {
	log := h.Logger()
	var wg sync.WaitGroup // the connection handlers
	defer wg.Wait()
	var l *sdk.StreamSocketListener
	var d *sdk.DatagramSocket
	defer func() {
		if l != nil {
			l.Close()
		}
		if d != nil {
			d.Close()
		}
	}()
	held := h.HeldSockets()
	for {
		var a sdk.SocketActivity
		var err error
		if len(held) > 0 {
			a, held = held[0], held[1:]
		} else if a, err = h.SocketActivity(ctx); err != nil {
			return nil // the session ended
		}
		if a.Buffered == 0 && a.Reason == sdk.ReasonNone {
			continue // nothing arrived yet: its trigger comes
		}
		switch {
		case a.Kind == sdk.KindStreamSocketListener && l == nil:
			if l, err = h.ReclaimHeldStreamSocketListener(ctx, a.SocketID); err != nil {
				log.Error("reclaim failed", "err", err)
				continue
			}
			l.ConnectionReceived().Add(func(e *sdk.ConnectionReceivedEventArgs) {
				log.Info("connection", "port", e.Socket.Information().RemotePort())
				wg.Add(1)
				go func() {
					defer wg.Done()
					serve(ctx, h, e.Socket)
				}()
			})
		case a.Kind == sdk.KindDatagramSocket && d == nil:
			if d, err = h.ReclaimHeldDatagramSocket(ctx, a.SocketID); err != nil {
				log.Error("reclaim failed", "err", err)
				continue
			}
			d.MessageReceived().Add(func(e *sdk.DatagramSocketMessageReceivedEventArgs) {
				log.Info("datagram", "data", string(e.Data()), "port", e.RemotePort())
				if !echoDatagrams {
					return
				}
				out, err := d.GetOutputStream(ctx, e.RemoteAddress(), e.RemotePort())
				if err == nil {
					_, err = out.Write(ctx, e.Data())
				}
				if err != nil {
					log.Error("datagram echo failed", "err", err)
				}
			})
		default:
			continue
		}
		log.Info("reclaimed", "kind", a.Kind.String(), "context", string(a.Context), "buffered", int(a.Buffered))
	}
}
