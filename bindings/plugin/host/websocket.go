package host

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/netrun/netrun/bindings/plugin/proto/pluginv1"
	"github.com/netrun/netrun/bindings/plugin/sdk"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
	"github.com/netrun/netrun/runtime/websocket"
)

// This file is the plugin projection of runtime/websocket: a plugin's
// WebSockets are sockets of its table (kinds MESSAGE_WEB_SOCKET and
// STREAM_WEB_SOCKET) whose runtime object is a *wsocket. Clients connect
// through the plugin's sockets.Env, so its capabilities apply as to a
// StreamConnect; servers are made of a stream socket a listener accepted.
// Messages go to the plugin as WebSocketMessageReceived events under a
// window the plugin acknowledges (WebSocketAck): past it the handler
// waits, the runtime's reader stops and TCP's flow control holds the peer.

// wsWindow is how many bytes of message events (data plus 64 each) may
// wait for the plugin's WebSocketAck before the host stops reading.
const wsWindow = 1 << 20

// wsEventOverhead is what an event counts besides its data.
const wsEventOverhead = 64

// wsocket is one of a plugin's WebSockets in the host.
type wsocket struct {
	// immutable after newWSocket
	inst     *instance
	id       uint64
	conn     websocket.WebSocket
	msgs     websocket.MessageConn        // nil for a stream WebSocket
	strm     websocket.StreamConn         // nil for a message WebSocket
	typed    websocket.MessageTypeControl // nil for a stream WebSocket
	sock     *sockets.StreamSocket        // the connection, for its addresses
	protocol string
	done     chan struct{} // closed when the WebSocket is closed: handlers stop waiting
	ackWake  chan struct{} // capacity 1: an ack came
	// closedPosted is closed once the Closed event has been posted to
	// the plugin, which a WebSocketClose's completion must follow.
	closedPosted chan struct{}
	closedOnce   sync.Once

	mu       sync.Mutex // guards the fields below
	closing  bool
	sends    []*wsSend // queued, in order
	sending  bool      // the send worker runs
	sentType websocket.SocketMessageType
	sizes    []int  // sizes of the events posted and not acknowledged, in order
	unacked  int    // their sum
	acked    uint64 // events acknowledged (the plugin's consumed count)
}

// wsSend is a queued WebSocketSend or WebSocketFlush.
type wsSend struct {
	op    *op
	ctx   context.Context
	data  []byte
	typ   *websocket.SocketMessageType // nil: the Control's
	frame pluginv1.WebSocketFrame
	flush bool
}

func newWSocket(i *instance, conn websocket.WebSocket, sock *sockets.StreamSocket) *wsocket {
	ws := &wsocket{inst: i, id: i.newID(), conn: conn, sock: sock, protocol: conn.Information().Protocol(),
		done: make(chan struct{}), ackWake: make(chan struct{}, 1), closedPosted: make(chan struct{})}
	ws.msgs, _ = conn.(websocket.MessageConn)
	ws.strm, _ = conn.(websocket.StreamConn)
	switch c := conn.(type) {
	case *websocket.MessageWebSocket:
		ws.typed = c.Control()
	case *websocket.ServerMessageWebSocket:
		ws.typed = c.Control()
	}
	if ws.typed != nil {
		ws.sentType = ws.typed.MessageType()
	}
	return ws
}

// kind is the socket kind of ws.
func (ws *wsocket) kind() pluginv1.SocketKind {
	if ws.msgs != nil {
		return pluginv1.SocketKind_SOCKET_KIND_MESSAGE_WEB_SOCKET
	}
	return pluginv1.SocketKind_SOCKET_KIND_STREAM_WEB_SOCKET
}

// info describes the WebSocket's connection.
func (ws *wsocket) info() *pluginv1.SocketInfo {
	if ws.sock == nil {
		return &pluginv1.SocketInfo{}
	}
	in := ws.sock.Information()
	return &pluginv1.SocketInfo{LocalAddress: hostString(in.LocalAddress()), LocalPort: in.LocalPort(),
		RemoteAddress: hostString(in.RemoteAddress()), RemotePort: in.RemotePort()}
}

