package sockets

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/netrun/netrun/internal/fifo"
	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/socketerror"
)

// state is where a socket is in its life: WinRT's
// Created → Connecting → Connected → Closed. A connect that fails returns
// the socket to created, so it can be connected again (the certificate
// retry flow).
type state uint8

const (
	stateCreated state = iota
	stateConnecting
	stateConnected
	stateClosed
)

// connectStagger is how long a connect attempt runs alone before the next
// resolved address is tried beside it (RFC 8305's recommended delay).
const connectStagger = 250 * time.Millisecond

// closeGrace bounds how long Close waits for writes in flight to finish
// before it aborts the connection.
const closeGrace = 5 * time.Second

// aLongTimeAgo is a deadline in the past: setting it wakes a blocked read
// or write at once.
var aLongTimeAgo = time.Unix(1, 0)

// StreamSocket is WinRT's StreamSocket: a TCP connection, optionally
// protected by TLS.
//
// Make one with [NewStreamSocket] or [Env.NewStreamSocket], set its
// Control, then Connect; or receive a connected one from a
// [StreamSocketListener]. Read and write through InputStream and
// OutputStream.
//
// Concurrency: all methods are safe for concurrent use. Reads are served
// one at a time and writes one at a time, each in the order they were
// issued; a read and a write may run at once.
//
// Closing: the owner must call Close, which aborts pending reads, lets
// writes in flight finish (for up to five seconds) and then closes the
// connection: with FIN if everything received was read, else with RST, as
// Linux and WinRT do.
//
// Contexts: a context that ends during Connect abandons the connect. A
// context that ends during a read or write ends that operation with
// OperationAborted (cancelled) or ConnectionTimedOut (deadline), and
// leaves the connection usable; a write may then have sent part of its
// bytes, which its count reports. WinRT instead tears the connection down
// when a single operation is cancelled; netrun keeps it, since no data is
// lost that way.
type StreamSocket struct {
	// immutable after construction
	env    *Env
	ctl    StreamSocketControl
	info   StreamSocketInformation
	input  InputStream
	output OutputStream

	mu            sync.Mutex // guards the fields below, and ctl's settings
	state         state
	connectCalled bool
	accepted      bool               // came from a listener
	cancelConnect context.CancelFunc // set while connecting
	conn          net.Conn           // tcp, or a *tls.Conn over it
	tcp           *net.TCPConn
	raw           syscall.RawConn
	tlsConn       *tls.Conn

	readLock  fifo.Lock
	writeLock fifo.Lock
	unread    []byte        // bytes Unread put before the connection's; guarded by readLock
	closing   atomic.Bool   // Close has begun
	cancelGen atomic.Uint64 // incremented by CancelIO

	// rawRead's state: reads are serialised by readLock, so one set of
	// fields and one method value serve every read without allocating.
	rd struct {
		p      []byte  // where to read, unless borrow
		borrow bool    // borrow a buffer once readable, into buf
		buf    *Buffer // the borrowed buffer
		n      int     // in: the buffer size to borrow; out: bytes read
		err    error
		fn     func(fd uintptr) bool // s.rawReadFD, bound once
	}
	// TryWrite's state, under the write lock.
	wr struct {
		p   []byte
		n   int
		err error
		fn  func(fd uintptr) bool // s.rawWriteFD, bound once
	}
}

// NewStreamSocket returns a socket that is not connected yet, with the
// zero Env.
func NewStreamSocket() *StreamSocket { return (*Env)(nil).NewStreamSocket() }

// NewStreamSocket returns a socket that resolves, checks capabilities and
// validates certificates with e.
func (e *Env) NewStreamSocket() *StreamSocket {
	s := &StreamSocket{env: e}
	s.ctl = StreamSocketControl{s: s, noDelay: true, hopLimit: defaultHopLimit, minProtection: Tls10}
	s.info.s = s
	s.input.s = s
	s.output.s = s
	s.rd.fn = s.rawReadFD
	s.wr.fn = s.rawWriteFD
	return s
}

