package host

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/netrun/netrun/bindings/plugin/proto/pluginv1"
	rthost "github.com/netrun/netrun/runtime/host"
	"github.com/netrun/netrun/runtime/isolation"
	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/sockets"
	"github.com/netrun/netrun/runtime/trigger"
)

// FuzzCommands runs what a plugin that lies could send through the host's
// command handler: each input is a PluginMessage in protobuf's wire format
// (an input that does not decode is one gRPC would refuse before the host
// saw it). The commands run in order against a fresh instance that may
// reach 127.77.0.0/16 only (fuzzGuard) and whose resolver answers no DNS
// name, so that nothing leaves the machine or touches another test's
// sockets; what the host sends back is dropped.
// The host must answer everything without a panic, and end with no
// goroutine or socket of the instance left behind.
//
// The instance has no process: the fuzzer is the plugin, and waits for
// each command's answer (at most 250 ms) before it sends the next. Socket
// ids start at 1 in every run, so inputs can name the sockets their own
// commands made.
func FuzzCommands(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		b, err := proto.Marshal(&pluginv1.PluginMessage{Commands: seed})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var msg pluginv1.PluginMessage
		if proto.Unmarshal(data, &msg) != nil || len(msg.Commands) > 64 {
			return
		}
		broker := trigger.NewBroker(trigger.Options{Logger: slog.New(slog.DiscardHandler)})
		defer broker.Close()
		r := New(Options{Logger: slog.New(slog.DiscardHandler), Broker: broker, MaxPayload: 1 << 16})
		env := &sockets.Env{
			Guard:    fuzzGuard{},
			Resolver: &networking.Resolver{DNS: noDNS()},
			Logger:   slog.New(slog.DiscardHandler),
		}
		sv := newSupervisor(r, rthost.PluginConfig{Name: "fuzz"}, nil, env, r.opts.Logger)
		i := newInstance(sv, 1, nil, nil, nil)
		sink := &sinkStream{ctx: i.ctx, ended: make(chan uint64, 1024)}
		i.stream = sink
		i.registerTask()
		sv.goFunc(i.sender)
		// As a plugin would, wait for each command's answer (a bounded
		// while) before the next, so that later commands find the
		// sockets earlier ones made.
		for _, c := range msg.Commands {
			i.handle(c)
			i.signal()
			if c.Op != 0 {
				sink.await(c.Op, 250*time.Millisecond)
			}
		}
		i.end(errors.New("the fuzz input ended"))
		i.cleanup()
		sv.cancel()
		sv.broker.closeAll()
		done := make(chan struct{})
		go func() {
			sv.wg.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("the instance's goroutines did not end within 30 s of its cleanup")
		}
	})
}

// fuzzNet is the part of loopback the fuzzer may use: no other test binds
// or connects there.
func fuzzNet() netip.Prefix { return netip.PrefixFrom(netip.AddrFrom4([4]byte{127, 77, 0, 0}), 16) }

// fuzzGuard allows fuzzNet as the loopback capability would, and refuses
// every other address (wildcard binds and [::1] among them) as a guest
// without capabilities is refused.
type fuzzGuard struct{}

// Check implements sockets.Guard.
func (fuzzGuard) Check(dir sockets.Direction, addr netip.Addr) error {
	if fuzzNet().Contains(addr.Unmap()) {
		return isolation.Capabilities(isolation.Loopback).Check(dir, addr)
	}
	return isolation.Capabilities(0).Check(dir, addr)
}

// noDNS is a resolver that answers no name without sending a query:
// /etc/hosts still applies.
func noDNS() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("fuzz: DNS is off")
	}}
}

// sinkStream is the plugin's end of the session as the fuzzer has it:
// what the host sends is dropped, but for the ids of the operations it
// ends, and nothing comes back.
type sinkStream struct {
	grpc.ClientStream // nil: the host uses only Send and Recv
	ctx               context.Context
	ended             chan uint64 // op ids the host answered for good
}