// wsErrorResult is the error completion of a WebSocket operation: it
// always carries the WebErrorStatus.
func wsErrorResult(err error) *pluginv1.Completion {
	return &pluginv1.Completion{Result: &pluginv1.Completion_Error{Error: wsError(err)}}
}

func wsError(err error) *pluginv1.Error {
	e := sdk.ErrorToProto(err)
	if e.WebErrorStatus == nil {
		st := int32(websocket.GetStatus(err))
		e.WebErrorStatus = &st
	}
	return e
}

// webSocketCommand runs the WebSocket commands; it reports false for
// another command.
func (i *instance) webSocketCommand(ctx context.Context, o *op, c *pluginv1.Command) bool {
	switch cmd := c.Command.(type) {
	case *pluginv1.Command_WebSocketConnect:
		i.wsConnect(ctx, o, cmd.WebSocketConnect)
	case *pluginv1.Command_WebSocketAccept:
		i.wsAccept(ctx, o, cmd.WebSocketAccept)
	case *pluginv1.Command_WebSocketSend:
		i.wsSendCommand(ctx, o, cmd.WebSocketSend)
	case *pluginv1.Command_WebSocketFlush:
		ws, bad := i.webSocket("WebSocket.OutputStream.Flush", cmd.WebSocketFlush.Socket, pluginv1.SocketKind_SOCKET_KIND_NONE)
		if bad != nil {
			i.finish(o, bad)
			return true
		}
		ws.enqueue(&wsSend{op: o, ctx: ctx, flush: true})
	case *pluginv1.Command_WebSocketRead:
		i.wsRead(ctx, o, cmd.WebSocketRead)
	case *pluginv1.Command_WebSocketClose:
		i.wsClose(o, cmd.WebSocketClose)
	default:
		return false
	}
	return true
}

// webSocket finds the instance's WebSocket id, of kind if kind is not
// NONE, or returns the error completion that says why it cannot be used.
func (i *instance) webSocket(op string, id uint64, kind pluginv1.SocketKind) (*wsocket, *pluginv1.Completion) {
	hs, bad := i.lookup(op, id, kind)
	if bad != nil {
		return nil, bad
	}
	if hs.ws == nil {
		return nil, invalid(op, "socket %d is a %s; %s needs a MessageWebSocket or a StreamWebSocket", id, kindName(hs.kind), op)
	}
	return hs.ws, nil
}

// wsKind checks the kind a WebSocketConnect or WebSocketAccept asks for.
func wsKind(op string, k pluginv1.SocketKind) *pluginv1.Completion {
	if k != pluginv1.SocketKind_SOCKET_KIND_MESSAGE_WEB_SOCKET && k != pluginv1.SocketKind_SOCKET_KIND_STREAM_WEB_SOCKET {
		return invalid(op, "kind %d is not a WebSocket kind: want SOCKET_KIND_MESSAGE_WEB_SOCKET (4) or SOCKET_KIND_STREAM_WEB_SOCKET (5)", int32(k))
	}
	return nil
}

// wsMessageType checks a message type sent by the plugin.
func wsMessageType(op string, t pluginv1.WebSocketMessageType) (websocket.SocketMessageType, *pluginv1.Completion) {
	if t != pluginv1.WebSocketMessageType_WEB_SOCKET_MESSAGE_TYPE_BINARY && t != pluginv1.WebSocketMessageType_WEB_SOCKET_MESSAGE_TYPE_UTF8 {
		return 0, invalid(op, "message_type %d is not a SocketMessageType (0 Binary, 1 Utf8)", int32(t))
	}
	return websocket.SocketMessageType(t), nil
}