// GetEndpointPairs resolves host and service into the endpoint pairs a
// StreamSocket could connect to, one per address, ordered by sort; a
// service name found as a DNS SRV record gives the addresses of each
// target with its port, in the targets' order (see
// [networking.Resolver.ResolveEndpoints]). It is WinRT's static
// StreamSocket.GetEndpointPairsAsync.
func (e *Env) GetEndpointPairs(ctx context.Context, host *networking.HostName, service string, sort networking.HostNameSortOptions) ([]networking.EndpointPair, error) {
	return e.resolver().GetEndpointPairs(ctx, "tcp", host, service, sort)
}

// GetEndpointPairs is [Env.GetEndpointPairs] with the zero Env.
func GetEndpointPairs(ctx context.Context, host *networking.HostName, service string, sort networking.HostNameSortOptions) ([]networking.EndpointPair, error) {
	return (*Env)(nil).GetEndpointPairs(ctx, host, service, sort)
}

// Control returns the socket's options. Most must be set before Connect.
func (s *StreamSocket) Control() *StreamSocketControl { return &s.ctl }

// Information returns the socket's addresses, TLS results and statistics.
func (s *StreamSocket) Information() *StreamSocketInformation { return &s.info }

// InputStream returns the stream that reads from the connection.
func (s *StreamSocket) InputStream() *InputStream { return &s.input }

// OutputStream returns the stream that writes to the connection.
func (s *StreamSocket) OutputStream() *OutputStream { return &s.output }

// Connect connects to service on host, trying each address host resolves
// to until one accepts, then runs the TLS handshake that level asks for.
// A service name that is neither a port number nor in the services file
// is looked up as a DNS SRV record, whose targets' addresses and ports
// are tried in priority order (see [networking.Resolver.ResolveEndpoints]);
// every address is checked against the Env's Guard before it is tried.
// Unless Control().SerializeConnectionAttempts is set, a new attempt starts
// every 250 ms while earlier ones are still pending, and the first to
// succeed wins (RFC 8305); otherwise attempts run one at a time.
//
// If the server's certificate has errors, Connect fails with a
// Certificate* status and Information keeps the certificate and its
// errors: an application may list the ignorable ones in
// Control().IgnorableServerCertificateErrors and call Connect again on the
// same socket.
func (s *StreamSocket) Connect(ctx context.Context, host *networking.HostName, service string, level SocketProtectionLevel) error {
	const op = "StreamSocket.Connect"
	if host == nil {
		return socketerror.InvalidArg(op, "remoteHostName", "must not be nil")
	}
	if service == "" {
		return socketerror.InvalidArg(op, "remoteServiceName", "must not be empty")
	}
	return s.connect(ctx, op, networking.EndpointPair{RemoteHostName: host, RemoteServiceName: service}, level)
}

// ConnectEndpointPair connects from pair's local endpoint (system-chosen
// where it is nil or empty) to its remote one, as Connect does.
func (s *StreamSocket) ConnectEndpointPair(ctx context.Context, pair networking.EndpointPair, level SocketProtectionLevel) error {
	const op = "StreamSocket.ConnectEndpointPair"
	if pair.RemoteHostName == nil {
		return socketerror.InvalidArg(op, "endpointPair.RemoteHostName", "must not be nil")
	}
	if pair.RemoteServiceName == "" {
		return socketerror.InvalidArg(op, "endpointPair.RemoteServiceName", "must not be empty")
	}
	return s.connect(ctx, op, pair, level)
}

