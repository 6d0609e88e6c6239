// Command brokerplugin is a Go plugin that takes part in a socket's trip
// through the host's socket broker: told by SocketActivity of a stream
// socket held for its task, it reclaims it, echoes the first N bytes
// (N is its argument) and transfers it to the task "a", with the context
// "from plugin". It logs "got" with the context it was given. If the
// transfer fails it logs "transfer failed" and echoes to end of stream.
// With a second argument "hop", its first instance transfers the socket
// to its own task instead, under the id "hop" with the context "from
// mover", logs "hopped" and exits: the next instance takes it from
// there. With the argument "park" it transfers a listener and a datagram
// socket instead (park.go).
package main

import (
	"context"
	"io"
	"math"
	"os"
	"strconv"
	"time"

	"github.com/netrun/netrun/bindings/plugin/sdk"
	"github.com/netrun/netrun/runtime/sockets"
)

func main() { sdk.Serve(sdk.PluginFunc(run)) }

func run(ctx context.Context, h *sdk.Host) error {
	switch os.Args[1] {
	case "park":
		return park(ctx, h)
	case "adopt":
		return adopt(ctx, h)
	}
	n, err := strconv.Atoi(os.Args[1])
	if err != nil {
		return err
	}
	hop := len(os.Args) > 2 && os.Args[2] == "hop" && h.Instance() == 1
	log := h.Logger()
	log.Info("ready")
	// The sockets held when the session started come first: a trigger
	// raised to an instance that was exiting is not raised again.
	held := h.HeldSockets()
	for {
		var a sdk.SocketActivity
		if len(held) > 0 {
			a, held = held[0], held[1:]
		} else if a, err = h.SocketActivity(ctx); err != nil {
			return err
		}
		if a.Kind != sdk.KindStreamSocket {
			continue
		}
		s, err := h.ReclaimHeldStreamSocket(ctx, a.SocketID)
		if err != nil {
			continue // a trigger raised before an earlier reclaim
		}
		log.Info("got", "context", string(a.Context), "reason", int(a.Reason))
		if err := echo(ctx, s, n); err != nil {
			log.Error("echo failed", "err", err)
			s.Close()
			continue
		}
		if hop {
			s.EnableTransferOwnership(h.Name())
			if err := s.TransferToBroker(ctx, "hop", []byte("from mover"), 0); err != nil {
				return err
			}
			log.Info("hopped")
			return nil
		}
		s.EnableTransferOwnership("a")
		if err := s.TransferToBroker(ctx, "conn", []byte("from plugin"), 0); err != nil {
			// The plugin keeps the socket: it echoes the rest itself.
			log.Info("transfer failed", "err", err.Error())
			if err := echo(ctx, s, math.MaxInt); err != io.EOF {
				log.Error("echo to the end failed", "err", err)
			}
			s.Close()
			continue
		}
		log.Info("transferred")
	}
}

// echo writes back the first n bytes s reads (io.EOF if the stream
// ends first).
func echo(ctx context.Context, s *sdk.StreamSocket, n int) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	buf := make([]byte, 4096)
	for got := 0; got < n; {
		m, err := s.InputStream().Read(ctx, buf[:min(len(buf), n-got)], sockets.Partial)
		if err != nil {
			return err
		}
		got += m
		if _, err := s.OutputStream().Write(ctx, buf[:m]); err != nil {
			return err
		}
	}
	return nil
}
