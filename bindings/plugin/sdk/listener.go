package sdk

import (
	"context"
	"crypto/tls"
	"sync"
	"sync/atomic"

	"github.com/netrun/netrun/bindings/plugin/proto/pluginv1"
	"github.com/netrun/netrun/runtime/event"
	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
)

// ConnectionReceivedEventArgs is WinRT's
// StreamSocketListenerConnectionReceivedEventArgs.
type ConnectionReceivedEventArgs struct {
	// Socket is the accepted connection; the handler owns it and must
	// Close it.
	Socket *StreamSocket
}

// StreamSocketListener is the runtime's sockets.StreamSocketListener as a
// plugin uses it. Add a ConnectionReceived handler, then bind. Handlers
// run on the listener's own goroutine, one connection at a time: hand
// long work to a goroutine. Close stops accepting; accepted sockets live
// on. All methods are safe for concurrent use.
type StreamSocketListener struct {
	// immutable after construction
	h                  *Host
	ctl                StreamSocketListenerControl
	connectionReceived event.Event[*ConnectionReceivedEventArgs]
	q                  *eventQueue[*pluginv1.ConnectionReceived, *ConnectionReceivedEventArgs]

	mu      sync.Mutex // guards the fields below
	id      uint64
	info    *pluginv1.SocketInfo
	binding bool
	taskID  string // EnableTransferOwnership's
	closed  bool

	transferred atomic.Bool
}

// NewStreamSocketListener returns an unbound listener.
func (h *Host) NewStreamSocketListener() *StreamSocketListener {
	l := &StreamSocketListener{h: h}
	l.q = newEventQueue(&l.connectionReceived, func(e *pluginv1.ConnectionReceived) *ConnectionReceivedEventArgs {
		s := h.NewStreamSocket()
		s.setConnected(e.Socket, e.Info)
		return &ConnectionReceivedEventArgs{Socket: s}
	})
	return l
}

// ConnectionReceived is raised for each accepted connection.
func (l *StreamSocketListener) ConnectionReceived() *event.Event[*ConnectionReceivedEventArgs] {
	return &l.connectionReceived
}

// Control returns the options applied to every accepted socket; set them
// before binding.
func (l *StreamSocketListener) Control() *StreamSocketListenerControl { return &l.ctl }

// StreamSocketListenerControl is the runtime's
// sockets.StreamSocketListenerControl as the protocol carries it: the
// options travel with the bind, so set them before it; the host applies
// them with the runtime's setters, whose errors the bind returns.
type StreamSocketListenerControl struct {
	mu        sync.Mutex // guards the fields below
	noDelay   *bool
	keepAlive *bool
	certPEM   []byte
	keyPEM    []byte
	opts      streamOptions
}

// SetOutboundBufferSizeInBytes sets accepted sockets' send buffer size
// (0 keeps the system's).
func (c *StreamSocketListenerControl) SetOutboundBufferSizeInBytes(v uint32) error {
	c.mu.Lock()
	c.opts.sendBuffer = &v
	c.mu.Unlock()
	return nil
}

// SetOutboundUnicastHopLimit sets accepted sockets' hop limit (default
// 128); 0 is E_INVALIDARG.
func (c *StreamSocketListenerControl) SetOutboundUnicastHopLimit(v uint8) error {
	if err := checkHopLimit("StreamSocketListenerControl", v); err != nil {
		return err
	}
	w := uint32(v)
	c.mu.Lock()
	c.opts.hopLimit = &w
	c.mu.Unlock()
	return nil
}

// SetQualityOfService sets accepted sockets' traffic class.
func (c *StreamSocketListenerControl) SetQualityOfService(v sockets.SocketQualityOfService) error {
	if err := checkQoS("StreamSocketListenerControl", v); err != nil {
		return err
	}
	w := int32(v)
	c.mu.Lock()
	c.opts.qos = &w
	c.mu.Unlock()
	return nil
}

// SetNoDelay sets TCP_NODELAY on accepted sockets (default true).
func (c *StreamSocketListenerControl) SetNoDelay(v bool) { c.mu.Lock(); c.noDelay = &v; c.mu.Unlock() }

// SetKeepAlive sets SO_KEEPALIVE on accepted sockets (default false).
func (c *StreamSocketListenerControl) SetKeepAlive(v bool) {
	c.mu.Lock()
	c.keepAlive = &v
	c.mu.Unlock()
}

// SetServerCertificate sets the certificate chain and private key a
// listener bound with a TLS protection level serves (a netrun extension,
// as in the runtime). They are sent to the host as PEM with the bind.
func (c *StreamSocketListenerControl) SetServerCertificate(cert *tls.Certificate) error {
	chain, key, err := encodeCertificate("StreamSocketListenerControl.ServerCertificate", cert)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.certPEM, c.keyPEM = chain, key
	c.mu.Unlock()
	return nil
}