func (s *StreamSocket) connect(ctx context.Context, op string, pair networking.EndpointPair, level SocketProtectionLevel) error {
	if err := checkProtection(op, level); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	s.mu.Lock()
	switch s.state {
	case stateConnecting:
		s.mu.Unlock()
		return socketerror.IllegalCall(op, "a connect is already in progress")
	case stateConnected:
		s.mu.Unlock()
		return socketerror.IllegalCall(op, "the socket is already connected")
	case stateClosed:
		s.mu.Unlock()
		return socketerror.Closed(op)
	}
	s.state = stateConnecting
	s.connectCalled = true
	s.cancelConnect = cancel
	opts := s.ctl.snapshotLocked()
	s.mu.Unlock()
	s.info.beginConnect(pair, level)

	tcp, err := s.dial(ctx, op, pair, &opts)
	var conn net.Conn = tcp
	var tc *tls.Conn
	if err == nil && level != PlainSocket {
		tc, err = s.handshake(ctx, op, tcp, tlsServerName(pair.RemoteHostName), level, &opts)
		conn = tc
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.cancelConnect = nil
	if s.state == stateClosed {
		if err == nil {
			conn.Close()
		}
		return socketerror.Closed(op)
	}
	if err != nil {
		s.state = stateCreated
		return err
	}
	s.setConnLocked(conn, tcp, tc)
	return nil
}

// setConnLocked makes the socket connected over conn. s.mu must be held.
func (s *StreamSocket) setConnLocked(conn net.Conn, tcp *net.TCPConn, tc *tls.Conn) {
	s.state = stateConnected
	s.conn, s.tcp, s.tlsConn = conn, tcp, tc
	s.raw, _ = tcp.SyscallConn()
	s.info.setAddrs(tcp.LocalAddr(), tcp.RemoteAddr())
}

// dial resolves pair and connects to the first address that answers.
func (s *StreamSocket) dial(ctx context.Context, op string, pair networking.EndpointPair, opts *controlSnapshot) (*net.TCPConn, error) {
	r := s.env.resolver()
	remote := pair.RemoteHostName.String()
	addrs, err := r.ResolveEndpoints(ctx, "tcp", pair.RemoteHostName, pair.RemoteServiceName, networking.SortNone)
	if err != nil {
		return nil, ctxError(ctx, op, remote, err)
	}
	var local netip.AddrPort
	if pair.LocalHostName != nil || pair.LocalServiceName != "" {
		if local, err = resolveLocal(ctx, r, "tcp", pair.LocalHostName, pair.LocalServiceName); err != nil {
			return nil, socketerror.New(op, pair.LocalHostName.String(), err)
		}
		addrs = slices.DeleteFunc(addrs, func(a netip.AddrPort) bool {
			return local.Addr().IsValid() && a.Addr().Is4() != local.Addr().Is4()
		})
		if len(addrs) == 0 {
			return nil, socketerror.WithStatus(op, remote, socketerror.NoAddressesFound,
				errors.New("no remote address of the local address's family"))
		}
	}
	var guardErr error
	addrs = slices.DeleteFunc(addrs, func(a netip.AddrPort) bool {
		if err := s.env.check(Outbound, a.Addr()); err != nil {
			if guardErr == nil {
				guardErr = err
			}
			return true
		}
		return false
	})
	if len(addrs) == 0 {
		return nil, socketerror.New(op, remote, guardErr)
	}

	d := net.Dialer{
		KeepAlive: -1, // SO_KEEPALIVE is Control().KeepAlive's, set below
		ControlContext: func(_ context.Context, _, _ string, c syscall.RawConn) error {
			return control(c, opts.applyTCP)
		},
	}
	if local.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(local)
	}
	dialOne := func(ctx context.Context, a netip.AddrPort) (*net.TCPConn, error) {
		c, err := d.DialContext(ctx, "tcp", a.String())
		if err != nil {
			return nil, ctxError(ctx, op, a.String(), err)
		}
		tcp := c.(*net.TCPConn)
		if !opts.noDelay { // Go turns Nagle off on every new connection
			if err := tcp.SetNoDelay(false); err != nil {
				tcp.Close()
				return nil, socketerror.New(op, a.String(), err)
			}
		}
		return tcp, nil
	}
	return dialAll(ctx, addrs, opts.serialize, dialOne)
}

