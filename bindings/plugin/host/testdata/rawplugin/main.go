// Command rawplugin speaks the plugin protocol without the SDK, as a
// plugin in another language would, to drive the host with commands the
// SDK never sends. Its mode is its first argument:
//
//   - malformed: sends malformed and out-of-order commands and logs, as
//     one JSON record "results", what came back for each op id;
//   - hang: reads Hello, then never reads or answers again;
//   - wsmalformed: the same for WebSocket commands (websocket.go);
//   - echo: a TCP echo server at the protocol level (echo.go), the floor
//     under any plugin's echo for BenchmarkPluginEcho.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/netrun/netrun/bindings/plugin/proto/pluginv1"
	"github.com/netrun/netrun/bindings/plugin/sdk"
)

type server struct {
	pluginv1.UnimplementedPluginServer
	mode string
}

func main() {
	mode := "malformed"
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	newServer := plugin.DefaultGRPCServer
	if mode == "echo" {
		// As the SDK does: one P, and 4 MiB HTTP/2 windows.
		runtime.GOMAXPROCS(1)
		newServer = func(opts []grpc.ServerOption) *grpc.Server {
			return plugin.DefaultGRPCServer(append(opts, grpc.InitialWindowSize(4<<20), grpc.InitialConnWindowSize(4<<20)))
		}
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: sdk.Handshake(),
		Plugins:         plugin.PluginSet{sdk.PluginName: &grpcOnly{srv: &server{mode: mode}}},
		GRPCServer:      newServer,
	})
}

// grpcOnly adapts server to go-plugin.
type grpcOnly struct {
	plugin.NetRPCUnsupportedPlugin
	srv *server
}

func (p *grpcOnly) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pluginv1.RegisterPluginServer(s, p.srv)
	return nil
}

func (p *grpcOnly) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, nil
}

var stderr = os.NewFile(2, "stderr") // go-plugin swaps os.Stderr for a pipe

func logJSON(rec map[string]any) {
	b, _ := json.Marshal(rec)
	stderr.Write(append(b, '\n'))
}

// driver sends commands and collects what comes back, by op id.
type driver struct {
	stream  grpc.BidiStreamingServer[pluginv1.HostMessage, pluginv1.PluginMessage]
	results map[uint64]string
	created map[uint64]uint64
	ports   map[uint64]string     // by socket id
	other   func(*pluginv1.Event) // if set, gets the events await does not handle
}

func (d *driver) send(cmds ...*pluginv1.Command) {
	if err := d.stream.Send(&pluginv1.PluginMessage{Commands: cmds}); err != nil {
		logJSON(map[string]any{"level": "ERROR", "msg": "send failed", "err": err.Error()})
		os.Exit(1)
	}
}

// await reads events until every op in ops has a result.
func (d *driver) await(ops ...uint64) {
	for {
		missing := false
		for _, op := range ops {
			if _, ok := d.results[op]; !ok {
				missing = true
			}
		}
		if !missing {
			return
		}
		msg, err := d.stream.Recv()
		if err != nil {
			logJSON(map[string]any{"level": "ERROR", "msg": "recv failed", "err": err.Error()})
			os.Exit(1)
		}
		for _, ev := range msg.Events {
			switch e := ev.Event.(type) {
			case *pluginv1.Event_Completion:
				c := e.Completion
				switch r := c.Result.(type) {
				case *pluginv1.Completion_Error:
					d.results[c.Op] = fmt.Sprintf("error 0x%08X %s: %s", r.Error.Hresult, r.Error.Op, r.Error.Message)
				case *pluginv1.Completion_ControlChannel:
					d.results[c.Op] = "ok"
					d.created[c.Op] = r.ControlChannel.Channel
				case *pluginv1.Completion_Created:
					d.results[c.Op] = "created"
					d.created[c.Op] = r.Created.Socket
					d.ports[r.Created.Socket] = r.Created.GetInfo().GetLocalPort()
				default:
					d.results[c.Op] = "ok"
				}
			case *pluginv1.Event_ProtocolError:
				d.results[1000+e.ProtocolError.Op] = "protocol error: " + e.ProtocolError.Message
			case *pluginv1.Event_Ping:
				d.send(&pluginv1.Command{Command: &pluginv1.Command_Pong{Pong: &pluginv1.Pong{Seq: e.Ping.Seq}}})
			default:
				if d.other != nil {
					d.other(ev)
				}
			}
		}
	}
}

