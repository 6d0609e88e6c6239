// Command sdkcheck is a Go plugin that exercises the SDK's classes and
// errors against the real host and logs one JSON record per check
// ("check", with name, ok and detail), then "checks done".
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/netrun/netrun/bindings/plugin/sdk"
	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
)

func main() { sdk.Serve(sdk.PluginFunc(run)) }

func run(ctx context.Context, h *sdk.Host) error {
	log := h.Logger()
	check := func(name string, err error) {
		if err != nil {
			log.Info("check", "name", name, "ok", false, "detail", err.Error())
			return
		}
		log.Info("check", "name", name, "ok", true)
	}
	local, _ := networking.NewHostName("127.0.0.1")
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()

	// A listener and a connection to it, both through the host: echo one
	// message, then end of stream is io.EOF.
	l := h.NewStreamSocketListener()
	accepted := make(chan *sdk.StreamSocket, 1)
	l.ConnectionReceived().Add(func(a *sdk.ConnectionReceivedEventArgs) { accepted <- a.Socket })
	check("listener bind", l.BindEndpoint(ctx, local, "0"))
	port := l.Information().LocalPort()
	c := h.NewStreamSocket()
	check("connect", c.Connect(ctx, local, port, sockets.PlainSocket))
	srv := <-accepted
	_, err := c.OutputStream().Write(ctx, []byte("ping"))
	check("write", err)
	buf := make([]byte, 4)
	n, err := srv.InputStream().Read(ctx, buf, sockets.InputStreamNone)
	if err == nil && string(buf[:n]) != "ping" {
		err = fmt.Errorf("read %q", buf[:n])
	}
	check("read fills the buffer", err)
	check("flush", c.OutputStream().Flush(ctx))
	c.Close()
	_, err = srv.InputStream().Read(ctx, buf, sockets.Partial)
	if err != io.EOF {
		err = fmt.Errorf("read after the peer closed: %v, want io.EOF", err)
	} else {
		err = nil
	}
	check("end of stream is io.EOF", err)
	srv.Close()
	_, err = srv.InputStream().Read(ctx, buf, sockets.Partial)
	if !errors.Is(err, net.ErrClosed) {
		err = fmt.Errorf("read after Close: %v, want net.ErrClosed", err)
	} else {
		err = nil
	}
	check("a closed socket is net.ErrClosed", err)

	// A read whose context ends returns OperationAborted and loses
	// nothing: the bytes that come later are read next.
	c2 := h.NewStreamSocket()
	check("connect again", c2.Connect(ctx, local, port, sockets.PlainSocket))
	srv2 := <-accepted
	rctx, rcancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = srv2.InputStream().Read(rctx, buf, sockets.Partial)
	rcancel()
	if socketerror.GetStatus(err) != socketerror.ConnectionTimedOut {
		err = fmt.Errorf("read past its deadline: %v, want ConnectionTimedOut", err)
	} else {
		err = nil
	}
	check("a read past its deadline times out", err)
	c2.OutputStream().Write(ctx, []byte("late"))
	n, err = srv2.InputStream().Read(ctx, buf, sockets.InputStreamNone)
	if err == nil && string(buf[:n]) != "late" {
		err = fmt.Errorf("read %q after a timed-out read, want \"late\"", buf[:n])
	}
	check("no byte lost to a timed-out read", err)
	c2.Close()
	srv2.Close()
	l.Close()

	// A refused connect carries the runtime's status and HRESULT.
	refused := h.NewStreamSocket()
	err = refused.Connect(ctx, local, port, sockets.PlainSocket) // the listener is closed
	var se *socketerror.Error
	if !errors.As(err, &se) || se.Status != socketerror.ConnectionRefused || se.HResult != 0x8007274D {
		err = fmt.Errorf("connect to a closed port: %v, want ConnectionRefused 0x8007274D", err)
	} else {
		err = nil
	}
	check("refused connect", err)

	// Datagrams: a socket bound to an ephemeral port receives what
	// another sends it.
	d1, d2 := h.NewDatagramSocket(), h.NewDatagramSocket()
	got := make(chan string, 1)
	d1.MessageReceived().Add(func(a *sdk.DatagramSocketMessageReceivedEventArgs) { got <- string(a.Data()) })
	check("datagram bind", d1.BindEndpoint(ctx, local, "0"))
	out, err := d2.GetOutputStream(ctx, local, d1.Information().LocalPort())
	check("datagram output stream", err)
	if err == nil {
		_, err = out.Write(ctx, []byte("datagram"))
		check("datagram send", err)
	}
	select {
	case m := <-got:
		if m != "datagram" {
			check("datagram received", fmt.Errorf("got %q", m))
		} else {
			check("datagram received", nil)
		}
	case <-ctx.Done():
		check("datagram received", ctx.Err())
	}
	d1.Close()
	d2.Close()
	log.Info("checks done")
	<-ctx.Done()
	return nil
}