// dialAll tries addrs in order. Serialized, it tries one at a time;
// otherwise it starts the next attempt when the previous one fails or has
// run connectStagger, and returns the first connection made. Every attempt
// has returned when dialAll returns; the losers' connections are closed.
func dialAll(ctx context.Context, addrs []netip.AddrPort, serialize bool,
	dialOne func(context.Context, netip.AddrPort) (*net.TCPConn, error)) (*net.TCPConn, error) {
	var firstErr error
	if serialize || len(addrs) == 1 {
		for _, a := range addrs {
			c, err := dialOne(ctx, a)
			if err == nil {
				return c, nil
			}
			if firstErr == nil {
				firstErr = err
			}
			if ctx.Err() != nil {
				break
			}
		}
		return nil, firstErr
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		c   *net.TCPConn
		err error
	}
	results := make(chan result, len(addrs))
	next, pending := 0, 0
	start := func() {
		a := addrs[next]
		next++
		pending++
		go func() {
			c, err := dialOne(ctx, a)
			results <- result{c, err}
		}()
	}
	start()
	stagger := time.NewTimer(connectStagger)
	defer stagger.Stop()
	for pending > 0 {
		select {
		case r := <-results:
			pending--
			if r.err == nil {
				cancel()
				for ; pending > 0; pending-- {
					if l := <-results; l.c != nil {
						l.c.Close()
					}
				}
				return r.c, nil
			}
			if firstErr == nil {
				firstErr = r.err
			}
			if next < len(addrs) {
				start()
				stagger.Reset(connectStagger)
			}
		case <-stagger.C:
			if next < len(addrs) {
				start()
				stagger.Reset(connectStagger)
			}
		}
	}
	return nil, firstErr
}

// resolveLocal turns a local host and service into an address to bind;
// either may be empty, leaving that part to the system.
func resolveLocal(ctx context.Context, r *networking.Resolver, network string, host *networking.HostName, service string) (netip.AddrPort, error) {
	port := 0
	if service != "" {
		p, err := r.LookupPort(network, service)
		if err != nil {
			return netip.AddrPort{}, err
		}
		port = p
	}
	var addr netip.Addr
	if host != nil {
		addrs, err := r.LookupAddrs(ctx, host)
		if err != nil {
			return netip.AddrPort{}, err
		}
		addr = addrs[0]
	} else {
		addr = netip.IPv6Unspecified()
	}
	return netip.AddrPortFrom(addr, uint16(port)), nil
}

// tlsServerName is the name a server certificate is checked against for a
// connect to host: the address for IP hosts (zone dropped), else the name.
func tlsServerName(host *networking.HostName) string {
	if a, ok := host.Addr(); ok {
		return a.WithZone("").String()
	}
	return host.CanonicalName()
}

