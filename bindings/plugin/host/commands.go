package host

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/netrun/netrun/bindings/plugin/proto/pluginv1"
	"github.com/netrun/netrun/bindings/plugin/sdk"
	"github.com/netrun/netrun/runtime/event"
	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
)

// handle runs one command. It never blocks: what may take time runs on a
// worker goroutine, and every outcome is a completion.
func (i *instance) handle(c *pluginv1.Command) {
	switch cmd := c.Command.(type) {
	case *pluginv1.Command_Pong:
		i.lastPong.Store(time.Now().UnixNano())
		return
	case *pluginv1.Command_Cancel:
		i.mu.Lock()
		o := i.ops[cmd.Cancel.Target]
		i.mu.Unlock()
		if o != nil {
			o.cancel()
		}
		return
	case nil:
		i.protocolError(c.Op, "command %d carries no operation (an empty or unknown command)", c.Op)
		return
	}
	if c.Op == 0 {
		if w := c.GetStreamWrite(); w != nil {
			i.quietWrite(w)
			return
		}
		if a := c.GetAck(); a != nil {
			hs, bad := i.lookup("Ack", a.Socket, pluginv1.SocketKind_SOCKET_KIND_STREAM_SOCKET)
			if bad != nil {
				i.protocolError(0, "ack: %s", bad.GetError().GetMessage())
				return
			}
			hs.mu.Lock()
			hs.ackLocked(a.Consumed)
			hs.mu.Unlock()
			return
		}
		if a := c.GetWebSocketAck(); a != nil {
			i.webSocketAck(a)
			return
		}
		i.protocolError(0, "op id 0 is reserved for Pong, Cancel, Ack, WebSocketAck and quiet StreamWrites; a %s needs a non-zero op id", commandName(c))
		return
	}
	o := &op{id: c.Op, cancel: noCancel}
	i.mu.Lock()
	if i.done {
		i.mu.Unlock()
		return
	}
	if _, dup := i.ops[c.Op]; dup {
		i.mu.Unlock()
		i.protocolError(c.Op, "op id %d is already in flight", c.Op)
		return
	}
	i.ops[c.Op] = o
	i.mu.Unlock()

	// Reads and writes make a context only when they must wait: the hot
	// path allocates none.
	switch cmd := c.Command.(type) {
	case *pluginv1.Command_StreamRead:
		i.streamRead(c, o, cmd.StreamRead)
		return
	case *pluginv1.Command_StreamWrite:
		i.streamWrite(c, o, cmd.StreamWrite.Socket, cmd.StreamWrite.Data, cmd.StreamWrite.Consumed, false)
		return
	case *pluginv1.Command_StreamFlush:
		i.streamWrite(c, o, cmd.StreamFlush.Socket, nil, 0, true)
		return
	}
	ctx, cancel := i.opContext(c)
	o.cancel = cancel

	switch cmd := c.Command.(type) {
	case *pluginv1.Command_StreamConnect:
		i.streamConnect(ctx, o, cmd.StreamConnect)
	case *pluginv1.Command_StreamUpgradeToSsl:
		i.streamUpgradeToSsl(ctx, o, cmd.StreamUpgradeToSsl)
	case *pluginv1.Command_ListenerBind:
		i.listenerBind(ctx, o, cmd.ListenerBind)
	case *pluginv1.Command_DatagramBind:
		i.datagramBind(ctx, o, cmd.DatagramBind)
	case *pluginv1.Command_DatagramSend:
		i.datagramSend(ctx, o, cmd.DatagramSend)
	case *pluginv1.Command_DatagramConnect:
		i.datagramConnect(ctx, o, cmd.DatagramConnect)
	case *pluginv1.Command_DatagramJoinMulticastGroup:
		i.datagramJoin(o, cmd.DatagramJoinMulticastGroup)
	case *pluginv1.Command_Close:
		i.closeSocket(o, cmd.Close.Socket)
	case *pluginv1.Command_CancelIo:
		i.cancelIO(ctx, o, cmd.CancelIo.Socket)
	case *pluginv1.Command_TransferOwnership:
		if cmd.TransferOwnership.HandOver {
			i.handOver(ctx, o, cmd.TransferOwnership)
		} else {
			i.transferOwnership(o, cmd.TransferOwnership)
		}
	case *pluginv1.Command_Reclaim:
		if cmd.Reclaim.SocketId != "" {
			i.reclaimHeld(o, cmd.Reclaim.SocketId)
		} else {
			i.reclaim(o, cmd.Reclaim.Socket)
		}
	default:
		if !i.controlChannelCommand(ctx, o, c) && !i.webSocketCommand(ctx, o, c) {
			i.finish(o, invalid("plugin protocol", "command %s is not supported by this host", commandName(c)))
		}
	}
}