// wsControl applies the options WebSocketConnect carries to a client's
// WebSocketControl.
func wsControl(c *pluginv1.WebSocketConnect, ctl *websocket.WebSocketControl, setHeader func(name, value string) error) error {
	for _, p := range c.SupportedProtocols {
		if err := ctl.AppendSupportedProtocol(p); err != nil {
			return err
		}
	}
	for _, h := range c.RequestHeaders {
		if err := setHeader(h.Name, h.Value); err != nil {
			return err
		}
	}
	if c.ServerCredentialUserName != "" {
		if err := ctl.SetServerCredential(&websocket.PasswordCredential{UserName: c.ServerCredentialUserName, Password: c.ServerCredentialPassword}); err != nil {
			return err
		}
	}
	if len(c.IgnorableServerCertificateErrors) > 0 {
		errs := make([]sockets.ChainValidationResult, len(c.IgnorableServerCertificateErrors))
		for k, v := range c.IgnorableServerCertificateErrors {
			errs[k] = sockets.ChainValidationResult(v)
		}
		if err := ctl.SetIgnorableServerCertificateErrors(errs); err != nil {
			return err
		}
	}
	if c.DesiredUnsolicitedPongIntervalMs > 0 {
		if err := ctl.SetDesiredUnsolicitedPongInterval(time.Duration(c.DesiredUnsolicitedPongIntervalMs) * time.Millisecond); err != nil {
			return err
		}
	}
	if c.OutboundBufferSizeInBytes > 0 {
		if err := ctl.SetOutboundBufferSizeInBytes(c.OutboundBufferSizeInBytes); err != nil {
			return err
		}
	}
	cert, err := clientCertificate("WebSocketControl", c.ClientCertificatePem, c.ClientKeyPem)
	if err != nil {
		return err
	}
	if cert != nil {
		return ctl.SetClientCertificate(cert)
	}
	return nil
}

// wsConnect makes a MessageWebSocket or StreamWebSocket through the
// plugin's sockets.Env and connects it.
func (i *instance) wsConnect(ctx context.Context, o *op, c *pluginv1.WebSocketConnect) {
	const opName = "WebSocket.Connect"
	if bad := wsKind(opName, c.Kind); bad != nil {
		i.finish(o, bad)
		return
	}
	var (
		conn    websocket.WebSocket
		connect func(context.Context, string) error
		sock    func() *sockets.StreamSocket
		err     error
	)
	if c.Kind == pluginv1.SocketKind_SOCKET_KIND_MESSAGE_WEB_SOCKET {
		m := websocket.NewMessageWebSocket(i.sv.env)
		conn, connect, sock = m, m.Connect, m.Socket
		t, bad := wsMessageType(opName, c.MessageType)
		if bad != nil {
			i.finish(o, bad)
			return
		}
		err = wsControl(c, &m.Control().WebSocketControl, m.SetRequestHeader)
		if err == nil && c.MaxMessageSize != 0 {
			err = m.Control().SetMaxMessageSize(c.MaxMessageSize)
		}
		if err == nil {
			err = m.Control().SetReceiveMode(websocket.MessageWebSocketReceiveMode(c.ReceiveMode))
		}
		if err == nil {
			err = m.Control().SetMessageType(t)
		}
	} else {
		s := websocket.NewStreamWebSocket(i.sv.env)
		conn, connect, sock = s, s.Connect, s.Socket
		err = wsControl(c, &s.Control().WebSocketControl, s.SetRequestHeader)
		if err == nil && c.NoDelay != nil {
			err = s.Control().SetNoDelay(*c.NoDelay)
		}
	}
	if err != nil {
		conn.Close()
		i.finish(o, wsErrorResult(err))
		return
	}
	i.sv.goFunc(func() {
		if err := connect(ctx, c.Uri); err != nil {
			conn.Close()
			i.finish(o, wsErrorResult(err))
			return
		}
		i.addWebSocket(o, newWSocket(i, conn, sock()))
	})
}

