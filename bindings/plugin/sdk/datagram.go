package sdk

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/netrun/netrun/bindings/plugin/proto/pluginv1"
	"github.com/netrun/netrun/runtime/event"
	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
)

// DatagramSocketMessageReceivedEventArgs is WinRT's
// DatagramSocketMessageReceivedEventArgs: one datagram and where it came
// from. Unlike the runtime's, it stays valid after the handler returns.
type DatagramSocketMessageReceivedEventArgs struct {
	m *pluginv1.MessageReceived
}

// RemoteAddress returns the sender's address.
func (a *DatagramSocketMessageReceivedEventArgs) RemoteAddress() *networking.HostName {
	return hostName(a.m.RemoteAddress)
}

// RemotePort returns the sender's port as a decimal string.
func (a *DatagramSocketMessageReceivedEventArgs) RemotePort() string { return a.m.RemotePort }

// LocalAddress returns the address the datagram was sent to.
func (a *DatagramSocketMessageReceivedEventArgs) LocalAddress() *networking.HostName {
	return hostName(a.m.LocalAddress)
}

// Data returns the datagram's payload.
func (a *DatagramSocketMessageReceivedEventArgs) Data() []byte { return a.m.Data }

// DatagramSocket is the runtime's sockets.DatagramSocket as a plugin uses
// it: bind it to receive (MessageReceived), and send through the streams
// GetOutputStream returns. Handlers run on the socket's own goroutine, one
// datagram at a time. All methods are safe for concurrent use. The owner
// must Close it.
type DatagramSocket struct {
	// immutable after construction
	h               *Host
	ctl             DatagramSocketControl
	messageReceived event.Event[*DatagramSocketMessageReceivedEventArgs]
	q               *eventQueue[*pluginv1.MessageReceived, *DatagramSocketMessageReceivedEventArgs]
	bindOnce        sync.Mutex // serialises binds, explicit and implicit

	mu     sync.Mutex // guards the fields below
	id     uint64
	info   *pluginv1.SocketInfo
	taskID string // EnableTransferOwnership's
	closed bool

	transferred atomic.Bool
}

// NewDatagramSocket returns an unbound datagram socket.
func (h *Host) NewDatagramSocket() *DatagramSocket {
	d := &DatagramSocket{h: h}
	d.ctl.d = d
	d.q = newEventQueue(&d.messageReceived, func(m *pluginv1.MessageReceived) *DatagramSocketMessageReceivedEventArgs {
		return &DatagramSocketMessageReceivedEventArgs{m: m}
	})
	return d
}

// Control returns the socket's options; they travel with the bind (an
// explicit one, or Connect's or GetOutputStream's), so set them before.
func (d *DatagramSocket) Control() *DatagramSocketControl { return &d.ctl }

// DatagramSocketControl is the runtime's sockets.DatagramSocketControl as
// the protocol carries it. Its setters fail with E_ILLEGAL_METHOD_CALL
// once the socket is bound, as the runtime's do (OutboundUnicastHopLimit
// included: the protocol sets it with the bind only).
type DatagramSocketControl struct {
	d *DatagramSocket

	mu sync.Mutex // guards p
	p  pluginv1.DatagramControl
}

func (c *DatagramSocketControl) beforeBind(prop string, set func()) error {
	if c.d.ID() != 0 {
		return socketerror.IllegalCall("DatagramSocketControl."+prop, "cannot be changed once the socket is bound or connected")
	}
	c.mu.Lock()
	set()
	c.mu.Unlock()
	return nil
}

// SetDontFragment sets the "don't fragment" bit on sent datagrams.
func (c *DatagramSocketControl) SetDontFragment(v bool) error {
	return c.beforeBind("DontFragment", func() { c.p.DontFragment = &v })
}

// SetInboundBufferSizeInBytes sets the receive buffer size (SO_RCVBUF; 0
// keeps the system's).
func (c *DatagramSocketControl) SetInboundBufferSizeInBytes(v uint32) error {
	return c.beforeBind("InboundBufferSizeInBytes", func() { c.p.InboundBufferSizeInBytes = &v })
}

// SetMulticastOnly lets several sockets share the port (SO_REUSEADDR), to
// receive one multicast group.
func (c *DatagramSocketControl) SetMulticastOnly(v bool) error {
	return c.beforeBind("MulticastOnly", func() { c.p.MulticastOnly = &v })
}