func noCancel() {}

// defaultWindow is a continuous read's window when the command sets none.
const defaultWindow = 256 << 10

// opContext is the context of an operation: the session's, bounded by the
// command's timeout.
func (i *instance) opContext(c *pluginv1.Command) (context.Context, context.CancelFunc) {
	if c.TimeoutMs > 0 {
		return context.WithTimeout(i.ctx, time.Duration(c.TimeoutMs)*time.Millisecond)
	}
	return context.WithCancel(i.ctx)
}

// commandName names a command's kind for messages.
func commandName(c *pluginv1.Command) string {
	if c.Command == nil {
		return "empty command"
	}
	return string(c.ProtoReflect().WhichOneof(c.ProtoReflect().Descriptor().Oneofs().ByName("command")).Name())
}

// protocolError reports a command that cannot be answered by a
// completion.
func (i *instance) protocolError(opID uint64, format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	i.log.Warn("plugin sent a bad command", "op", opID, "err", msg)
	i.post(&pluginv1.Event{Event: &pluginv1.Event_ProtocolError{ProtocolError: &pluginv1.ProtocolError{Op: opID, Message: msg}}})
}

// finish ends o with res.
func (i *instance) finish(o *op, res *pluginv1.Completion) {
	i.endOp(o.id)
	o.cancel()
	i.postCompletion(o.id, res)
}

// endOp forgets operation id.
func (i *instance) endOp(id uint64) {
	i.mu.Lock()
	delete(i.ops, id)
	i.mu.Unlock()
}

// postCompletion sends res as the completion of op id.
func (i *instance) postCompletion(id uint64, res *pluginv1.Completion) {
	res.Op = id
	i.post(&pluginv1.Event{Event: &pluginv1.Event_Completion{Completion: res}})
}

// complete is endOp and postCompletion.
func (i *instance) complete(id uint64, res *pluginv1.Completion) {
	i.endOp(id)
	i.postCompletion(id, res)
}

func errorResult(err error) *pluginv1.Completion {
	return &pluginv1.Completion{Result: &pluginv1.Completion_Error{Error: sdk.ErrorToProto(err)}}
}

func doneResult() *pluginv1.Completion {
	return &pluginv1.Completion{Result: &pluginv1.Completion_Done{Done: &pluginv1.Done{}}}
}

func writtenResult(n int) *pluginv1.Completion {
	return &pluginv1.Completion{Result: &pluginv1.Completion_Written{Written: &pluginv1.WriteResult{Bytes: uint32(n)}}}
}

func createdResult(hs *hsocket) *pluginv1.Completion {
	return &pluginv1.Completion{Result: &pluginv1.Completion_Created{Created: &pluginv1.SocketCreated{Socket: hs.id, Info: hs.info()}}}
}

// invalid is an E_INVALIDARG completion naming what was wrong.
func invalid(op, format string, a ...any) *pluginv1.Completion {
	return errorResult(&socketerror.Error{Op: op, Status: socketerror.Unknown, HResult: socketerror.EInvalidArg, Message: fmt.Sprintf(format, a...)})
}

func itoa(n int) string { return strconv.Itoa(n) }

// hostName parses a host name sent by the plugin.
func hostName(op, s string) (*networking.HostName, error) { return hostArg(op, "host", s) }

// hostArg is hostName for the argument named arg.
func hostArg(op, arg, s string) (*networking.HostName, error) {
	h, err := networking.NewHostName(s)
	if err != nil {
		return nil, socketerror.InvalidArg(op, arg, "%q: %v", s, err)
	}
	return h, nil
}

// lookup finds the instance's socket id of kind, or returns the error
// completion that says why it cannot be used.
func (i *instance) lookup(op string, id uint64, kind pluginv1.SocketKind) (*hsocket, *pluginv1.Completion) {
	i.mu.Lock()
	hs := i.sockets[id]
	i.mu.Unlock()
	if hs == nil {
		if id == 0 {
			return nil, invalid(op, "socket id 0 names no socket (ids come from SocketCreated and ConnectionReceived)")
		}
		return nil, invalid(op, "socket %d is not open in this plugin (never created, already closed, or not reclaimed)", id)
	}
	if kind != pluginv1.SocketKind_SOCKET_KIND_NONE && hs.kind != kind {
		return nil, invalid(op, "socket %d is a %s; %s needs a %s", id, kindName(hs.kind), op, kindName(kind))
	}
	return hs, nil
}

