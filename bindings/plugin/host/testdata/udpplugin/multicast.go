package main

import (
	"context"

	"github.com/netrun/netrun/bindings/plugin/sdk"
	"github.com/netrun/netrun/runtime/networking"
)

// multicast is the mode "multicast GROUP": it binds a datagram socket to
// every address on a port the kernel picks, joins GROUP (a host name such
// as 239.1.2.3 or ff12::1234%eth0), logs "joined" with the port, then
// logs each datagram it receives as "datagram" with its payload (data),
// the sender's address and port (remote, remote_port) and the address it
// was sent to (local), until the host stops it.
func multicast(ctx context.Context, h *sdk.Host, group string) error {
	log := h.Logger()
	g, err := networking.NewHostName(group)
	if err != nil {
		return err
	}
	d := h.NewDatagramSocket()
	defer d.Close()
	d.MessageReceived().Add(func(a *sdk.DatagramSocketMessageReceivedEventArgs) {
		log.Info("datagram", "data", string(a.Data()), "remote", a.RemoteAddress().CanonicalName(),
			"remote_port", a.RemotePort(), "local", a.LocalAddress().CanonicalName())
	})
	if err := d.BindServiceName(ctx, ""); err != nil {
		return err
	}
	if err := d.JoinMulticastGroup(g); err != nil {
		return err
	}
	log.Info("joined", "group", group, "port", d.Information().LocalPort())
	<-ctx.Done()
	return nil
}