// addWebSocket makes ws the instance's, completes o with its id, and
// only then adds its handlers, so that the completion comes before its
// first message (the runtime holds messages until a handler is added).
func (i *instance) addWebSocket(o *op, ws *wsocket) {
	hs := &hsocket{id: ws.id, kind: ws.kind(), ws: ws}
	if !i.add(hs) {
		ws.closeFromHost()
		return
	}
	res := createdResult(hs)
	res.GetCreated().Protocol = ws.protocol
	i.finish(o, res)
	ws.conn.Closed().Add(ws.closed)
	if ws.msgs != nil {
		ws.msgs.MessageReceived().Add(ws.received)
	}
}

// wsAccept makes a server WebSocket of one of the plugin's accepted
// stream sockets, which then stops being a stream socket of the plugin.
func (i *instance) wsAccept(ctx context.Context, o *op, c *pluginv1.WebSocketAccept) {
	const opName = "WebSocket.Accept"
	if bad := wsKind(opName, c.Kind); bad != nil {
		i.finish(o, bad)
		return
	}
	hs, bad := i.lookup(opName, c.Socket, pluginv1.SocketKind_SOCKET_KIND_STREAM_SOCKET)
	if bad != nil {
		i.finish(o, bad)
		return
	}
	t, bad := wsMessageType(opName, c.MessageType)
	if bad != nil {
		i.finish(o, bad)
		return
	}
	mode := websocket.MessageWebSocketReceiveMode(c.ReceiveMode)
	if mode != websocket.FullMessage && mode != websocket.PartialMessage {
		i.finish(o, invalid(opName, "receive_mode %d is not a MessageWebSocketReceiveMode (0 FullMessage, 1 PartialMessage)", c.ReceiveMode))
		return
	}
	hs.mu.Lock()
	writing, transferred := hs.writing || len(hs.writes) > 0, hs.transferred
	hs.mu.Unlock()
	switch {
	case transferred:
		i.finish(o, errorResult(socketerror.IllegalCall(opName, "socket %d is transferred (TransferOwnership); a WebSocket cannot be", c.Socket)))
		return
	case writing:
		i.finish(o, errorResult(socketerror.IllegalCall(opName, "socket %d has writes in flight; flush them before the upgrade", c.Socket)))
		return
	}
	opts := websocket.AcceptOptions{
		Protocols: c.Protocols, Path: c.Path, MaxMessageSize: c.MaxMessageSize, ReceiveMode: mode,
		OriginPatterns: c.OriginPatterns, InsecureSkipOriginVerify: c.InsecureSkipOriginVerify,
		UnsolicitedPongInterval: time.Duration(c.UnsolicitedPongIntervalMs) * time.Millisecond,
		HandshakeTimeout:        time.Duration(c.HandshakeTimeoutMs) * time.Millisecond,
		Logger:                  i.log.With("socket", c.Socket),
	}
	i.remove(hs.id)
	i.sv.goFunc(func() {
		// The host's reads of the socket stop; what it read and the
		// plugin did not go back in front of the connection's bytes.
		if err := hs.release(ctx, c.Unread); err != nil {
			hs.closeNow()
			i.finish(o, wsErrorResult(err))
			return
		}
		var conn websocket.WebSocket
		var err error
		if c.Kind == pluginv1.SocketKind_SOCKET_KIND_MESSAGE_WEB_SOCKET {
			var m *websocket.ServerMessageWebSocket
			if m, err = websocket.AcceptMessage(ctx, hs.stream, opts); err == nil {
				conn = m
				err = m.Control().SetMessageType(t)
			}
		} else {
			var s *websocket.ServerStreamWebSocket
			if s, err = websocket.AcceptStream(ctx, hs.stream, opts); err == nil {
				conn = s
			}
		}
		if err != nil {
			if conn != nil {
				conn.Close()
			}
			hs.closeNow() // the runtime closed the socket; this marks it closed
			i.finish(o, wsErrorResult(err))
			return
		}
		i.addWebSocket(o, newWSocket(i, conn, hs.stream))
	})
}