func kindName(k pluginv1.SocketKind) string { return sdk.SocketKind(k).String() }

// add makes hs the instance's; it reports false if the instance has
// ended, in which case the caller must close hs.
func (i *instance) add(hs *hsocket) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.done {
		return false
	}
	hs.mu.Lock()
	hs.owner = i
	hs.mu.Unlock()
	i.sockets[hs.id] = hs
	return true
}

// remove forgets socket id.
func (i *instance) remove(id uint64) {
	i.mu.Lock()
	delete(i.sockets, id)
	i.mu.Unlock()
}

func (i *instance) newID() uint64 { return i.sv.r.nextID.Add(1) }

// applyStreamControl sets the options c carries on a stream socket's
// Control, stopping at the first the runtime refuses; the runtime's
// setters name a property whose value is wrong.
func applyStreamControl(c *pluginv1.StreamControl, ctl *sockets.StreamSocketControl) error {
	if c == nil {
		return nil
	}
	const class = "StreamSocketControl"
	return applyAll(
		setOpt(c.NoDelay, ctl.SetNoDelay),
		setOpt(c.KeepAlive, ctl.SetKeepAlive),
		setOpt(c.MinProtectionLevel, func(v int32) error {
			return ctl.SetMinProtectionLevel(sockets.SocketProtectionLevel(v))
		}),
		setOpt(c.OutboundBufferSizeInBytes, ctl.SetOutboundBufferSizeInBytes),
		setOpt(c.OutboundUnicastHopLimit, hopLimitSetter(class, ctl.SetOutboundUnicastHopLimit)),
		setOpt(c.QualityOfService, qosSetter(ctl.SetQualityOfService)),
		setOpt(c.SerializeConnectionAttempts, ctl.SetSerializeConnectionAttempts),
		func() error {
			if len(c.IgnorableServerCertificateErrors) == 0 {
				return nil
			}
			rs := make([]sockets.ChainValidationResult, len(c.IgnorableServerCertificateErrors))
			for k, r := range c.IgnorableServerCertificateErrors {
				rs[k] = sockets.ChainValidationResult(r)
			}
			return ctl.SetIgnorableServerCertificateErrors(rs)
		},
		func() error {
			cert, err := clientCertificate(class, c.ClientCertificatePem, c.ClientKeyPem)
			if err != nil || cert == nil {
				return err
			}
			return ctl.SetClientCertificate(cert)
		},
	)
}

// applyListenerControl sets the options c carries on a listener's
// Control; an option a listener does not have is E_INVALIDARG naming it.
func applyListenerControl(c *pluginv1.StreamControl, ctl *sockets.StreamSocketListenerControl) error {
	if c == nil {
		return nil
	}
	const class = "StreamSocketListenerControl"
	connectOnly := func(name string) error {
		return socketerror.InvalidArg(class, name, "a listener has no such property (StreamConnect only)")
	}
	switch {
	case len(c.IgnorableServerCertificateErrors) > 0:
		return connectOnly("IgnorableServerCertificateErrors")
	case c.MinProtectionLevel != nil:
		return connectOnly("MinProtectionLevel")
	case c.SerializeConnectionAttempts != nil:
		return connectOnly("SerializeConnectionAttempts")
	case len(c.ClientCertificatePem) > 0 || len(c.ClientKeyPem) > 0:
		return socketerror.InvalidArg(class, "ClientCertificate", "a listener has no such property (StreamConnect only; a TLS listener's is server_certificate_pem)")
	}
	return applyAll(
		setOpt(c.OutboundBufferSizeInBytes, ctl.SetOutboundBufferSizeInBytes),
		setOpt(c.OutboundUnicastHopLimit, hopLimitSetter(class, ctl.SetOutboundUnicastHopLimit)),
		setOpt(c.QualityOfService, qosSetter(ctl.SetQualityOfService)),
		setOpt(c.NoDelay, ctl.SetNoDelay),
		setOpt(c.KeepAlive, ctl.SetKeepAlive),
	)
}

