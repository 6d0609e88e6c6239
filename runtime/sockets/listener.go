package sockets

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/netrun/netrun/runtime/event"
	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/socketerror"
)

// ConnectionReceivedEventArgs is WinRT's
// StreamSocketListenerConnectionReceivedEventArgs.
type ConnectionReceivedEventArgs struct {
	// Socket is the accepted connection. The handler owns it and must
	// Close it.
	Socket *StreamSocket
}

// StreamSocketListener is WinRT's StreamSocketListener: it accepts TCP
// connections and raises ConnectionReceived for each.
//
// Add a ConnectionReceived handler, set Control, then bind. Connections are
// accepted only while a handler is registered; until then they wait in the
// kernel's backlog, so none is dropped for want of a handler. Each accepted
// socket inherits the listener's Control settings.
//
// Handlers run on the listener's accept goroutine (one per bound address)
// and the next connection is not raised until they return; hand long work
// to a goroutine.
//
// Close stops accepting; sockets already accepted live on. The owner must
// call Close. All methods are safe for concurrent use.
//
// netrun extension: a listener bound with a TLS protection level serves
// TLS with the certificate set by Control().SetServerCertificate, because
// scripts must be able to serve TLS; WinRT listeners serve only plain TCP.
type StreamSocketListener struct {
	// immutable after construction
	env                *Env
	ctl                StreamSocketListenerControl
	info               StreamSocketListenerInformation
	connectionReceived event.Event[*ConnectionReceivedEventArgs]
	done               chan struct{} // closed by Close

	mu        sync.Mutex // guards the fields below, and ctl's settings
	state     state      // stateConnected means bound
	binding   bool
	listeners []*net.TCPListener
	tlsConfig *tls.Config
	level     SocketProtectionLevel

	loops eventLoops // the accept goroutines
}

// NewStreamSocketListener returns an unbound listener with the zero Env.
func NewStreamSocketListener() *StreamSocketListener { return (*Env)(nil).NewStreamSocketListener() }

// NewStreamSocketListener returns an unbound listener using e.
func (e *Env) NewStreamSocketListener() *StreamSocketListener {
	l := &StreamSocketListener{env: e, done: make(chan struct{})}
	l.ctl = StreamSocketListenerControl{l: l, noDelay: true, hopLimit: defaultHopLimit}
	l.info.l = l
	return l
}

// ConnectionReceived is raised for each accepted connection.
func (l *StreamSocketListener) ConnectionReceived() *event.Event[*ConnectionReceivedEventArgs] {
	return &l.connectionReceived
}

// Control returns the options applied to every accepted socket.
func (l *StreamSocketListener) Control() *StreamSocketListenerControl { return &l.ctl }

// Information returns the bound port.
func (l *StreamSocketListener) Information() *StreamSocketListenerInformation { return &l.info }

// BindServiceName listens on service on every local address, IPv4 and
// IPv6. An empty service picks an ephemeral port, which
// Information().LocalPort reports. level must be PlainSocket, or a TLS level
// if Control has a server certificate (a netrun extension).
func (l *StreamSocketListener) BindServiceName(ctx context.Context, service string, level SocketProtectionLevel) error {
	return l.bind(ctx, "StreamSocketListener.BindServiceName", nil, service, level)
}

// BindEndpoint listens on service at host's addresses only: one listening
// socket per address, all on one port ("localhost" listens on 127.0.0.1 and
// ::1). A nil host means every local address.
func (l *StreamSocketListener) BindEndpoint(ctx context.Context, host *networking.HostName, service string) error {
	return l.bind(ctx, "StreamSocketListener.BindEndpoint", host, service, PlainSocket)
}

// BindEndpointTLS is BindEndpoint serving TLS at level, a netrun extension.
func (l *StreamSocketListener) BindEndpointTLS(ctx context.Context, host *networking.HostName, service string, level SocketProtectionLevel) error {
	return l.bind(ctx, "StreamSocketListener.BindEndpoint", host, service, level)
}