// received is the MessageReceived handler: the message goes to the
// plugin, in pieces of at most max_payload, and the handler returns once
// the plugin's unacknowledged events are within the window.
func (ws *wsocket) received(a *websocket.MessageReceivedEventArgs) {
	i := ws.inst
	data := a.Data()
	size := len(data) + wsEventOverhead
	max := i.sv.r.opts.MaxPayload
	// Counted before it is posted: the plugin's ack may come back before
	// post returns.
	ws.mu.Lock()
	ws.sizes = append(ws.sizes, size)
	ws.unacked += size
	ws.mu.Unlock()
	for {
		n := min(len(data), max)
		ev := &pluginv1.WebSocketMessageReceived{Socket: ws.id, Data: bytes.Clone(data[:n]),
			MessageType: pluginv1.WebSocketMessageType(a.MessageType()), IsMessageComplete: a.IsMessageComplete(), More: n < len(data)}
		if ev.Data == nil {
			ev.Data = []byte{}
		}
		if !i.post(&pluginv1.Event{Event: &pluginv1.Event_WebSocketMessageReceived{WebSocketMessageReceived: ev}}) {
			return
		}
		data = data[n:]
		if !ev.More {
			break
		}
	}
	for {
		ws.mu.Lock()
		over := ws.unacked > wsWindow
		ws.mu.Unlock()
		if !over {
			return
		}
		select {
		case <-ws.ackWake:
		case <-ws.done:
			return
		case <-i.ctx.Done():
			return
		}
	}
}

// ack takes the plugin's count of handled events.
func (ws *wsocket) ack(consumed uint64) {
	ws.mu.Lock()
	if consumed <= ws.acked {
		ws.mu.Unlock()
		return
	}
	n := min(consumed-ws.acked, uint64(len(ws.sizes)))
	ws.acked = consumed
	for _, s := range ws.sizes[:n] {
		ws.unacked -= s
	}
	ws.sizes = ws.sizes[n:]
	if len(ws.sizes) == 0 {
		ws.sizes = nil
	}
	ws.mu.Unlock()
	select {
	case ws.ackWake <- struct{}{}:
	default:
	}
}

// closed is the Closed handler.
func (ws *wsocket) closed(a *websocket.ClosedEventArgs) {
	ev := &pluginv1.WebSocketClosed{Socket: ws.id, Code: uint32(a.Code()), Reason: a.Reason()}
	if err := a.Err(); err != nil {
		ev.Error = wsError(err)
	}
	ws.inst.post(&pluginv1.Event{Event: &pluginv1.Event_WebSocketClosed{WebSocketClosed: ev}})
	ws.closedOnce.Do(func() { close(ws.closedPosted) })
}

// webSocketAck runs a WebSocketAck (op 0).
func (i *instance) webSocketAck(a *pluginv1.WebSocketAck) {
	ws, bad := i.webSocket("WebSocketAck", a.Socket, pluginv1.SocketKind_SOCKET_KIND_MESSAGE_WEB_SOCKET)
	if bad != nil {
		i.protocolError(0, "web socket ack: %s", bad.GetError().GetMessage())
		return
	}
	ws.ack(a.Consumed)
}