// applyDatagramControl sets the options c carries on a datagram
// socket's Control.
func applyDatagramControl(c *pluginv1.DatagramControl, ctl *sockets.DatagramSocketControl) error {
	if c == nil {
		return nil
	}
	return applyAll(
		setOpt(c.DontFragment, ctl.SetDontFragment),
		setOpt(c.InboundBufferSizeInBytes, ctl.SetInboundBufferSizeInBytes),
		setOpt(c.MulticastOnly, ctl.SetMulticastOnly),
		setOpt(c.OutboundUnicastHopLimit, hopLimitSetter("DatagramSocketControl", ctl.SetOutboundUnicastHopLimit)),
		setOpt(c.QualityOfService, qosSetter(ctl.SetQualityOfService)),
	)
}

// setOpt is one optional Control setting from the plugin: it calls set
// with the value if the plugin sent one.
func setOpt[T any](v *T, set func(T) error) func() error {
	return func() error {
		if v == nil {
			return nil
		}
		return set(*v)
	}
}

// applyAll runs settings in order and returns the first error.
func applyAll(settings ...func() error) error {
	for _, set := range settings {
		if err := set(); err != nil {
			return err
		}
	}
	return nil
}

// hopLimitSetter checks an OutboundUnicastHopLimit sent by the plugin
// before it reaches set.
func hopLimitSetter(class string, set func(uint8) error) func(uint32) error {
	return func(v uint32) error {
		if v == 0 || v > 255 {
			return socketerror.InvalidArg(class+".OutboundUnicastHopLimit", "value", "%d: must be 1 to 255", v)
		}
		return set(uint8(v))
	}
}

// qosSetter gives set the wire's QualityOfService value as the runtime's.
func qosSetter(set func(sockets.SocketQualityOfService) error) func(int32) error {
	return func(v int32) error { return set(sockets.SocketQualityOfService(v)) }
}

// tlsErrorResult is errorResult for a failed connect or upgrade of s,
// with the certificate errors its handshake found.
func tlsErrorResult(err error, s *sockets.StreamSocket) *pluginv1.Completion {
	res := errorResult(err)
	in := s.Information()
	if errs := in.ServerCertificateErrors(); len(errs) > 0 {
		e := res.GetError()
		for _, r := range errs {
			e.ServerCertificateErrors = append(e.ServerCertificateErrors, int32(r))
		}
		e.ServerCertificateErrorSeverity = int32(in.ServerCertificateErrorSeverity())
	}
	return res
}

func (i *instance) streamConnect(ctx context.Context, o *op, c *pluginv1.StreamConnect) {
	const opName = "StreamSocket.Connect"
	host, err := hostName(opName, c.Host)
	if err != nil {
		i.finish(o, errorResult(err))
		return
	}
	s := i.sv.env.NewStreamSocket()
	if err := applyStreamControl(c.Control, s.Control()); err != nil {
		i.finish(o, errorResult(err))
		return
	}
	i.sv.goFunc(func() {
		err := s.Connect(ctx, host, c.Service, sockets.SocketProtectionLevel(c.ProtectionLevel))
		if err != nil {
			s.Close()
			i.finish(o, tlsErrorResult(err, s))
			return
		}
		hs := &hsocket{id: i.newID(), kind: pluginv1.SocketKind_SOCKET_KIND_STREAM_SOCKET, stream: s}
		if !i.add(hs) {
			s.Close()
			return
		}
		i.finish(o, createdResult(hs))
	})
}

// streamUpgradeToSsl runs a StreamUpgradeToSsl: the runtime's
// UpgradeToSsl on a socket with no read or write of the plugin's in
// flight.
func (i *instance) streamUpgradeToSsl(ctx context.Context, o *op, c *pluginv1.StreamUpgradeToSsl) {
	const opName = "StreamSocket.UpgradeToSsl"
	hs, bad := i.lookup(opName, c.Socket, pluginv1.SocketKind_SOCKET_KIND_STREAM_SOCKET)
	if bad != nil {
		i.finish(o, bad)
		return
	}
	host, err := hostArg(opName, "validationHostName", c.ValidationHost)
	if err != nil {
		i.finish(o, errorResult(err))
		return
	}
	hs.mu.Lock()
	busy := hs.curRead != nil || len(hs.reads) > 0 || hs.writing || len(hs.writes) > 0
	hs.mu.Unlock()
	if busy {
		i.finish(o, errorResult(socketerror.IllegalCall(opName,
			"socket %d has a read or write in flight (end a continuous read with Cancel or CancelIO first)", c.Socket)))
		return
	}
	i.sv.goFunc(func() {
		if err := hs.stream.UpgradeToSsl(ctx, sockets.SocketProtectionLevel(c.ProtectionLevel), host); err != nil {
			i.finish(o, tlsErrorResult(err, hs.stream))
			return
		}
		i.finish(o, createdResult(hs))
	})
}

