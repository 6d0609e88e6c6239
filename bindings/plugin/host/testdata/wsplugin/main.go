// Command wsplugin is a Go plugin that uses WebSockets through the SDK.
// Its mode is its first argument:
//
//   - server: binds two listeners on 127.0.0.1 and logs "listening" with
//     their ports, message_port and stream_port. Connections to msg become
//     ServerMessageWebSockets (subprotocol "chat" if offered) that echo
//     every message with its type, except a text message "close CODE
//     REASON", which closes the WebSocket with that code and reason;
//     connections to stream become ServerStreamWebSockets that echo their
//     bytes. Each Closed is logged as "ws closed" with code and reason.
//   - client URL: connects a MessageWebSocket and a StreamWebSocket to the
//     echo server at URL (internal/testpeer's wspeer), checks the echoes,
//     a close code the server sends, and the errors of bad arguments, a
//     refused connection and a refused handshake; logs one record
//     "check" (name, ok, detail) per check, then "checks done".
//   - denied URL: connects to URL and logs "denied" with the error's
//     HRESULT and WebErrorStatus (the plugin has no capability).
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/netrun/netrun/bindings/plugin/sdk"
	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
	"github.com/netrun/netrun/runtime/websocket"
)

func main() { sdk.Serve(sdk.PluginFunc(run)) }

