package main

import (
	"fmt"

	"github.com/netrun/netrun/bindings/plugin/proto/pluginv1"
)

// wsMalformed sends malformed WebSocket commands, between good ones that
// make a WebSocket pair over a listener of the plugin, and logs what came
// back for each op id as "results" (ProtocolErrors under 1000+op), with
// "ws" listing the WebSocket events the host sent.
func (d *driver) wsMalformed() {
	var accepted uint64
	var events []string
	d.other = func(ev *pluginv1.Event) {
		switch e := ev.Event.(type) {
		case *pluginv1.Event_ConnectionReceived:
			accepted = e.ConnectionReceived.Socket
			d.results[100] = "connection"
		case *pluginv1.Event_WebSocketMessageReceived:
			m := e.WebSocketMessageReceived
			events = append(events, fmt.Sprintf("message %s %q", m.MessageType, m.Data))
			d.results[101] = "message"
		case *pluginv1.Event_WebSocketClosed:
			events = append(events, fmt.Sprintf("closed %d %s", e.WebSocketClosed.Code, e.WebSocketClosed.Reason))
			d.results[102] = "closed"
		}
	}
	cmd := func(op uint64, c any) *pluginv1.Command {
		out := &pluginv1.Command{Op: op}
		switch c := c.(type) {
		case *pluginv1.WebSocketSend:
			out.Command = &pluginv1.Command_WebSocketSend{WebSocketSend: c}
		case *pluginv1.WebSocketAccept:
			out.Command = &pluginv1.Command_WebSocketAccept{WebSocketAccept: c}
		case *pluginv1.WebSocketConnect:
			out.Command = &pluginv1.Command_WebSocketConnect{WebSocketConnect: c}
		case *pluginv1.WebSocketClose:
			out.Command = &pluginv1.Command_WebSocketClose{WebSocketClose: c}
		case *pluginv1.WebSocketRead:
			out.Command = &pluginv1.Command_WebSocketRead{WebSocketRead: c}
		case *pluginv1.WebSocketAck:
			out.Command = &pluginv1.Command_WebSocketAck{WebSocketAck: c}
		case *pluginv1.TransferOwnership:
			out.Command = &pluginv1.Command_TransferOwnership{TransferOwnership: c}
		case *pluginv1.ListenerBind:
			out.Command = &pluginv1.Command_ListenerBind{ListenerBind: c}
		case *pluginv1.StreamConnect:
			out.Command = &pluginv1.Command_StreamConnect{StreamConnect: c}
		case *pluginv1.ControlChannelCreate:
			out.Command = &pluginv1.Command_ControlChannelCreate{ControlChannelCreate: c}
		case *pluginv1.ControlChannelUsingTransport:
			out.Command = &pluginv1.Command_ControlChannelUsingTransport{ControlChannelUsingTransport: c}
		}
		return out
	}
	msgKind := pluginv1.SocketKind_SOCKET_KIND_MESSAGE_WEB_SOCKET
	// Ids that name nothing, a listener, a kind that is no WebSocket's.
	d.send(
		cmd(1, &pluginv1.WebSocketSend{Socket: 999999, Data: []byte("x")}),
		cmd(2, &pluginv1.ListenerBind{Host: "127.0.0.1", Service: "0"}),
		cmd(3, &pluginv1.WebSocketConnect{Kind: pluginv1.SocketKind_SOCKET_KIND_STREAM_SOCKET, Uri: "ws://127.0.0.1:1/"}),
		cmd(4, &pluginv1.WebSocketAccept{Socket: 424242, Kind: msgKind}),
	)
	d.await(1, 2, 3, 4)
	listener := d.created[2]
	port := d.ports[listener]
	d.send(
		cmd(5, &pluginv1.WebSocketAccept{Socket: listener, Kind: msgKind}),
		cmd(6, &pluginv1.StreamConnect{Host: "127.0.0.1", Service: port}),
	)
	d.await(5, 6, 100)
	plain := d.created[6]
	// A plain stream socket is no WebSocket; then a WebSocket pair: a
	// client connects to the listener, whose connection is upgraded.
	d.send(
		cmd(7, &pluginv1.WebSocketSend{Socket: plain, Data: []byte("x")}),
		cmd(8, &pluginv1.WebSocketClose{Socket: plain, Code: 1000}),
		cmd(9, &pluginv1.WebSocketAccept{Socket: accepted, Kind: msgKind, ReceiveMode: 5}),
	)
	d.await(7, 8, 9)
	delete(d.results, 100)
	d.send(cmd(10, &pluginv1.WebSocketConnect{Kind: msgKind, Uri: "ws://127.0.0.1:" + port + "/"}))
	d.await(100) // the connection; its handshake waits for the accept
	d.send(cmd(11, &pluginv1.WebSocketAccept{Socket: accepted, Kind: msgKind}))
	d.await(10, 11)
	client, server := d.created[10], d.created[11]
	// Bad arguments on a WebSocket that works.
	d.send(
		cmd(12, &pluginv1.WebSocketClose{Socket: client, Code: 999}),
		cmd(13, &pluginv1.WebSocketClose{Socket: client, Code: 70000}),
		cmd(14, &pluginv1.WebSocketSend{Socket: client, Data: []byte("x"), Frame: 7}),
		cmd(15, &pluginv1.WebSocketSend{Socket: client, Data: make([]byte, 2<<20)}),
		cmd(16, &pluginv1.WebSocketRead{Socket: client, Count: 10}),
		cmd(17, &pluginv1.TransferOwnership{Socket: client}),
		cmd(0, &pluginv1.WebSocketAck{Socket: 31337, Consumed: 1}),
		cmd(18, &pluginv1.WebSocketSend{Socket: server, Data: []byte("bad \xff utf8"), MessageType: utf8Type()}),
	)
	d.await(12, 13, 14, 15, 16, 17, 1000, 18)
	// A control channel takes the client WebSocket as its transport, but
	// not the server one, nor the listener.
	d.send(cmd(21, &pluginv1.ControlChannelCreate{ChannelId: "raw", ServerKeepAliveIntervalMinutes: 1}))
	d.await(21)
	ch := d.created[21]
	d.send(
		cmd(22, &pluginv1.ControlChannelUsingTransport{Channel: ch, Socket: server}),
		cmd(23, &pluginv1.ControlChannelUsingTransport{Channel: ch, Socket: listener}),
		cmd(24, &pluginv1.ControlChannelUsingTransport{Channel: ch, Socket: client}),
	)
	d.await(22, 23, 24)
	// The host keeps serving: a message, then a close, both ways.
	d.send(cmd(19, &pluginv1.WebSocketSend{Socket: client, Data: []byte("still here"), MessageType: utf8Type()}))
	d.await(19, 101)
	d.send(cmd(0, &pluginv1.WebSocketAck{Socket: server, Consumed: 1}),
		cmd(20, &pluginv1.WebSocketClose{Socket: client, Code: 4000, Reason: "done"}))
	d.await(20, 102)
	res := map[string]string{}
	for op, r := range d.results {
		res[fmt.Sprint(op)] = r
	}
	logJSON(map[string]any{"level": "INFO", "msg": "results", "results": res, "ws": events})
}

func utf8Type() *pluginv1.WebSocketMessageType {
	t := pluginv1.WebSocketMessageType_WEB_SOCKET_MESSAGE_TYPE_UTF8
	return &t
}

// untilShutdown answers pings until the host sends Shutdown or ends the
// session.
func (d *driver) untilShutdown() {
	for {
		msg, err := d.stream.Recv()
		if err != nil {
			return
		}
		for _, ev := range msg.Events {
			switch e := ev.Event.(type) {
			case *pluginv1.Event_Shutdown:
				return
			case *pluginv1.Event_Ping:
				d.send(&pluginv1.Command{Command: &pluginv1.Command_Pong{Pong: &pluginv1.Pong{Seq: e.Ping.Seq}}})
			}
		}
	}
}