// checkRead checks a read's count and InputStreamOptions and, if one is
// wrong, finishes o with the error and reports true.
func (i *instance) checkRead(opName string, count, options uint32, o *op) bool {
	switch {
	case count == 0 || int(count) > i.sv.r.opts.MaxPayload:
		i.finish(o, invalid(opName, "count %d: want 1 to %d (max_payload)", count, i.sv.r.opts.MaxPayload))
		return true
	case options > uint32(sockets.ReadAhead):
		i.finish(o, invalid(opName, "options %d is not an InputStreamOptions value (0, 1 or 2)", options))
		return true
	}
	return false
}

func (i *instance) streamRead(c *pluginv1.Command, o *op, cmd *pluginv1.StreamRead) {
	const opName = "StreamSocket.InputStream.Read"
	hs, bad := i.lookup(opName, cmd.Socket, pluginv1.SocketKind_SOCKET_KIND_STREAM_SOCKET)
	switch {
	case bad != nil:
		i.finish(o, bad)
		return
	case i.checkRead(opName, cmd.Count, cmd.Options, o):
		return
	}
	r := &readReq{op: o, count: int(cmd.Count), opts: sockets.InputStreamOptions(cmd.Options), inst: i,
		timeout: time.Duration(c.TimeoutMs) * time.Millisecond, continuous: cmd.Continuous, window: uint64(cmd.Window)}
	if r.continuous && r.window == 0 {
		r.window = defaultWindow
	}
	o.cancel = func() { hs.cancelRead(r) }
	hs.enqueueRead(r, cmd.Consumed, i.sv)
}

// streamWrite runs a StreamWrite, or a StreamFlush when flush is set. A
// write that nothing is queued before is tried at once without blocking;
// the rest goes to the socket's write worker, in order.
func (i *instance) streamWrite(c *pluginv1.Command, o *op, id uint64, data []byte, consumed uint64, flush bool) {
	opName := "StreamSocket.OutputStream.Write"
	if flush {
		opName = "StreamSocket.OutputStream.Flush"
	}
	hs, bad := i.lookup(opName, id, pluginv1.SocketKind_SOCKET_KIND_STREAM_SOCKET)
	switch {
	case bad != nil:
		i.finish(o, bad)
		return
	case len(data) > i.sv.r.opts.MaxPayload:
		i.finish(o, invalid(opName, "a payload of %d bytes is over max_payload, %d bytes", len(data), i.sv.r.opts.MaxPayload))
		return
	}
	hs.mu.Lock()
	hs.ackLocked(consumed)
	idle := !hs.writing && len(hs.writes) == 0
	werr := hs.writeErr
	hs.mu.Unlock()
	if werr != nil && idle {
		i.finish(o, errorResult(werr))
		return
	}
	w := &writeReq{op: o, data: data, flush: flush, inst: i}
	if idle {
		if flush {
			i.finish(o, doneResult())
			return
		}
		n, all, err := hs.stream.OutputStream().TryWrite(data)
		switch {
		case err != nil:
			i.finish(o, errorResult(err))
			return
		case all:
			i.finish(o, writtenResult(n))
			return
		}
		w.data, w.written = data[n:], n
	}
	w.ctx, o.cancel = i.opContext(c)
	hs.mu.Lock()
	hs.writes = append(hs.writes, w)
	start := !hs.writing
	hs.writing = true
	hs.mu.Unlock()
	if start {
		i.sv.goFunc(hs.writeWorker)
	}
}