// wsSendCommand checks a WebSocketSend and queues it.
func (i *instance) wsSendCommand(ctx context.Context, o *op, c *pluginv1.WebSocketSend) {
	const opName = "WebSocket.Send"
	ws, bad := i.webSocket(opName, c.Socket, pluginv1.SocketKind_SOCKET_KIND_NONE)
	if bad != nil {
		i.finish(o, bad)
		return
	}
	s := &wsSend{op: o, ctx: ctx, data: c.Data, frame: c.Frame}
	switch {
	case len(c.Data) > i.sv.r.opts.MaxPayload:
		i.finish(o, invalid(opName, "a payload of %d bytes is over max_payload, %d bytes (send a longer message as frames)", len(c.Data), i.sv.r.opts.MaxPayload))
		return
	case c.Frame > pluginv1.WebSocketFrame_WEB_SOCKET_FRAME_FINAL || c.Frame < 0:
		i.finish(o, invalid(opName, "frame %d is not a WebSocketFrame (0 WHOLE, 1 NONFINAL, 2 FINAL)", int32(c.Frame)))
		return
	case ws.msgs == nil && c.Frame != pluginv1.WebSocketFrame_WEB_SOCKET_FRAME_WHOLE:
		i.finish(o, invalid(opName, "socket %d is a StreamWebSocket, which sends whole messages only (frame WHOLE)", c.Socket))
		return
	}
	if c.MessageType != nil {
		t, bad := wsMessageType(opName, *c.MessageType)
		if bad != nil {
			i.finish(o, bad)
			return
		}
		if ws.msgs == nil && t != websocket.Binary {
			i.finish(o, invalid(opName, "socket %d is a StreamWebSocket, which sends Binary messages only", c.Socket))
			return
		}
		s.typ = &t
	}
	ws.enqueue(s)
}

// enqueue queues s and starts the send worker if none runs.
func (ws *wsocket) enqueue(s *wsSend) {
	ws.mu.Lock()
	ws.sends = append(ws.sends, s)
	start := !ws.sending
	ws.sending = true
	ws.mu.Unlock()
	if start {
		ws.inst.sv.goFunc(ws.sendWorker)
	}
}

// sendWorker sends the queued sends in order, until the queue is empty.
func (ws *wsocket) sendWorker() {
	for {
		ws.mu.Lock()
		if len(ws.sends) == 0 {
			ws.sending = false
			ws.mu.Unlock()
			return
		}
		s := ws.sends[0]
		ws.sends[0] = nil
		ws.sends = ws.sends[1:]
		ws.mu.Unlock()
		ws.inst.finish(s.op, ws.send(s))
	}
}

// send performs one queued send or flush.
func (ws *wsocket) send(s *wsSend) *pluginv1.Completion {
	if s.flush {
		var err error
		if ws.msgs != nil {
			err = ws.msgs.OutputStream().Flush(s.ctx)
		} else {
			err = ws.strm.OutputStream().Flush(s.ctx)
		}
		if err != nil {
			return wsErrorResult(err)
		}
		return doneResult()
	}
	if ws.typed != nil && s.typ != nil && *s.typ != ws.sentType {
		// Only this worker sets the type, right before the send it is for.
		if err := ws.typed.SetMessageType(*s.typ); err != nil {
			return wsErrorResult(err)
		}
		ws.sentType = *s.typ
	}
	var n int
	var err error
	switch {
	case ws.strm != nil:
		n, err = ws.strm.OutputStream().Write(s.ctx, s.data)
	case s.frame == pluginv1.WebSocketFrame_WEB_SOCKET_FRAME_NONFINAL:
		n, err = ws.msgs.SendNonfinalFrame(s.ctx, s.data)
	case s.frame == pluginv1.WebSocketFrame_WEB_SOCKET_FRAME_FINAL:
		n, err = ws.msgs.SendFinalFrame(s.ctx, s.data)
	default:
		n, err = ws.msgs.OutputStream().Write(s.ctx, s.data)
	}
	if err != nil {
		return wsErrorResult(err)
	}
	return writtenResult(n)
}