func run(ctx context.Context, h *sdk.Host) error {
	switch mode := os.Args[1]; mode {
	case "server":
		return serve(ctx, h)
	case "client":
		return client(ctx, h, os.Args[2])
	case "denied":
		m := h.NewMessageWebSocket()
		defer m.Close()
		err := m.Connect(ctx, os.Args[2])
		h.Logger().Info("denied", "hresult", fmt.Sprintf("0x%08X", uint32(socketerror.HResultOf(err))),
			"web_status", websocket.GetStatus(err).String(), "err", fmt.Sprint(err))
		<-ctx.Done()
		return nil
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
}

// listen binds a listener on 127.0.0.1 whose connections go to accept,
// each on a goroutine of its own.
func listen(ctx context.Context, h *sdk.Host, accept func(*sdk.StreamSocket)) (*sdk.StreamSocketListener, error) {
	local, err := networking.NewHostName("127.0.0.1")
	if err != nil {
		return nil, err
	}
	l := h.NewStreamSocketListener()
	l.ConnectionReceived().Add(func(a *sdk.ConnectionReceivedEventArgs) { go accept(a.Socket) })
	if err := l.BindEndpoint(ctx, local, "0"); err != nil {
		return nil, err
	}
	return l, nil
}

func serve(ctx context.Context, h *sdk.Host) error {
	log := h.Logger()
	closedLog := func(a *sdk.ClosedEventArgs) {
		log.Info("ws closed", "code", int(a.Code()), "reason", a.Reason(), "err", fmt.Sprint(a.Err()))
	}
	msg, err := listen(ctx, h, func(s *sdk.StreamSocket) {
		w, err := sdk.AcceptMessage(ctx, s, websocket.AcceptOptions{Protocols: []string{"chat"}})
		if err != nil {
			log.Error("accept failed", "err", err)
			return
		}
		w.Closed().Add(closedLog)
		w.MessageReceived().Add(func(a *sdk.MessageReceivedEventArgs) {
			if a.MessageType() == websocket.Utf8 && strings.HasPrefix(string(a.Data()), "close ") {
				f := strings.SplitN(string(a.Data()), " ", 3)
				code, _ := strconv.Atoi(f[1])
				if err := w.CloseWithStatus(uint16(code), f[2]); err != nil {
					log.Error("close failed", "err", err)
				}
				return
			}
			w.Control().SetMessageType(a.MessageType())
			if err := w.Send(ctx, a.Data()); err != nil {
				log.Error("echo failed", "err", err)
			}
		})
	})
	if err != nil {
		return err
	}
	defer msg.Close()
	stream, err := listen(ctx, h, func(s *sdk.StreamSocket) {
		w, err := sdk.AcceptStream(ctx, s, websocket.AcceptOptions{})
		if err != nil {
			log.Error("accept failed", "err", err)
			return
		}
		defer w.Close()
		w.Closed().Add(closedLog)
		buf := make([]byte, 64<<10)
		for {
			n, err := w.InputStream().Read(ctx, buf, sockets.Partial)
			if err != nil {
				return // io.EOF after the peer's close frame
			}
			if _, err := w.OutputStream().Write(ctx, buf[:n]); err != nil {
				return
			}
		}
	})
	if err != nil {
		return err
	}
	defer stream.Close()
	log.Info("listening", "message_port", msg.Information().LocalPort(), "stream_port", stream.Information().LocalPort())
	<-ctx.Done()
	return nil
}

// message is a received message, copied.
type message struct {
	typ  websocket.SocketMessageType
	data []byte
}

func client(ctx context.Context, h *sdk.Host, url string) error {
	log := h.Logger()
	check := func(name string, err error) {
		if err != nil {
			log.Info("check", "name", name, "ok", false, "detail", err.Error())
			return
		}
		log.Info("check", "name", name, "ok", true)
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()

	// A MessageWebSocket to the peer, which echoes every message.
	m := h.NewMessageWebSocket()
	check("append a protocol", m.Control().AppendSupportedProtocol("chat"))
	err := m.SetRequestHeader("Host", "elsewhere")
	check("Host is refused as a request header", wantStatus(err, socketerror.EInvalidArg, "Host"))
	check("a request header", m.SetRequestHeader("X-Test", "yes"))
	got := make(chan message, 16)
	m.MessageReceived().Add(func(a *sdk.MessageReceivedEventArgs) {
		got <- message{a.MessageType(), bytes.Clone(a.Data())}
	})
	closed := make(chan *sdk.ClosedEventArgs, 1)
	m.Closed().Add(func(a *sdk.ClosedEventArgs) { closed <- a })
	check("connect", m.Connect(ctx, url))
	if p := m.Information().Protocol(); p != "chat" {
		check("the protocol", fmt.Errorf("Protocol() = %q, want chat", p))
	}
	check("a Control setter after Connect fails", wantStatus(m.Control().SetMaxMessageSize(10), socketerror.EIllegalMethodCall, "Connect"))
	expect := func(name string, typ websocket.SocketMessageType, want string) {
		select {
		case g := <-got:
			if g.typ != typ || string(g.data) != want {
				check(name, fmt.Errorf("got a %s message %.60q, want %s %.60q", g.typ, g.data, typ, want))
				return
			}
			check(name, nil)
		case <-ctx.Done():
			check(name, ctx.Err())
		}
	}
	sendAs := func(typ websocket.SocketMessageType, p string) {
		m.Control().SetMessageType(typ)
		if err := m.Send(ctx, []byte(p)); err != nil {
			check("send "+p, err)
		}
	}
	sendAs(websocket.Utf8, "héllo, wörld")
	expect("a Utf8 echo", websocket.Utf8, "héllo, wörld")
	sendAs(websocket.Binary, "\x00\x01\x02\xff")
	expect("a Binary echo", websocket.Binary, "\x00\x01\x02\xff")
	sendAs(websocket.Utf8, "cmd:header X-Test")
	expect("the request header reached the server", websocket.Utf8, "header:yes")
	sendAs(websocket.Utf8, "cmd:frag text 3 a fragmented text message")
	expect("a fragmented message is raised whole", websocket.Utf8, "a fragmented text message")
	big := bytes.Repeat([]byte("0123456789abcdef"), 3<<16) // 3 MiB: over max_payload both ways
	sendAs(websocket.Binary, string(big))
	expect("a 3 MiB echo", websocket.Binary, string(big))
	m.Control().SetMessageType(websocket.Utf8)
	_, err = m.SendNonfinalFrame(ctx, []byte("frag"))
	check("a non-final frame", err)
	check("Send while a message is open fails", wantStatus(m.Send(ctx, []byte("x")), socketerror.EIllegalMethodCall, "SendFinalFrame"))
	_, err = m.SendFinalFrame(ctx, []byte("ments"))
	check("a final frame", err)
	expect("frames are echoed as one message", websocket.Utf8, "fragments")
	check("a bad close code is refused", wantStatus(m.CloseWithStatus(999, ""), socketerror.EInvalidArg, "999"))
	sendAs(websocket.Utf8, "cmd:close 4003 bye now")
	select {
	case a := <-closed:
		if a.Code() != 4003 || a.Reason() != "bye now" || a.Err() != nil {
			check("the server's close code", fmt.Errorf("Closed: code %d reason %q err %v, want 4003 \"bye now\" nil", a.Code(), a.Reason(), a.Err()))
		} else {
			check("the server's close code", nil)
		}
	case <-ctx.Done():
		check("the server's close code", ctx.Err())
	}
	check("close", m.Close())
	check("send after Close is net.ErrClosed-like", wantStatus(m.Send(ctx, []byte("x")), socketerror.EClosed, ""))

	// A StreamWebSocket to the same peer.
	s := h.NewStreamWebSocket()
	check("stream connect", s.Connect(ctx, url))
	_, err = s.OutputStream().Write(ctx, []byte("stream hello"))
	check("stream write", err)
	buf := make([]byte, 12)
	n, err := s.InputStream().Read(ctx, buf, sockets.InputStreamNone)
	if err == nil && string(buf[:n]) != "stream hello" {
		err = fmt.Errorf("read %q", buf[:n])
	}
	check("stream echo", err)
	check("stream flush", s.OutputStream().Flush(ctx))
	check("stream close", s.Close())

	// A refused connection: CannotConnect, with ConnectionRefused.
	l, err := listen(ctx, h, func(s *sdk.StreamSocket) { s.Close() })
	check("bind", err)
	port := l.Information().LocalPort()
	l.Close()
	r := h.NewMessageWebSocket()
	err = r.Connect(ctx, "ws://127.0.0.1:"+port+"/")
	if websocket.GetStatus(err) != websocket.CannotConnect || socketerror.GetStatus(err) != socketerror.ConnectionRefused {
		check("a refused connect", fmt.Errorf("%v: WebErrorStatus %s, SocketErrorStatus %s; want CannotConnect, ConnectionRefused",
			err, websocket.GetStatus(err), socketerror.GetStatus(err)))
	} else {
		check("a refused connect", nil)
	}
	r.Close()

	// A refused handshake: the plugin's own server accepts /only, and a
	// client asking for /other gets 404.
	refused := make(chan error, 1)
	l2, err := listen(ctx, h, func(s *sdk.StreamSocket) {
		_, err := sdk.AcceptMessage(ctx, s, websocket.AcceptOptions{Path: "/only"})
		refused <- err
	})
	check("bind again", err)
	defer l2.Close()
	c := h.NewMessageWebSocket()
	err = c.Connect(ctx, "ws://127.0.0.1:"+l2.Information().LocalPort()+"/other")
	var we *websocket.Error
	if !errors.As(err, &we) || we.HTTPStatus != 404 || websocket.GetStatus(err) != websocket.NotFound {
		check("a handshake refused with 404", fmt.Errorf("%v, want a *websocket.Error with HTTPStatus 404 and NotFound", err))
	} else {
		check("a handshake refused with 404", nil)
	}
	c.Close()
	select {
	case err = <-refused:
		if !errors.As(err, &we) || we.HTTPStatus != 404 {
			err = fmt.Errorf("the server's AcceptMessage: %v, want HTTPStatus 404", err)
		} else {
			err = nil
		}
	case <-ctx.Done():
		err = ctx.Err()
	}
	check("the server's AcceptMessage reports 404", err)
	log.Info("checks done")
	<-ctx.Done()
	return nil
}

// wantStatus checks that err has HRESULT hr and a message containing sub.
func wantStatus(err error, hr socketerror.HResult, sub string) error {
	switch {
	case err == nil:
		return fmt.Errorf("no error, want HRESULT 0x%08X", uint32(hr))
	case socketerror.HResultOf(err) != hr:
		return fmt.Errorf("%v: HRESULT 0x%08X, want 0x%08X", err, uint32(socketerror.HResultOf(err)), uint32(hr))
	case !strings.Contains(err.Error(), sub):
		return fmt.Errorf("%v: want the message to name %q", err, sub)
	}
	return nil
}