// quietWrite runs a StreamWrite with op 0: no completion; a failure is
// kept by the socket for its next write or flush, and a command that is
// wrong in itself is a ProtocolError.
func (i *instance) quietWrite(c *pluginv1.StreamWrite) {
	const opName = "StreamSocket.OutputStream.Write"
	hs, bad := i.lookup(opName, c.Socket, pluginv1.SocketKind_SOCKET_KIND_STREAM_SOCKET)
	switch {
	case bad != nil:
		i.protocolError(0, "quiet write: %s", bad.GetError().GetMessage())
		return
	case len(c.Data) > i.sv.r.opts.MaxPayload:
		i.protocolError(0, "quiet write: a payload of %d bytes is over max_payload, %d bytes", len(c.Data), i.sv.r.opts.MaxPayload)
		return
	}
	hs.mu.Lock()
	hs.ackLocked(c.Consumed)
	idle := !hs.writing && len(hs.writes) == 0
	failed := hs.writeErr != nil
	hs.mu.Unlock()
	if failed {
		return
	}
	data := c.Data
	if idle {
		n, all, err := hs.stream.OutputStream().TryWrite(data)
		switch {
		case err != nil:
			hs.mu.Lock()
			hs.writeErr = err
			hs.mu.Unlock()
			return
		case all:
			return
		}
		data = data[n:]
	}
	w := &writeReq{ctx: i.ctx, data: data, inst: i}
	hs.mu.Lock()
	hs.writes = append(hs.writes, w)
	start := !hs.writing
	hs.writing = true
	hs.mu.Unlock()
	if start {
		i.sv.goFunc(hs.writeWorker)
	}
}

func (i *instance) listenerBind(ctx context.Context, o *op, c *pluginv1.ListenerBind) {
	l := i.sv.env.NewStreamSocketListener()
	if err := applyListenerControl(c.Control, l.Control()); err != nil {
		i.finish(o, errorResult(err))
		return
	}
	level := sockets.SocketProtectionLevel(c.ProtectionLevel)
	if len(c.ServerCertificatePem) > 0 || len(c.ServerKeyPem) > 0 {
		cert, err := tls.X509KeyPair(c.ServerCertificatePem, c.ServerKeyPem)
		if err == nil {
			err = l.Control().SetServerCertificate(&cert)
		} else {
			err = socketerror.InvalidArg("StreamSocketListenerControl.ServerCertificate", "server_certificate_pem", "%v", err)
		}
		if err != nil {
			l.Close()
			i.finish(o, errorResult(err))
			return
		}
	}
	i.bindSocket(ctx, o, "StreamSocketListener.Bind", c.Host, func(host *networking.HostName) error {
		if host == nil {
			return l.BindServiceName(ctx, c.Service, level)
		}
		return l.BindEndpointTLS(ctx, host, c.Service, level)
	}, &hsocket{kind: pluginv1.SocketKind_SOCKET_KIND_STREAM_SOCKET_LISTENER, listener: l})
}

func (i *instance) datagramBind(ctx context.Context, o *op, c *pluginv1.DatagramBind) {
	d := i.sv.env.NewDatagramSocket()
	if err := applyDatagramControl(c.Control, d.Control()); err != nil {
		d.Close()
		i.finish(o, errorResult(err))
		return
	}
	i.bindSocket(ctx, o, "DatagramSocket.Bind", c.Host, func(host *networking.HostName) error {
		if host == nil {
			return d.BindServiceName(ctx, c.Service)
		}
		return d.BindEndpoint(ctx, host, c.Service)
	}, &hsocket{kind: pluginv1.SocketKind_SOCKET_KIND_DATAGRAM_SOCKET, dgram: d})
}

// bindSocket binds hs's listener or datagram socket on a goroutine, to
// host's addresses (every address when hostText is ""). Once bound, hs
// gets its id and becomes the instance's, its completion is queued, and
// only then is its handler attached, so that the completion comes before
// its first connection or datagram.
func (i *instance) bindSocket(ctx context.Context, o *op, opName, hostText string, bind func(*networking.HostName) error, hs *hsocket) {
	var host *networking.HostName
	if hostText != "" {
		h, err := hostName(opName, hostText)
		if err != nil {
			hs.closeNow()
			i.finish(o, errorResult(err))
			return
		}
		host = h
	}
	i.sv.goFunc(func() {
		if err := bind(host); err != nil {
			hs.closeNow()
			i.finish(o, errorResult(err))
			return
		}
		hs.id = i.newID()
		if !i.add(hs) {
			hs.closeNow()
			return
		}
		res := createdResult(hs)
		i.finish(o, res)
		i.sv.r.observe(Event{Kind: Bound, Plugin: i.sv.cfg.Name, Instance: i.n, Socket: hs.id, Addr: bindAddr(res.GetCreated().Info)})
		i.attach(hs)
	})
}

// bindAddr is a bound socket's address for an Event, as a client on this
// host would dial it: a socket bound to every address is reported on
// 127.0.0.1.
func bindAddr(info *pluginv1.SocketInfo) string {
	a := info.LocalAddress
	if a == "" || a == "::" {
		a = "127.0.0.1"
	}
	return net.JoinHostPort(a, info.LocalPort)
}

