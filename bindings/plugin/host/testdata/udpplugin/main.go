// Command udpplugin is a Go plugin that checks the SDK's connected
// datagram sockets against the socat UDP echo server whose host:port is
// its argument. It logs one record per check ("check", with name, ok and
// detail), then "checks done". With the arguments "multicast GROUP" it
// joins a multicast group and logs what arrives instead (multicast.go).
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/netrun/netrun/bindings/plugin/sdk"
	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
)

func main() { sdk.Serve(sdk.PluginFunc(run)) }

// message is a datagram raised to a handler.
type message struct{ data, from string }

func run(ctx context.Context, h *sdk.Host) error {
	if os.Args[1] == "multicast" {
		return multicast(ctx, h, os.Args[2])
	}
	log := h.Logger()
	check := func(name string, err error) {
		if err != nil {
			log.Info("check", "name", name, "ok", false, "detail", err.Error())
			return
		}
		log.Info("check", "name", name, "ok", true)
	}
	ehost, eport, err := net.SplitHostPort(os.Args[1])
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	echo, _ := networking.NewHostName(ehost)
	local, _ := networking.NewHostName("127.0.0.1")
	collect := func(d *sdk.DatagramSocket) <-chan message {
		ch := make(chan message, 16)
		d.MessageReceived().Add(func(a *sdk.DatagramSocketMessageReceivedEventArgs) {
			ch <- message{string(a.Data()), net.JoinHostPort(a.RemoteAddress().String(), a.RemotePort())}
		})
		return ch
	}
	next := func(ch <-chan message) (message, error) {
		select {
		case m := <-ch:
			return m, nil
		case <-ctx.Done():
			return message{}, fmt.Errorf("no datagram came")
		}
	}

	// A bound socket connects: a stranger's datagram sent afterwards is
	// dropped, and the echo of what OutputStream sends is the first one
	// raised.
	d := h.NewDatagramSocket()
	defer d.Close()
	msgs := collect(d)
	check("bind", d.BindEndpoint(ctx, local, "0"))
	port := d.Information().LocalPort()
	stranger := h.NewDatagramSocket()
	defer stranger.Close()
	out, err := stranger.GetOutputStream(ctx, local, port)
	check("the stranger's output stream", err)
	check("connect", d.Connect(ctx, echo, eport))
	in := d.Information()
	if in.RemotePort() != eport || in.RemoteAddress().String() != ehost || in.LocalPort() != port {
		err = fmt.Errorf("Information after Connect: local port %s remote %v:%s, want local port %s remote %s", in.LocalPort(), in.RemoteAddress(), in.RemotePort(), port, os.Args[1])
	}
	check("connect: Information names the remote, the port stays", err)
	if err == nil {
		_, err = out.Write(ctx, []byte("stranger"))
	}
	check("the stranger sends", err)
	_, err = d.OutputStream().Write(ctx, []byte("ping"))
	check("OutputStream write", err)
	m, err := next(msgs)
	if err == nil && (m.data != "ping" || m.from != os.Args[1]) {
		err = fmt.Errorf("first datagram raised: %q from %s, want the echo of ping from %s", m.data, m.from, os.Args[1])
	}
	check("only the remote's datagrams are raised", err)
	err = d.Connect(ctx, echo, eport)
	check("a second connect is E_ILLEGAL_METHOD_CALL", wantHResult(err, socketerror.EIllegalMethodCall))

	// A new socket connects without a bind.
	c := h.NewDatagramSocket()
	defer c.Close()
	cmsgs := collect(c)
	check("connect unbound", c.Connect(ctx, echo, eport))
	_, err = c.OutputStream().Write(ctx, []byte("pong"))
	check("unbound: OutputStream write", err)
	m, err = next(cmsgs)
	if err == nil && m.data != "pong" {
		err = fmt.Errorf("got %q, want pong", m.data)
	}
	check("unbound: the echo comes back", err)

	// Control options travel with the connect's bind; afterwards they
	// cannot change.
	o := h.NewDatagramSocket()
	defer o.Close()
	omsgs := collect(o)
	check("Control.DontFragment", o.Control().SetDontFragment(true))
	check("Control.InboundBufferSizeInBytes", o.Control().SetInboundBufferSizeInBytes(1<<16))
	check("Control.OutboundUnicastHopLimit", o.Control().SetOutboundUnicastHopLimit(64))
	check("Control.QualityOfService", o.Control().SetQualityOfService(sockets.LowLatency))
	check("Control: connect", o.Connect(ctx, echo, eport))
	_, err = o.OutputStream().Write(ctx, []byte("with options"))
	if err == nil {
		m, err = next(omsgs)
		if err == nil && m.data != "with options" {
			err = fmt.Errorf("got %q", m.data)
		}
	}
	check("Control: the echo comes back", err)
	err = o.Control().SetMulticastOnly(true)
	check("Control after the bind is E_ILLEGAL_METHOD_CALL naming it", wantNamed(err, socketerror.EIllegalMethodCall, "MulticastOnly"))
	err = h.NewDatagramSocket().Control().SetOutboundUnicastHopLimit(0)
	check("a hop limit of 0 is E_INVALIDARG naming it", wantNamed(err, socketerror.EInvalidArg, "OutboundUnicastHopLimit"))

	// Misuse.
	_, err = h.NewDatagramSocket().OutputStream().Write(ctx, []byte("x"))
	check("OutputStream of an unconnected socket is E_ILLEGAL_METHOD_CALL", wantHResult(err, socketerror.EIllegalMethodCall))
	err = d.JoinMulticastGroup(local)
	check("joining a unicast address is E_INVALIDARG naming it", wantNamed(err, socketerror.EInvalidArg, "127.0.0.1"))
	group, _ := networking.NewHostName("239.1.2.3")
	err = h.NewDatagramSocket().JoinMulticastGroup(group)
	check("joining with an unbound socket is E_ILLEGAL_METHOD_CALL", wantHResult(err, socketerror.EIllegalMethodCall))

	log.Info("checks done")
	<-ctx.Done()
	return nil
}

// wantHResult checks that err carries hr.
func wantHResult(err error, hr socketerror.HResult) error {
	if socketerror.HResultOf(err) != hr {
		return fmt.Errorf("got %v, want HRESULT %#x", err, uint32(hr))
	}
	return nil
}

// wantNamed checks that err carries hr and names what.
func wantNamed(err error, hr socketerror.HResult, what string) error {
	if err := wantHResult(err, hr); err != nil {
		return err
	}
	if !strings.Contains(err.Error(), what) {
		return fmt.Errorf("%v does not name %s", err, what)
	}
	return nil
}