// SetOutboundUnicastHopLimit sets the TTL or hop limit of unicast
// datagrams (default 128); 0 is E_INVALIDARG.
func (c *DatagramSocketControl) SetOutboundUnicastHopLimit(v uint8) error {
	if err := checkHopLimit("DatagramSocketControl", v); err != nil {
		return err
	}
	w := uint32(v)
	return c.beforeBind("OutboundUnicastHopLimit", func() { c.p.OutboundUnicastHopLimit = &w })
}

// SetQualityOfService sets the traffic class (Normal or LowLatency).
func (c *DatagramSocketControl) SetQualityOfService(v sockets.SocketQualityOfService) error {
	if err := checkQoS("DatagramSocketControl", v); err != nil {
		return err
	}
	w := int32(v)
	return c.beforeBind("QualityOfService", func() { c.p.QualityOfService = &w })
}

func (c *DatagramSocketControl) proto() *pluginv1.DatagramControl {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := &pluginv1.DatagramControl{DontFragment: c.p.DontFragment, InboundBufferSizeInBytes: c.p.InboundBufferSizeInBytes,
		MulticastOnly: c.p.MulticastOnly, OutboundUnicastHopLimit: c.p.OutboundUnicastHopLimit, QualityOfService: c.p.QualityOfService}
	if p.DontFragment == nil && p.InboundBufferSizeInBytes == nil && p.MulticastOnly == nil && p.OutboundUnicastHopLimit == nil && p.QualityOfService == nil {
		return nil
	}
	return p
}

// MessageReceived is raised for each datagram received.
func (d *DatagramSocket) MessageReceived() *event.Event[*DatagramSocketMessageReceivedEventArgs] {
	return &d.messageReceived
}

// Information returns the bound address and port, and after Connect the
// remote's.
func (d *DatagramSocket) Information() *SocketInformation {
	d.mu.Lock()
	defer d.mu.Unlock()
	return infoFrom(d.info)
}

// ID returns the socket's id in the host (0 before it is bound).
func (d *DatagramSocket) ID() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.id
}

// BindServiceName binds to service on every local address; "" picks a
// port.
func (d *DatagramSocket) BindServiceName(ctx context.Context, service string) error {
	return d.bind(ctx, "DatagramSocket.BindServiceName", "", service, true)
}

// BindEndpoint binds to service at host's address.
func (d *DatagramSocket) BindEndpoint(ctx context.Context, host *networking.HostName, service string) error {
	name := ""
	if host != nil {
		name = host.RawName()
	}
	return d.bind(ctx, "DatagramSocket.BindEndpoint", name, service, true)
}

// bind binds the socket; an implicit bind (explicit false) of a bound
// socket does nothing.
func (d *DatagramSocket) bind(ctx context.Context, op, host, service string, explicit bool) error {
	d.bindOnce.Lock()
	defer d.bindOnce.Unlock()
	d.mu.Lock()
	closed, bound := d.closed, d.id != 0
	d.mu.Unlock()
	switch {
	case closed:
		return socketerror.Closed(op)
	case bound && explicit:
		return socketerror.IllegalCall(op, "the socket is already bound")
	case bound:
		return nil
	}
	res, err := d.h.s.do(ctx, op, &pluginv1.Command{Command: &pluginv1.Command_DatagramBind{DatagramBind: &pluginv1.DatagramBind{
		Host: host, Service: service, Control: d.ctl.proto()}}}, d)
	if err != nil {
		return err
	}
	d.setBound(res.GetCreated().Socket, res.GetCreated().Info)
	return nil
}

func (d *DatagramSocket) setBound(id uint64, info *pluginv1.SocketInfo) {
	d.mu.Lock()
	d.id, d.info = id, info
	d.mu.Unlock()
	d.h.track(d)
}

// Connect connects the socket to service on host, binding it to an
// ephemeral port first if it is not bound, as sockets.DatagramSocket's
// Connect does: afterwards only datagrams from that address and port
// raise MessageReceived, and OutputStream sends to it. A socket connects
// once.
func (d *DatagramSocket) Connect(ctx context.Context, host *networking.HostName, service string) error {
	const op = "DatagramSocket.Connect"
	if host == nil {
		return socketerror.InvalidArg(op, "remoteHostName", "must not be nil")
	}
	if service == "" {
		return socketerror.InvalidArg(op, "remoteServiceName", "must not be empty")
	}
	d.bindOnce.Lock()
	defer d.bindOnce.Unlock()
	d.mu.Lock()
	id, closed := d.id, d.closed
	d.mu.Unlock()
	if closed {
		return socketerror.Closed(op)
	}
	var sk sink
	var ctl *pluginv1.DatagramControl
	if id == 0 {
		sk, ctl = d, d.ctl.proto() // a new socket: its datagrams come to d
	}
	res, err := d.h.s.do(ctx, op, &pluginv1.Command{Command: &pluginv1.Command_DatagramConnect{DatagramConnect: &pluginv1.DatagramConnect{
		Socket: id, Host: host.RawName(), Service: service, Control: ctl}}}, sk)
	if err != nil {
		return err
	}
	if id == 0 {
		d.setBound(res.GetCreated().Socket, res.GetCreated().Info)
		return nil
	}
	d.mu.Lock()
	d.info = res.GetCreated().Info
	d.mu.Unlock()
	return nil
}