// handshake runs a TLS client handshake over conn, validating the server as
// WinRT does. On failure it closes conn.
func (s *StreamSocket) handshake(ctx context.Context, op string, conn net.Conn, serverName string, level SocketProtectionLevel, opts *controlSnapshot) (*tls.Conn, error) {
	minV, maxV, _ := level.TLSVersions()
	if f := floorVersion(opts.minProtection); f > minV {
		minV = f
	}
	if minV > maxV {
		conn.Close()
		return nil, socketerror.InvalidArg(op, "protectionLevel", "%s is below Control.MinProtectionLevel %s", level, opts.minProtection)
	}
	roots := s.env.rootCAs()
	cfg := &tls.Config{
		ServerName: serverName,
		MinVersion: minV,
		MaxVersion: maxV,
		// Verification happens in VerifyConnection, which records every
		// error of the chain for Information and applies the ignorable
		// list, as WinRT does; Go's own check stops at the first error.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			report := validateChain(cs.PeerCertificates, serverName, roots, time.Now())
			s.info.setCertReport(report)
			var refused []ChainValidationResult
			for _, e := range report.errors {
				if !e.Ignorable() || !slices.Contains(opts.ignorable, e) {
					refused = append(refused, e)
				}
			}
			if len(refused) > 0 {
				return &certError{errors: refused}
			}
			return nil
		},
	}
	// asked records a server's CertificateRequest, so that a handshake
	// it then fails for want of a certificate says so; a TLS 1.2
	// server's alert (handshake_failure) does not.
	var asked atomic.Bool
	cert := opts.clientCert
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		asked.Store(true)
		if cert == nil {
			return new(tls.Certificate), nil // sends none
		}
		return cert, nil
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		var ce *certError
		if errors.As(err, &ce) {
			return nil, socketerror.WithStatus(op, serverName, certStatus(ce.errors), err)
		}
		if cert == nil && asked.Load() && ctx.Err() == nil {
			err = fmt.Errorf("the server asked for a client certificate and Control.ClientCertificate is not set: %w", err)
		}
		return nil, ctxError(ctx, op+" (TLS handshake)", serverName, err)
	}
	return tc, nil
}

// UpgradeToSsl starts TLS on a connected PlainSocket connection (STARTTLS),
// checking the server's certificate against validationHostName. If the
// handshake fails the connection is closed, since its stream is no longer
// in a known state.
func (s *StreamSocket) UpgradeToSsl(ctx context.Context, level SocketProtectionLevel, validationHostName *networking.HostName) error {
	const op = "StreamSocket.UpgradeToSsl"
	if level == PlainSocket {
		return socketerror.InvalidArg(op, "protectionLevel", "PlainSocket is not a TLS level")
	}
	if err := checkProtection(op, level); err != nil {
		return err
	}
	if validationHostName == nil {
		return socketerror.InvalidArg(op, "validationHostName", "must not be nil")
	}
	// No read or write may run during the handshake.
	if err := s.lockStreams(ctx, op); err != nil {
		return err
	}
	defer s.unlockStreams()

	s.mu.Lock()
	switch {
	case s.state == stateClosed:
		s.mu.Unlock()
		return socketerror.Closed(op)
	case s.state != stateConnected:
		s.mu.Unlock()
		return socketerror.IllegalCall(op, "the socket is not connected")
	case s.tlsConn != nil:
		s.mu.Unlock()
		return socketerror.IllegalCall(op, "the connection already uses TLS")
	case s.accepted:
		s.mu.Unlock()
		return socketerror.IllegalCall(op, "a socket from a listener cannot start client TLS")
	}
	opts := s.ctl.snapshotLocked()
	tcp := s.tcp
	s.mu.Unlock()

	s.info.setProtectionLevel(level)
	tc, err := s.handshake(ctx, op, tcp, tlsServerName(validationHostName), level, &opts)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.state = stateClosed
		s.closing.Store(true)
		return err
	}
	if s.state == stateClosed {
		return socketerror.Closed(op)
	}
	s.conn, s.tlsConn = tc, tc
	return nil
}

// CancelIO ends every pending read and write with OperationAborted and
// returns once they have all returned. Unlike a cancelled operation in
// WinRT, it leaves the connection intact: its purpose is to quiesce a
// socket before handing it to the socket broker. Bytes already written
// stay written.
func (s *StreamSocket) CancelIO(ctx context.Context) error {
	const op = "StreamSocket.CancelIO"
	s.mu.Lock()
	conn := s.conn
	st := s.state
	s.mu.Unlock()
	if st == stateClosed {
		return socketerror.Closed(op)
	}
	if conn == nil {
		return nil
	}
	s.cancelGen.Add(1)
	conn.SetDeadline(aLongTimeAgo)
	if err := s.lockStreams(ctx, op); err != nil {
		return err
	}
	defer s.unlockStreams()
	conn.SetDeadline(time.Time{})
	return nil
}