// wsRead reads a stream WebSocket.
func (i *instance) wsRead(ctx context.Context, o *op, c *pluginv1.WebSocketRead) {
	const opName = "StreamWebSocket.InputStream.Read"
	ws, bad := i.webSocket(opName, c.Socket, pluginv1.SocketKind_SOCKET_KIND_STREAM_WEB_SOCKET)
	switch {
	case bad != nil:
		i.finish(o, bad)
		return
	case i.checkRead(opName, c.Count, c.Options, o):
		return
	}
	i.sv.goFunc(func() {
		buf := make([]byte, c.Count)
		n, err := ws.strm.InputStream().Read(ctx, buf, sockets.InputStreamOptions(c.Options))
		switch {
		case n > 0:
			i.finish(o, &pluginv1.Completion{Result: &pluginv1.Completion_Read{Read: &pluginv1.ReadResult{Data: buf[:n]}}})
		case errors.Is(err, io.EOF):
			i.finish(o, &pluginv1.Completion{Result: &pluginv1.Completion_Read{Read: &pluginv1.ReadResult{Eof: true}}})
		default:
			i.finish(o, wsErrorResult(err))
		}
	})
}

// wsClose runs a WebSocketClose: the id stops naming the WebSocket once
// the arguments are checked.
func (i *instance) wsClose(o *op, c *pluginv1.WebSocketClose) {
	const opName = "WebSocket.Close"
	ws, bad := i.webSocket(opName, c.Socket, pluginv1.SocketKind_SOCKET_KIND_NONE)
	if bad != nil {
		i.finish(o, bad)
		return
	}
	if c.Code != 0 {
		if c.Code > 0xFFFF {
			i.finish(o, invalid(opName, "code %d is not a close code (1000-1003, 1007-1014, 3000-4999)", c.Code))
			return
		}
		if err := websocket.CheckCloseStatus(uint16(c.Code), c.Reason); err != nil {
			i.finish(o, wsErrorResult(err))
			return
		}
	}
	i.remove(c.Socket)
	i.sv.goFunc(func() {
		ws.close(c.Code != 0, uint16(c.Code), c.Reason)
		// The runtime may raise Closed just after Close returns: the
		// plugin gets the event before the completion, after which the
		// SDK forgets the id.
		t := time.NewTimer(wsClosedWait)
		defer t.Stop()
		select {
		case <-ws.closedPosted:
		case <-i.ended:
		case <-t.C:
			i.log.Warn("a closed WebSocket raised no Closed event", "socket", c.Socket, "waited", wsClosedWait)
		}
		i.finish(o, doneResult())
	})
}

// wsClosedWait bounds how long a WebSocketClose's completion waits for
// the Closed event of the WebSocket it closed.
const wsClosedWait = 5 * time.Second

// close closes the WebSocket once, with code and reason if withCode;
// the handlers waiting on the plugin stop waiting first, so that the
// runtime's Close does not wait for them.
func (ws *wsocket) close(withCode bool, code uint16, reason string) {
	ws.mu.Lock()
	if ws.closing {
		ws.mu.Unlock()
		return
	}
	ws.closing = true
	close(ws.done)
	ws.mu.Unlock()
	if withCode {
		ws.conn.CloseWithStatus(code, reason)
	} else {
		ws.conn.Close()
	}
}

// closeFromHost closes the WebSocket for hsocket.closeNow: as the
// plugin's Close (no code) while its instance runs; with 1011 once the
// instance has ended (it crashed or exited without closing it); with
// 1001 when the host is stopping.
func (ws *wsocket) closeFromHost() {
	switch {
	case ws.inst.sv.ctx.Err() != nil:
		ws.close(true, 1001, "the host is stopping")
	case ws.inst.ctx.Err() != nil:
		ws.close(true, 1011, "the plugin ended")
	default:
		ws.close(false, 0, "")
	}
}

// notTransferable refuses TransferOwnership of a WebSocket; it returns
// nil for other sockets.
func notTransferable(op string, hs *hsocket) *pluginv1.Completion {
	if hs.ws == nil {
		return nil
	}
	return errorResult(socketerror.IllegalCall(op, "socket %d is a %s; WebSockets cannot be transferred", hs.id, kindName(hs.kind)))
}