// LoadServerCertificate reads a PEM certificate chain and its key from
// the plugin's files and sets them as the server certificate.
func (c *StreamSocketListenerControl) LoadServerCertificate(certFile, keyFile string) error {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return socketerror.InvalidArg("StreamSocketListenerControl.LoadServerCertificate", "certFile", "%v", err)
	}
	return c.SetServerCertificate(&cert)
}

func (c *StreamSocketListenerControl) proto() *pluginv1.StreamControl {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.noDelay == nil && c.keepAlive == nil && c.opts.empty() {
		return nil
	}
	p := &pluginv1.StreamControl{NoDelay: c.noDelay, KeepAlive: c.keepAlive}
	c.opts.fill(p)
	return p
}

func (c *StreamSocketListenerControl) certificate() (certPEM, keyPEM []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.certPEM, c.keyPEM
}

// Information returns the bound port.
func (l *StreamSocketListener) Information() *SocketInformation {
	l.mu.Lock()
	defer l.mu.Unlock()
	return infoFrom(l.info)
}

// ID returns the listener's id in the host (0 before bind).
func (l *StreamSocketListener) ID() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.id
}

// BindServiceName listens on service on every local address; "" or "0"
// picks a port, which Information().LocalPort() reports. A TLS level
// serves TLS with Control's server certificate (a netrun extension).
func (l *StreamSocketListener) BindServiceName(ctx context.Context, service string, level sockets.SocketProtectionLevel) error {
	return l.bind(ctx, "StreamSocketListener.BindServiceName", "", service, level)
}

// BindEndpoint listens on service at host's addresses only.
func (l *StreamSocketListener) BindEndpoint(ctx context.Context, host *networking.HostName, service string) error {
	return l.BindEndpointTLS(ctx, host, service, sockets.PlainSocket)
}

// BindEndpointTLS is BindEndpoint serving TLS at level with Control's
// server certificate, a netrun extension.
func (l *StreamSocketListener) BindEndpointTLS(ctx context.Context, host *networking.HostName, service string, level sockets.SocketProtectionLevel) error {
	name := ""
	if host != nil {
		name = host.RawName()
	}
	return l.bind(ctx, "StreamSocketListener.BindEndpoint", name, service, level)
}

func (l *StreamSocketListener) bind(ctx context.Context, op, host, service string, level sockets.SocketProtectionLevel) error {
	l.mu.Lock()
	switch {
	case l.closed:
		l.mu.Unlock()
		return socketerror.Closed(op)
	case l.id != 0 || l.binding:
		l.mu.Unlock()
		return socketerror.IllegalCall(op, "the listener is already bound")
	}
	l.binding = true
	ctl := l.ctl.proto()
	certPEM, keyPEM := l.ctl.certificate()
	l.mu.Unlock()
	res, err := l.h.s.do(ctx, op, &pluginv1.Command{Command: &pluginv1.Command_ListenerBind{ListenerBind: &pluginv1.ListenerBind{
		Host: host, Service: service, Control: ctl, ProtectionLevel: int32(level),
		ServerCertificatePem: certPEM, ServerKeyPem: keyPEM}}}, l)
	l.mu.Lock()
	l.binding = false
	closed := l.closed
	l.mu.Unlock()
	if err != nil {
		return err
	}
	l.setBound(res.GetCreated().Socket, res.GetCreated().Info)
	if closed {
		l.Close()
		return socketerror.Closed(op)
	}
	return nil
}

func (l *StreamSocketListener) setBound(id uint64, info *pluginv1.SocketInfo) {
	l.mu.Lock()
	l.id, l.info = id, info
	l.mu.Unlock()
	l.h.track(l)
}

// TransferOwnership hands the listener to the host's broker with context
// data: if this plugin instance ends, the listener stays bound and its
// connections wait for the next instance (see [Host.Transferred]).
func (l *StreamSocketListener) TransferOwnership(ctx context.Context, data []byte) error {
	const op = "StreamSocketListener.TransferOwnership"
	if err := l.h.transfer(ctx, op, l.ID(), data); err != nil {
		return err
	}
	l.transferred.Store(true)
	return nil
}

func (l *StreamSocketListener) isTransferred() bool { return l.transferred.Load() }

// event and sessionEnded make the listener a sink.
func (l *StreamSocketListener) event(ev *pluginv1.Event) { l.q.push(ev.GetConnectionReceived()) }

func (l *StreamSocketListener) sessionEnded() { l.q.stop() }

// Close stops accepting and closes the listening sockets. Connections
// accepted but not raised yet are closed. It is idempotent and returns
// nil.
func (l *StreamSocketListener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	id := l.id
	l.mu.Unlock()
	if id == 0 {
		return nil
	}
	l.h.untrack(l)
	l.h.s.forget(id)
	l.h.closeID("StreamSocketListener.Close", id)
	for _, e := range l.q.stop() {
		l.h.closeID("StreamSocketListener.Close", e.Socket)
	}
	return nil
}