// attach registers the instance's handler on a listener or datagram
// socket, so that its connections or datagrams become events.
func (i *instance) attach(hs *hsocket) {
	var tok event.Token
	switch {
	case hs.listener != nil:
		tok = hs.listener.ConnectionReceived().Add(func(a *sockets.ConnectionReceivedEventArgs) {
			i.connectionReceived(hs, a.Socket)
		})
	case hs.dgram != nil:
		tok = hs.dgram.MessageReceived().Add(func(a *sockets.DatagramSocketMessageReceivedEventArgs) {
			i.post(&pluginv1.Event{Event: &pluginv1.Event_MessageReceived{MessageReceived: messageEvent(hs.id, a)}})
		})
	default:
		return
	}
	hs.mu.Lock()
	hs.token, hs.hasToken = tok, true
	hs.mu.Unlock()
}

// connectionReceived gives an accepted connection to the instance.
func (i *instance) connectionReceived(l *hsocket, s *sockets.StreamSocket) {
	hs := &hsocket{id: i.newID(), kind: pluginv1.SocketKind_SOCKET_KIND_STREAM_SOCKET, stream: s}
	if !i.add(hs) {
		s.Close()
		return
	}
	i.post(&pluginv1.Event{Event: &pluginv1.Event_ConnectionReceived{ConnectionReceived: &pluginv1.ConnectionReceived{
		Listener: l.id, Socket: hs.id, Info: hs.info()}}})
}

func (i *instance) datagramSend(ctx context.Context, o *op, c *pluginv1.DatagramSend) {
	const opName = "DatagramOutputStream.Write"
	hs, bad := i.lookup(opName, c.Socket, pluginv1.SocketKind_SOCKET_KIND_DATAGRAM_SOCKET)
	switch {
	case bad != nil:
		i.finish(o, bad)
		return
	case len(c.Data) > i.sv.r.opts.MaxPayload:
		i.finish(o, invalid(opName, "a payload of %d bytes is over max_payload, %d bytes", len(c.Data), i.sv.r.opts.MaxPayload))
		return
	}
	if c.Host == "" && c.Service == "" {
		// OutputStream: the connected socket's remote.
		out := hs.dgram.OutputStream()
		if n, all, err := out.TryWrite(c.Data); err != nil || all {
			if err != nil {
				i.finish(o, errorResult(err))
			} else {
				i.finish(o, writtenResult(n))
			}
			return
		}
		i.sv.goFunc(func() {
			n, err := out.Write(ctx, c.Data)
			if err != nil {
				i.finish(o, errorResult(err))
				return
			}
			i.finish(o, writtenResult(n))
		})
		return
	}
	send := func() {
		out, err := hs.output(ctx, c.Host, c.Service)
		if err != nil {
			i.finish(o, errorResult(err))
			return
		}
		n, err := out.Write(ctx, c.Data)
		if err != nil {
			i.finish(o, errorResult(err))
			return
		}
		i.finish(o, writtenResult(n))
	}
	hs.mu.Lock()
	out := hs.outs[c.Host+"\x00"+c.Service]
	hs.mu.Unlock()
	if out != nil {
		if n, all, err := out.TryWrite(c.Data); err != nil || all {
			if err != nil {
				i.finish(o, errorResult(err))
			} else {
				i.finish(o, writtenResult(n))
			}
			return
		}
	}
	i.sv.goFunc(send)
}

// datagramConnect connects a datagram socket of the instance, or makes
// and connects a new one (socket 0).
func (i *instance) datagramConnect(ctx context.Context, o *op, c *pluginv1.DatagramConnect) {
	const opName = "DatagramSocket.Connect"
	host, err := hostName(opName, c.Host)
	if err != nil {
		i.finish(o, errorResult(err))
		return
	}
	if c.Socket == 0 {
		d := i.sv.env.NewDatagramSocket()
		if err := applyDatagramControl(c.Control, d.Control()); err != nil {
			d.Close()
			i.finish(o, errorResult(err))
			return
		}
		i.bindSocket(ctx, o, opName, "", func(*networking.HostName) error {
			return d.Connect(ctx, host, c.Service)
		}, &hsocket{kind: pluginv1.SocketKind_SOCKET_KIND_DATAGRAM_SOCKET, dgram: d})
		return
	}
	hs, bad := i.lookup(opName, c.Socket, pluginv1.SocketKind_SOCKET_KIND_DATAGRAM_SOCKET)
	if bad != nil {
		i.finish(o, bad)
		return
	}
	if err := applyDatagramControl(c.Control, hs.dgram.Control()); err != nil {
		i.finish(o, errorResult(err))
		return
	}
	i.sv.goFunc(func() {
		if err := hs.dgram.Connect(ctx, host, c.Service); err != nil {
			i.finish(o, errorResult(err))
			return
		}
		i.finish(o, createdResult(hs))
	})
}