func (s *sinkStream) Send(m *pluginv1.HostMessage) error {
	for _, ev := range m.Events {
		id, ok := uint64(0), false
		switch {
		case ev.GetCompletion() != nil && !ev.GetCompletion().More:
			id, ok = ev.GetCompletion().Op, true
		case ev.GetProtocolError() != nil:
			id, ok = ev.GetProtocolError().Op, true
		}
		if ok {
			select {
			case s.ended <- id:
			default: // the fuzzer waits for one op at a time; older ids may go
			}
		}
	}
	return nil
}

// await returns once the host has answered op for good, or after d.
func (s *sinkStream) await(op uint64, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case id := <-s.ended:
			if id == op {
				return
			}
		case <-t.C:
			return
		}
	}
}

func (s *sinkStream) Recv() (*pluginv1.PluginMessage, error) {
	<-s.ctx.Done()
	return nil, io.EOF
}

// fuzzSeeds are command sequences that reach every kind of command, with
// ids that name the sockets the sequence makes (the first socket made is
// 1, the next 2, ...).
func fuzzSeeds() [][]*pluginv1.Command {
	cmd := func(op uint64, c any) *pluginv1.Command {
		x := &pluginv1.Command{Op: op}
		switch v := c.(type) {
		case *pluginv1.ListenerBind:
			x.Command = &pluginv1.Command_ListenerBind{ListenerBind: v}
		case *pluginv1.StreamConnect:
			x.Command = &pluginv1.Command_StreamConnect{StreamConnect: v}
		case *pluginv1.StreamRead:
			x.Command = &pluginv1.Command_StreamRead{StreamRead: v}
		case *pluginv1.StreamWrite:
			x.Command = &pluginv1.Command_StreamWrite{StreamWrite: v}
		case *pluginv1.StreamFlush:
			x.Command = &pluginv1.Command_StreamFlush{StreamFlush: v}
		case *pluginv1.DatagramBind:
			x.Command = &pluginv1.Command_DatagramBind{DatagramBind: v}
		case *pluginv1.DatagramSend:
			x.Command = &pluginv1.Command_DatagramSend{DatagramSend: v}
		case *pluginv1.DatagramConnect:
			x.Command = &pluginv1.Command_DatagramConnect{DatagramConnect: v}
		case *pluginv1.DatagramJoinMulticastGroup:
			x.Command = &pluginv1.Command_DatagramJoinMulticastGroup{DatagramJoinMulticastGroup: v}
		case *pluginv1.Close:
			x.Command = &pluginv1.Command_Close{Close: v}
		case *pluginv1.CancelIO:
			x.Command = &pluginv1.Command_CancelIo{CancelIo: v}
		case *pluginv1.TransferOwnership:
			x.Command = &pluginv1.Command_TransferOwnership{TransferOwnership: v}
		case *pluginv1.Reclaim:
			x.Command = &pluginv1.Command_Reclaim{Reclaim: v}
		case *pluginv1.Cancel:
			x.Command = &pluginv1.Command_Cancel{Cancel: v}
		case *pluginv1.Ack:
			x.Command = &pluginv1.Command_Ack{Ack: v}
		case *pluginv1.StreamUpgradeToSsl:
			x.Command = &pluginv1.Command_StreamUpgradeToSsl{StreamUpgradeToSsl: v}
		case *pluginv1.WebSocketConnect:
			x.Command = &pluginv1.Command_WebSocketConnect{WebSocketConnect: v}
		case *pluginv1.WebSocketAccept:
			x.Command = &pluginv1.Command_WebSocketAccept{WebSocketAccept: v}
		case *pluginv1.WebSocketSend:
			x.Command = &pluginv1.Command_WebSocketSend{WebSocketSend: v}
		case *pluginv1.WebSocketClose:
			x.Command = &pluginv1.Command_WebSocketClose{WebSocketClose: v}
		case *pluginv1.ControlChannelCreate:
			x.Command = &pluginv1.Command_ControlChannelCreate{ControlChannelCreate: v}
		case *pluginv1.ControlChannelUsingTransport:
			x.Command = &pluginv1.Command_ControlChannelUsingTransport{ControlChannelUsingTransport: v}
		case *pluginv1.ControlChannelWaitForPushEnabled:
			x.Command = &pluginv1.Command_ControlChannelWaitForPushEnabled{ControlChannelWaitForPushEnabled: v}
		case *pluginv1.ControlChannelClose:
			x.Command = &pluginv1.Command_ControlChannelClose{ControlChannelClose: v}
		}
		return x
	}
	hop := uint32(300)
	return [][]*pluginv1.Command{
		// A listener, a connect to a closed port, reads and writes on both.
		{
			cmd(1, &pluginv1.ListenerBind{Host: "127.77.0.1", Service: "0"}),
			cmd(2, &pluginv1.StreamConnect{Host: "127.77.0.1", Service: "1"}),
			cmd(3, &pluginv1.StreamRead{Socket: 1, Count: 16, Options: 1}),
			cmd(0, &pluginv1.StreamWrite{Socket: 2, Data: []byte("x")}),
			cmd(4, &pluginv1.StreamFlush{Socket: 2}),
			cmd(0, &pluginv1.Ack{Socket: 2, Consumed: 9}),
			cmd(5, &pluginv1.CancelIO{Socket: 1}),
			cmd(0, &pluginv1.Cancel{Target: 3}),
			cmd(6, &pluginv1.Close{Socket: 1}),
		},
		// Datagrams: bind, send to itself, connect, join a group.
		{
			cmd(1, &pluginv1.DatagramBind{Host: "127.77.0.1", Service: "0"}),
			cmd(2, &pluginv1.DatagramSend{Socket: 1, Host: "127.77.0.1", Service: "9", Data: []byte("d")}),
			cmd(3, &pluginv1.DatagramConnect{Socket: 1, Host: "localhost", Service: "9"}),
			cmd(4, &pluginv1.DatagramJoinMulticastGroup{Socket: 1, Host: "239.1.2.3"}),
			cmd(5, &pluginv1.DatagramBind{Host: "::1", Service: "0", Control: &pluginv1.DatagramControl{OutboundUnicastHopLimit: &hop}}),
		},
		// The broker: transfer, reclaim, a control channel.
		{
			cmd(1, &pluginv1.ListenerBind{Host: "127.77.0.1", Service: "0"}),
			cmd(2, &pluginv1.TransferOwnership{Socket: 1, SocketId: "l", Context: []byte("c")}),
			cmd(3, &pluginv1.Reclaim{SocketId: "l"}),
			cmd(4, &pluginv1.Reclaim{Socket: 1}),
			cmd(5, &pluginv1.ControlChannelCreate{ChannelId: "c", ServerKeepAliveIntervalMinutes: 15}),
			cmd(6, &pluginv1.ControlChannelUsingTransport{Channel: 1, Socket: 1}),
			cmd(7, &pluginv1.ControlChannelWaitForPushEnabled{Channel: 1}),
			cmd(8, &pluginv1.ControlChannelClose{Channel: 1}),
		},
		// TLS and WebSockets on sockets that cannot carry them.
		{
			cmd(1, &pluginv1.StreamConnect{Host: "127.77.0.1", Service: "1", ProtectionLevel: 3}),
			cmd(2, &pluginv1.StreamUpgradeToSsl{Socket: 1, ProtectionLevel: 3, ValidationHost: "localhost"}),
			cmd(3, &pluginv1.WebSocketConnect{Uri: "ws://127.77.0.1:1/x"}),
			cmd(4, &pluginv1.WebSocketAccept{Socket: 1}),
			cmd(5, &pluginv1.WebSocketSend{Socket: 1, Data: []byte("m")}),
			cmd(6, &pluginv1.WebSocketClose{Socket: 1, Code: 1000}),
		},
	}
}