func (l *StreamSocketListener) bind(ctx context.Context, op string, host *networking.HostName, service string, level SocketProtectionLevel) error {
	if err := checkProtection(op, level); err != nil {
		return err
	}
	r := l.env.resolver()
	port := 0
	if service != "" {
		p, err := r.LookupPort("tcp", service)
		if err != nil {
			return socketerror.New(op, service, err)
		}
		port = p
	}
	addrs := []netip.Addr{netip.IPv6Unspecified()}
	if host != nil {
		a, err := r.LookupAddrs(ctx, host)
		if err != nil {
			return socketerror.New(op, host.String(), err)
		}
		addrs = a
	}
	for _, a := range addrs {
		if err := l.env.check(Inbound, a); err != nil {
			return socketerror.New(op, a.String(), err)
		}
	}

	l.mu.Lock()
	switch {
	case l.state == stateClosed:
		l.mu.Unlock()
		return socketerror.Closed(op)
	case l.state == stateConnected || l.binding:
		l.mu.Unlock()
		return socketerror.IllegalCall(op, "the listener is already bound")
	}
	var cfg *tls.Config
	if level != PlainSocket {
		if l.ctl.serverCert == nil {
			l.mu.Unlock()
			return socketerror.InvalidArg(op, "protectionLevel", "%s needs Control.ServerCertificate to be set first", level)
		}
		minV, maxV, _ := level.TLSVersions()
		cfg = &tls.Config{Certificates: []tls.Certificate{*l.ctl.serverCert}, MinVersion: minV, MaxVersion: maxV}
	}
	l.binding = true
	opts := l.ctl.snapshotLocked()
	l.mu.Unlock()

	lc := net.ListenConfig{
		KeepAlive: -1,
		Control: func(_, _ string, c syscall.RawConn) error {
			return control(c, opts.applyTCP)
		},
	}
	var lns []*net.TCPListener
	var err error
	for _, a := range addrs {
		var ln net.Listener
		ln, err = lc.Listen(ctx, "tcp", netip.AddrPortFrom(a, uint16(port)).String())
		if err != nil {
			err = ctxError(ctx, op, netip.AddrPortFrom(a, uint16(port)).String(), err)
			break
		}
		tl := ln.(*net.TCPListener)
		lns = append(lns, tl)
		port = tl.Addr().(*net.TCPAddr).Port // later addresses share the first's port
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	l.binding = false
	if err == nil && l.state == stateClosed {
		err = socketerror.Closed(op)
	}
	if err != nil {
		for _, ln := range lns {
			ln.Close()
		}
		return err
	}
	l.state = stateConnected
	l.listeners, l.tlsConfig, l.level = lns, cfg, level
	l.info.port = strconv.Itoa(port)
	l.loops.start(len(lns))
	for _, ln := range lns {
		go l.acceptLoop(ln, &opts)
	}
	return nil
}

// acceptLoop accepts connections on ln until Close.
func (l *StreamSocketListener) acceptLoop(ln *net.TCPListener, opts *controlSnapshot) {
	log := l.env.logger().With("listener", ln.Addr().String())
	var backoff time.Duration
	defer l.loops.exit()
	for {
		select {
		case <-l.connectionReceived.Ready():
		case <-l.done:
			return
		}
		c, err := ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors or a connection aborted before accept:
			// the listener itself is fine. Back off so as not to spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			log.Warn("accept failed; retrying", "err", err, "status", socketerror.GetStatus(err), "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-l.done:
				return
			}
			continue
		}
		backoff = 0
		s, err := l.accepted(c, opts)
		if err != nil {
			log.Warn("connection refused", "remote", c.RemoteAddr().String(), "err", err)
			c.Close()
			continue
		}
		if !l.dispatch(&ConnectionReceivedEventArgs{Socket: s}) {
			s.Close()
			return
		}
	}
}

// dispatch raises ConnectionReceived; it reports false if the listener
// closed before a handler took the connection.
func (l *StreamSocketListener) dispatch(args *ConnectionReceivedEventArgs) bool {
	return raise(&l.loops, &l.connectionReceived, args, l.done)
}

// accepted makes a StreamSocket of an accepted connection.
func (l *StreamSocketListener) accepted(c *net.TCPConn, opts *controlSnapshot) (*StreamSocket, error) {
	remote := c.RemoteAddr().(*net.TCPAddr).AddrPort()
	if err := l.env.check(Inbound, remote.Addr().Unmap()); err != nil {
		return nil, err
	}
	if !opts.noDelay {
		if err := c.SetNoDelay(false); err != nil {
			return nil, err
		}
	}
	s := l.env.NewStreamSocket()
	l.mu.Lock()
	cfg, level := l.tlsConfig, l.level
	l.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ctl.noDelay, s.ctl.keepAlive, s.ctl.sendBuffer = opts.noDelay, opts.keepAlive, opts.sendBuffer
	s.ctl.hopLimit, s.ctl.qos = opts.hopLimit, opts.qos
	s.accepted = true
	s.info.protection = level
	var conn net.Conn = c
	var tc *tls.Conn
	if cfg != nil {
		tc = tls.Server(c, cfg) // the handshake runs on the first read or write
		conn = tc
	}
	s.setConnLocked(conn, c, tc)
	return s, nil
}

// CancelIO returns once no ConnectionReceived handler is running. Accepting
// goes on afterwards; connections that arrive meanwhile wait in the
// backlog. It is the quiescent point before a transfer to the broker.
func (l *StreamSocketListener) CancelIO(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		l.loops.handlers.Lock()
		l.loops.handlers.Unlock()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		<-done // the goroutine is ours: wait for it before returning
		return ctxError(ctx, "StreamSocketListener.CancelIO", "", ctx.Err())
	}
}

// Close stops accepting and closes the listening sockets. Sockets already
// accepted stay open. Close waits for the accept goroutines, except one
// whose handler is running (it may be the caller): that one exits as soon
// as its handler returns. Close is idempotent and returns nil.
func (l *StreamSocketListener) Close() error {
	l.mu.Lock()
	if l.state == stateClosed {
		l.mu.Unlock()
		return nil
	}
	l.state = stateClosed
	close(l.done)
	lns := l.listeners
	l.mu.Unlock()
	for _, ln := range lns {
		ln.Close()
	}
	l.loops.wait()
	return nil
}

// StreamSocketListenerInformation is WinRT's
// StreamSocketListenerInformation.
type StreamSocketListenerInformation struct {
	l    *StreamSocketListener
	port string // guarded by l.mu
}

// LocalPort returns the bound port as a decimal string, or "" before bind.
func (i *StreamSocketListenerInformation) LocalPort() string {
	i.l.mu.Lock()
	defer i.l.mu.Unlock()
	return i.port
}

// LocalAddrs returns the addresses the listener is bound to, a netrun
// extension.
func (i *StreamSocketListenerInformation) LocalAddrs() []netip.AddrPort {
	i.l.mu.Lock()
	defer i.l.mu.Unlock()
	out := make([]netip.AddrPort, 0, len(i.l.listeners))
	for _, ln := range i.l.listeners {
		out = append(out, ln.Addr().(*net.TCPAddr).AddrPort())
	}
	return out
}