// datagramJoin joins a bound datagram socket to a multicast group.
func (i *instance) datagramJoin(o *op, c *pluginv1.DatagramJoinMulticastGroup) {
	const opName = "DatagramSocket.JoinMulticastGroup"
	hs, bad := i.lookup(opName, c.Socket, pluginv1.SocketKind_SOCKET_KIND_DATAGRAM_SOCKET)
	if bad != nil {
		i.finish(o, bad)
		return
	}
	host, err := hostName(opName, c.Host)
	if err != nil {
		i.finish(o, errorResult(err))
		return
	}
	if err := hs.dgram.JoinMulticastGroup(host); err != nil {
		i.finish(o, errorResult(err))
		return
	}
	i.finish(o, doneResult())
}

func (i *instance) closeSocket(o *op, id uint64) {
	hs, bad := i.lookup("Close", id, pluginv1.SocketKind_SOCKET_KIND_NONE)
	if bad != nil {
		i.finish(o, bad)
		return
	}
	i.remove(id)
	i.sv.goFunc(func() {
		hs.closeNow()
		i.finish(o, doneResult())
	})
}

func (i *instance) cancelIO(ctx context.Context, o *op, id uint64) {
	hs, bad := i.lookup("CancelIO", id, pluginv1.SocketKind_SOCKET_KIND_NONE)
	if bad != nil {
		i.finish(o, bad)
		return
	}
	if hs.stream == nil {
		i.finish(o, doneResult())
		return
	}
	hs.mu.Lock()
	reads, writes := hs.reads, hs.writes
	hs.reads, hs.writes = nil, nil
	if hs.curRead != nil {
		hs.curCancel()
	}
	hs.mu.Unlock()
	aborted := socketerror.WithStatus("StreamSocket.CancelIO", "", socketerror.OperationAborted, context.Canceled)
	for _, r := range reads {
		i.complete(r.op.id, errorResult(aborted))
	}
	for _, w := range writes {
		w.op.cancel()
		i.complete(w.op.id, errorResult(aborted))
	}
	i.sv.goFunc(func() {
		if err := hs.stream.CancelIO(ctx); err != nil {
			i.finish(o, errorResult(err))
			return
		}
		i.finish(o, doneResult())
	})
}

func (i *instance) transferOwnership(o *op, c *pluginv1.TransferOwnership) {
	hs, bad := i.lookup("TransferOwnership", c.Socket, pluginv1.SocketKind_SOCKET_KIND_NONE)
	if bad == nil {
		bad = notTransferable("TransferOwnership", hs)
	}
	if bad != nil {
		i.finish(o, bad)
		return
	}
	hs.mu.Lock()
	hs.transferred = true
	hs.context = c.Context
	hs.mu.Unlock()
	i.finish(o, doneResult())
	i.sv.r.observe(Event{Kind: Transferred, Plugin: i.sv.cfg.Name, Instance: i.n, Socket: hs.id})
}

func (i *instance) reclaim(o *op, id uint64) {
	hs := i.sv.broker.take(id)
	if hs == nil {
		i.finish(o, invalid("Reclaim", "socket %d is not waiting to be reclaimed", id))
		return
	}
	if !i.add(hs) {
		i.sv.broker.park(hs)
		return
	}
	i.finish(o, createdResult(hs))
	i.sv.r.observe(Event{Kind: Reclaimed, Plugin: i.sv.cfg.Name, Instance: i.n, Socket: hs.id})
	// Connections and datagrams that waited come after the completion.
	hs.mu.Lock()
	pending, dgrams := hs.pending, hs.datagrams
	hs.pending, hs.datagrams = nil, nil
	hs.mu.Unlock()
	for _, s := range pending {
		i.connectionReceived(hs, s)
	}
	for _, m := range dgrams {
		i.post(&pluginv1.Event{Event: &pluginv1.Event_MessageReceived{MessageReceived: m}})
	}
	i.attach(hs)
}
