package main

import (
	"google.golang.org/grpc"

	"github.com/netrun/netrun/bindings/plugin/proto/pluginv1"
)

// echoSession serves a TCP echo at the protocol level, with no SDK: one
// continuous read per connection, and each read's data written back in the
// reply to the message that brought it.
func echoSession(stream grpc.BidiStreamingServer[pluginv1.HostMessage, pluginv1.PluginMessage]) error {
	op := uint64(1)
	if err := stream.Send(&pluginv1.PluginMessage{Commands: []*pluginv1.Command{{Op: op, Command: &pluginv1.Command_ListenerBind{
		ListenerBind: &pluginv1.ListenerBind{Host: "127.0.0.1", Service: "0"}}}}}); err != nil {
		return err
	}
	sockOf := map[uint64]uint64{}
	consumed := map[uint64]uint64{}
	var out pluginv1.PluginMessage
	for {
		msg, err := stream.Recv()
		if err != nil {
			return err
		}
		out.Commands = out.Commands[:0]
		for _, ev := range msg.Events {
			switch e := ev.Event.(type) {
			case *pluginv1.Event_ConnectionReceived:
				op++
				sockOf[op] = e.ConnectionReceived.Socket
				out.Commands = append(out.Commands, &pluginv1.Command{Op: op, Command: &pluginv1.Command_StreamRead{
					StreamRead: &pluginv1.StreamRead{Socket: e.ConnectionReceived.Socket, Count: 16384, Options: 1, Continuous: true}}})
			case *pluginv1.Event_Completion:
				r := e.Completion.GetRead()
				s, ok := sockOf[e.Completion.Op]
				if !ok || r == nil || len(r.Data) == 0 {
					continue
				}
				consumed[s] += uint64(len(r.Data))
				out.Commands = append(out.Commands, &pluginv1.Command{Command: &pluginv1.Command_StreamWrite{
					StreamWrite: &pluginv1.StreamWrite{Socket: s, Data: r.Data, Consumed: consumed[s]}}})
			case *pluginv1.Event_Ping:
				out.Commands = append(out.Commands, &pluginv1.Command{Command: &pluginv1.Command_Pong{Pong: &pluginv1.Pong{Seq: e.Ping.Seq}}})
			}
		}
		if len(out.Commands) > 0 {
			if err := stream.Send(&out); err != nil {
				return err
			}
		}
	}
}