// OutputStream returns the stream that sends to the remote Connect
// connected the socket to; its writes fail until then.
func (d *DatagramSocket) OutputStream() *DatagramOutputStream { return &DatagramOutputStream{d: d} }

// JoinMulticastGroup joins the bound socket to the multicast group host
// (an IP address; an IPv6 one may name its interface as a zone), as
// sockets.DatagramSocket's does: datagrams sent to the group on the
// socket's port then raise MessageReceived.
func (d *DatagramSocket) JoinMulticastGroup(host *networking.HostName) error {
	const op = "DatagramSocket.JoinMulticastGroup"
	if host == nil {
		return socketerror.InvalidArg(op, "host", "must not be nil")
	}
	id := d.ID()
	if id == 0 {
		return socketerror.IllegalCall(op, "the socket must be bound before it joins a group")
	}
	_, err := d.h.s.do(d.h.s.ctx, op, &pluginv1.Command{Command: &pluginv1.Command_DatagramJoinMulticastGroup{
		DatagramJoinMulticastGroup: &pluginv1.DatagramJoinMulticastGroup{Socket: id, Host: host.RawName()}}}, nil)
	return err
}

// DatagramOutputStream sends datagrams to one destination: each Write
// sends one.
type DatagramOutputStream struct {
	d             *DatagramSocket
	host, service string
}

// GetOutputStream returns a stream to service on host, binding the socket
// to an ephemeral port first if it is not bound.
func (d *DatagramSocket) GetOutputStream(ctx context.Context, host *networking.HostName, service string) (*DatagramOutputStream, error) {
	const op = "DatagramSocket.GetOutputStream"
	if host == nil {
		return nil, socketerror.InvalidArg(op, "remoteHostName", "must not be nil")
	}
	if service == "" {
		return nil, socketerror.InvalidArg(op, "remoteServiceName", "must not be empty")
	}
	if err := d.bind(ctx, op, "", "", false); err != nil {
		return nil, err
	}
	return &DatagramOutputStream{d: d, host: host.RawName(), service: service}, nil
}

// Write sends p as one datagram and returns len(p) unless err is set.
func (o *DatagramOutputStream) Write(ctx context.Context, p []byte) (int, error) {
	const op = "DatagramOutputStream.Write"
	d := o.d
	d.mu.Lock()
	id, closed := d.id, d.closed
	d.mu.Unlock()
	if closed {
		return 0, socketerror.Closed(op)
	}
	if id == 0 {
		return 0, socketerror.IllegalCall(op, "the socket is not connected")
	}
	res, err := d.h.s.do(ctx, op, &pluginv1.Command{Command: &pluginv1.Command_DatagramSend{DatagramSend: &pluginv1.DatagramSend{
		Socket: id, Host: o.host, Service: o.service, Data: p}}}, nil)
	if err != nil {
		return 0, err
	}
	return int(res.GetWritten().Bytes), nil
}

// TransferOwnership hands the socket to the host's broker with context
// data: if this plugin instance ends, the socket stays bound and its
// datagrams wait for the next instance (see [Host.Transferred]).
func (d *DatagramSocket) TransferOwnership(ctx context.Context, data []byte) error {
	const op = "DatagramSocket.TransferOwnership"
	if err := d.h.transfer(ctx, op, d.ID(), data); err != nil {
		return err
	}
	d.transferred.Store(true)
	return nil
}

func (d *DatagramSocket) isTransferred() bool { return d.transferred.Load() }

func (d *DatagramSocket) event(ev *pluginv1.Event) { d.q.push(ev.GetMessageReceived()) }

func (d *DatagramSocket) sessionEnded() { d.q.stop() }

// Close stops receiving and closes the socket. It is idempotent and
// returns nil.
func (d *DatagramSocket) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	id := d.id
	d.mu.Unlock()
	d.q.stop()
	if id != 0 {
		d.h.untrack(d)
		d.h.s.forget(id)
		d.h.closeID("DatagramSocket.Close", id)
	}
	return nil
}