// SyscallConn returns the raw connection of a connected socket, for
// bindings that watch many idle sockets with one poller (a netrun
// extension, like net.TCPConn's). It must not be used to read or write.
func (s *StreamSocket) SyscallConn() (syscall.RawConn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.raw == nil {
		return nil, socketerror.IllegalCall("StreamSocket.SyscallConn", "the socket is not connected")
	}
	return s.raw, nil
}

// NetConn returns the connection of a connected socket as a net.Conn: the
// *tls.Conn on a TLS connection (its handshake may still be pending on a
// socket from a TLS listener), else the *net.TCPConn. It is for protocols
// layered on the socket, such as WebSocket (a netrun extension).
//
// Bytes put back with InputStream.Unread are read first from the
// returned connection, which then is not the *tls.Conn or *net.TCPConn
// itself.
//
// Once taken, the caller owns reads and writes: it must not use
// InputStream, OutputStream, UpgradeToSsl or CancelIO any more, and the
// deadlines it sets are its own. Close still closes the connection, and
// Control and Information keep working.
func (s *StreamSocket) NetConn() (net.Conn, error) {
	const op = "StreamSocket.NetConn"
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.state == stateClosed:
		return nil, socketerror.Closed(op)
	case s.conn == nil:
		return nil, socketerror.IllegalCall(op, "the socket is not connected")
	}
	// Bytes put back by Unread come first. A read in progress holds the
	// read lock, and then whatever it takes is its own.
	if s.readLock.TryLock() {
		p := s.unread
		s.unread = nil
		s.readLock.Unlock()
		if len(p) > 0 {
			return &prefixConn{Conn: s.conn, p: p}, nil
		}
	}
	return s.conn, nil
}

// lockStreams takes its turn on both the read and the write queue, so that
// every read and write issued before it has returned.
func (s *StreamSocket) lockStreams(ctx context.Context, op string) error {
	if err := s.readLock.Lock(ctx); err != nil {
		return ctxError(ctx, op, "", err)
	}
	if err := s.writeLock.Lock(ctx); err != nil {
		s.readLock.Unlock()
		return ctxError(ctx, op, "", err)
	}
	return nil
}

func (s *StreamSocket) unlockStreams() {
	s.writeLock.Unlock()
	s.readLock.Unlock()
}

// Close closes the socket: pending reads end with OperationAborted, writes
// in flight are given up to five seconds to finish, then the connection
// closes (FIN if all received data was read, else RST). A connect in
// progress is abandoned. Close is idempotent and always returns nil.
func (s *StreamSocket) Close() error {
	s.mu.Lock()
	if s.state == stateClosed {
		s.mu.Unlock()
		return nil
	}
	s.state = stateClosed
	s.closing.Store(true)
	conn, tcp := s.conn, s.tcp
	if s.cancelConnect != nil {
		s.cancelConnect()
	}
	s.mu.Unlock()
	if conn == nil {
		return nil
	}
	conn.SetReadDeadline(aLongTimeAgo)
	ctx, cancel := context.WithTimeout(context.Background(), closeGrace)
	err := s.writeLock.Lock(ctx)
	cancel()
	if err != nil {
		// A write is stuck behind a peer that does not read: abort.
		tcp.SetLinger(0)
		conn.Close()
		return nil
	}
	conn.Close()
	s.writeLock.Unlock()
	return nil
}

// ctxError wraps err for op, preferring what ctx says: a cancelled
// context is OperationAborted, an expired one ConnectionTimedOut.
func ctxError(ctx context.Context, op, addr string, err error) error {
	switch ctx.Err() {
	case context.Canceled:
		return socketerror.WithStatus(op, addr, socketerror.OperationAborted, err)
	case context.DeadlineExceeded:
		return socketerror.WithStatus(op, addr, socketerror.ConnectionTimedOut, err)
	}
	return socketerror.New(op, addr, err)
}