func read(op, socket uint64, count uint32) *pluginv1.Command {
	return &pluginv1.Command{Op: op, Command: &pluginv1.Command_StreamRead{StreamRead: &pluginv1.StreamRead{Socket: socket, Count: count, Options: 1}}}
}

func write(op, socket uint64, data []byte) *pluginv1.Command {
	return &pluginv1.Command{Op: op, Command: &pluginv1.Command_StreamWrite{StreamWrite: &pluginv1.StreamWrite{Socket: socket, Data: data}}}
}

func (s *server) Session(stream grpc.BidiStreamingServer[pluginv1.HostMessage, pluginv1.PluginMessage]) error {
	hello, err := stream.Recv()
	if err != nil {
		return err
	}
	if s.mode == "echo" {
		return echoSession(stream)
	}
	if s.mode == "hang" {
		logJSON(map[string]any{"level": "INFO", "msg": "hanging", "hello": hello.Events[0].GetHello().PluginName})
		<-stream.Context().Done()
		return nil
	}
	d := &driver{stream: stream, results: map[uint64]string{}, created: map[uint64]uint64{}, ports: map[uint64]string{}}
	if s.mode == "wsmalformed" {
		d.wsMalformed()
		d.untilShutdown()
		return nil
	}
	// Phase 1: ids that name nothing, reserved and empty commands, a bind.
	d.send(
		read(1, 999999, 10),
		write(2, 0, []byte("x")),
		read(0, 1, 10),
		&pluginv1.Command{Op: 3},
		&pluginv1.Command{Op: 4, Command: &pluginv1.Command_ListenerBind{ListenerBind: &pluginv1.ListenerBind{Host: "127.0.0.1", Service: "0"}}},
	)
	d.await(1, 2, 1000, 1003, 4)
	listener := d.created[4]
	// Phase 2: wrong kinds, a connect to the listener.
	d.send(
		write(5, listener, []byte("x")),
		&pluginv1.Command{Op: 6, Command: &pluginv1.Command_Reclaim{Reclaim: &pluginv1.Reclaim{Socket: 12345}}},
	)
	d.await(5, 6)
	port := strings.TrimSpace(portOf(d, listener))
	d.send(&pluginv1.Command{Op: 7, Command: &pluginv1.Command_StreamConnect{StreamConnect: &pluginv1.StreamConnect{Host: "127.0.0.1", Service: port}}})
	d.await(7)
	conn := d.created[7]
	// Phase 2b: TLS commands and options with bad arguments.
	upgrade := func(op, socket uint64, level int32, host string) *pluginv1.Command {
		return &pluginv1.Command{Op: op, Command: &pluginv1.Command_StreamUpgradeToSsl{StreamUpgradeToSsl: &pluginv1.StreamUpgradeToSsl{
			Socket: socket, ProtectionLevel: level, ValidationHost: host}}}
	}
	minLevel := int32(8)
	d.send(
		upgrade(13, listener, 8, "localhost"),
		upgrade(14, conn, 8, ""),
		&pluginv1.Command{Op: 15, Command: &pluginv1.Command_StreamConnect{StreamConnect: &pluginv1.StreamConnect{Host: "127.0.0.1", Service: port,
			Control: &pluginv1.StreamControl{IgnorableServerCertificateErrors: []int32{1, 2}}}}},
		&pluginv1.Command{Op: 16, Command: &pluginv1.Command_ListenerBind{ListenerBind: &pluginv1.ListenerBind{Host: "127.0.0.1", Service: "0",
			Control: &pluginv1.StreamControl{MinProtectionLevel: &minLevel}}}},
		upgrade(17, conn, 0, "localhost"),
	)
	hop, qos, serialize := uint32(300), int32(7), true
	zero := uint32(0)
	d.send(
		&pluginv1.Command{Op: 18, Command: &pluginv1.Command_StreamConnect{StreamConnect: &pluginv1.StreamConnect{Host: "127.0.0.1", Service: port,
			Control: &pluginv1.StreamControl{OutboundUnicastHopLimit: &hop}}}},
		&pluginv1.Command{Op: 19, Command: &pluginv1.Command_StreamConnect{StreamConnect: &pluginv1.StreamConnect{Host: "127.0.0.1", Service: port,
			Control: &pluginv1.StreamControl{QualityOfService: &qos}}}},
		&pluginv1.Command{Op: 20, Command: &pluginv1.Command_ListenerBind{ListenerBind: &pluginv1.ListenerBind{Host: "127.0.0.1", Service: "0",
			Control: &pluginv1.StreamControl{SerializeConnectionAttempts: &serialize}}}},
		&pluginv1.Command{Op: 21, Command: &pluginv1.Command_DatagramBind{DatagramBind: &pluginv1.DatagramBind{Host: "127.0.0.1", Service: "0",
			Control: &pluginv1.DatagramControl{OutboundUnicastHopLimit: &zero}}}},
		&pluginv1.Command{Op: 22, Command: &pluginv1.Command_DatagramConnect{DatagramConnect: &pluginv1.DatagramConnect{Host: "127.0.0.1", Service: port,
			Control: &pluginv1.DatagramControl{QualityOfService: &qos}}}},
		// Client certificates that are not PEM, without their key, or
		// on a listener.
		&pluginv1.Command{Op: 23, Command: &pluginv1.Command_StreamConnect{StreamConnect: &pluginv1.StreamConnect{Host: "127.0.0.1", Service: port,
			Control: &pluginv1.StreamControl{ClientCertificatePem: []byte("not a certificate"), ClientKeyPem: []byte("not a key")}}}},
		&pluginv1.Command{Op: 24, Command: &pluginv1.Command_StreamConnect{StreamConnect: &pluginv1.StreamConnect{Host: "127.0.0.1", Service: port,
			Control: &pluginv1.StreamControl{ClientCertificatePem: []byte("-----BEGIN CERTIFICATE-----\n")}}}},
		&pluginv1.Command{Op: 25, Command: &pluginv1.Command_ListenerBind{ListenerBind: &pluginv1.ListenerBind{Host: "127.0.0.1", Service: "0",
			Control: &pluginv1.StreamControl{ClientCertificatePem: []byte("x"), ClientKeyPem: []byte("y")}}}},
	)
	d.await(13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25)
	// Phase 3: oversized payload, zero count, a read in flight and its op
	// id reused, a close, then a read after the close.
	d.send(
		write(8, conn, make([]byte, 2<<20)),
		read(10, conn, 0),
		read(9, conn, 10),
		write(9, conn, []byte("dup")),
	)
	d.await(8, 10, 1009)
	d.send(&pluginv1.Command{Op: 11, Command: &pluginv1.Command_Close{Close: &pluginv1.Close{Socket: conn}}})
	d.await(11, 9)
	d.send(read(12, conn, 10))
	d.await(12)
	res := map[string]string{}
	for op, r := range d.results {
		res[fmt.Sprint(op)] = r
	}
	logJSON(map[string]any{"level": "INFO", "msg": "results", "results": res})
	<-stream.Context().Done()
	return nil
}

// portOf asks nothing: the listener's port came in its SocketCreated.
func portOf(d *driver, listener uint64) string { return d.ports[listener] }
