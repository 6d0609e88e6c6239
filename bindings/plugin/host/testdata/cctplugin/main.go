// Command cctplugin is a Go plugin that keeps a connection alive with a
// control channel: it connects a StreamSocket to the port given as its
// argument on 127.0.0.1, makes a control channel with a 0.005-minute
// (300 ms) keep-alive, uses the socket as its transport and arms it. It
// writes to the connection "armed <status>" (after "bad <message>", the
// error of a channel with a zero interval), "ka <minutes>" at each
// keep-alive, "push <data>" for the data each push brings, and, for data
// "dec", "dec <minutes>" after DecreaseNetworkKeepAliveInterval. It logs
// "reset" at the reset, then closes the channel and the socket and logs
// "closed".
//
// With the arguments "ws URL" or "wsstream URL" it keeps a client
// MessageWebSocket or StreamWebSocket to URL alive instead (ws.go).
package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/netrun/netrun/bindings/plugin/sdk"
	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/sockets"
)

func main() { sdk.Serve(sdk.PluginFunc(run)) }

func run(ctx context.Context, h *sdk.Host) error {
	switch os.Args[1] {
	case "ws":
		return runMessage(ctx, h, os.Args[2])
	case "wsstream":
		return runStream(ctx, h, os.Args[2])
	}
	log := h.Logger()
	local, err := networking.NewHostName("127.0.0.1")
	if err != nil {
		return err
	}
	s := h.NewStreamSocket()
	if err := s.Connect(ctx, local, os.Args[1], sockets.PlainSocket); err != nil {
		return err
	}
	defer s.Close()
	write := func(format string, a ...any) {
		if _, err := s.OutputStream().Write(ctx, fmt.Appendf(nil, format+"\n", a...)); err != nil {
			log.Error("write failed", "err", err)
		}
	}
	if _, err := h.NewControlChannelTrigger(ctx, "bad", 0, sdk.RequestSoftwareSlot); err != nil {
		write("bad %s", strings.ReplaceAll(err.Error(), "\n", " "))
	} else {
		write("bad none")
	}

	cc, err := h.NewControlChannelTrigger(ctx, "cct-test", 0.005, sdk.RequestSoftwareSlot)
	if err != nil {
		return err
	}
	defer cc.Close()
	reset := make(chan struct{})
	cc.KeepAliveTrigger().Add(func(d *sdk.ControlChannelTriggerEventDetails) {
		write("ka %g", d.CurrentKeepAliveIntervalInMinutes)
	})
	cc.PushNotificationTrigger().Add(func(d *sdk.ControlChannelTriggerEventDetails) {
		buf := make([]byte, 4096)
		n, err := s.InputStream().Read(ctx, buf, sockets.Partial)
		if err != nil {
			return // the end of stream: the reset follows
		}
		data := strings.TrimSpace(string(buf[:n]))
		if data == "dec" {
			m, err := cc.DecreaseNetworkKeepAliveInterval(ctx)
			if err != nil {
				log.Error("decrease failed", "err", err)
			}
			write("dec %g", m)
		} else {
			write("push %s", data)
		}
		if err := cc.FlushTransport(ctx); err != nil {
			log.Error("flush failed", "err", err)
		}
	})
	cc.ResetTrigger().Add(func(d *sdk.ControlChannelTriggerResetEventDetails) {
		log.Info("reset", "err", fmt.Sprint(d.Err))
		close(reset)
	})
	if err := cc.UsingTransport(ctx, s); err != nil {
		return err
	}
	st, err := cc.WaitForPushEnabled(ctx)
	if err != nil {
		return err
	}
	write("armed %d", st)
	select {
	case <-reset:
	case <-ctx.Done():
		return nil
	}
	cc.Close()
	s.Close()
	log.Info("closed")
	<-ctx.Done()
	return nil
}
