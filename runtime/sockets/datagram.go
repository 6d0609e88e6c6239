package sockets

import (
	"cmp"
	"context"
	"errors"
	"golang.org/x/sys/unix"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/netrun/netrun/internal/fifo"
	"github.com/netrun/netrun/runtime/event"
	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/socketerror"
)

// datagramState is where a DatagramSocket is in its life:
// Created → Binding → Bound → Closed. A bind that fails returns the socket
// to created. Connect does not change the state: a connected socket is a
// bound one with a remote.
type datagramState uint8

const (
	datagramCreated datagramState = iota
	datagramBinding
	datagramBound
	datagramClosed
)

// datagramBufferSize is the size of a socket's receive buffer: more than
// the largest UDP payload (65,507 bytes over IPv4, 65,527 over IPv6), so
// no datagram is ever truncated.
const datagramBufferSize = 64 << 10

// refusedLogEvery bounds how often a socket logs datagrams its Guard
// refused: a flood of them costs one log line a second.
const refusedLogEvery = time.Second

// DatagramSocket is WinRT's DatagramSocket: a UDP endpoint for unicast,
// broadcast and multicast.
//
// Make one with [NewDatagramSocket] or [Env.NewDatagramSocket], set its
// Control, add a MessageReceived handler, then do one of three things:
// bind (BindServiceName, BindEndpoint) to receive from anyone; Connect to
// exchange datagrams with one peer through OutputStream; or call
// GetOutputStream for a stream to one destination, as many times as there
// are destinations. Connect and GetOutputStream bind the socket first if
// it is not bound: to an ephemeral port on every address, dual-stack.
// Each Write on an output stream sends exactly one datagram.
//
// Multicast: bind (to every address), then JoinMulticastGroup for each
// group to receive; send to a group, or to a broadcast address, through
// GetOutputStream.
//
// Receiving: once bound, the socket owns one goroutine that reads
// datagrams and raises MessageReceived for each, with the handlers run one
// datagram at a time on that goroutine; hand long work to a goroutine of
// your own. While no handler is registered the goroutine reads nothing, so
// datagrams wait in the kernel's receive buffer (and are dropped by the
// kernel only if it fills up). Datagrams whose sender the Env's Guard
// refuses (Guard.Check(Inbound, sender)) are dropped and logged at debug
// level, at most once a second.
//
// Concurrency: all methods are safe for concurrent use. Writes on all the
// socket's output streams are sent one at a time, in the order they were
// issued.
//
// Closing: the owner must call Close, which stops receiving, removes every
// MessageReceived handler and ends writes in flight with RO_E_CLOSED.
//
// Contexts: the context of Bind*, Connect* and GetOutputStream* bounds name
// resolution and binding only; once they return, it has no effect on the
// socket. A context that ends during a Write ends that write with
// OperationAborted (cancelled) or ConnectionTimedOut (deadline) and
// leaves the socket usable.
//
// Differences from WinRT:
//   - WinRT requires MessageReceived handlers to be registered before the
//     socket binds; netrun allows them later and holds datagrams until
//     then.
//   - Datagrams from the remote a socket is connected to are not checked
//     against the Guard: Connect already checked it, as a StreamSocket's
//     reads are not checked either.
//   - Every DatagramSocket may send to broadcast addresses (SO_BROADCAST);
//     WinRT sends broadcasts without asking too.
//   - JoinMulticastGroup takes an IP address only, not a name to resolve.
//   - The NetworkAdapter overloads are not provided; the socket broker
//     (EnableTransferOwnership, TransferOwnership) is runtime/trigger's
//     Broker.
type DatagramSocket struct {
	// immutable after construction
	env             *Env
	ctl             DatagramSocketControl
	info            DatagramSocketInformation
	output          DatagramOutputStream
	messageReceived event.Event[*DatagramSocketMessageReceivedEventArgs]
	closeCtx        context.Context // done once Close has begun
	closeNow        context.CancelFunc

	setup fifo.Lock // serialises binds and connects, so an implicit bind happens once

	mu        sync.Mutex // guards the fields below, and ctl's settings
	state     datagramState
	conn      *net.UDPConn
	raw       syscall.RawConn
	local     netip.AddrPort // as bound, unmapped, with the port the kernel chose
	dualStack bool           // AF_INET6 bound to [::]: reaches IPv4 peers too

	loops     eventLoops                     // the receive goroutine
	remote    atomic.Pointer[netip.AddrPort] // set once by Connect, unmapped
	writeLock fifo.Lock                      // writes and flushes queue on it
	closing   atomic.Bool                    // Close has begun
	cancelGen atomic.Uint64                  // incremented by CancelIO
	refused   atomic.Uint64                  // datagrams dropped because the Guard refused their sender

	// tx is TryWrite's scratch, guarded by writeLock: the sendto it makes
	// through raw.Write reads its arguments from here, so that a send
	// allocates nothing.
	tx struct {
		p    []byte
		to   unix.Sockaddr // nil, &sa4 or &sa6
		sa4  unix.SockaddrInet4
		sa6  unix.SockaddrInet6
		err  error
		send func(fd uintptr) bool // made once: sendto with the fields above
	}

	// owned by the receive goroutine
	rx struct {
		buf        []byte
		oob        []byte
		args       DatagramSocketMessageReceivedEventArgs
		lastLog    time.Time // when refused datagrams were last logged
		refusedNow uint64    // refused since then
	}
}

// DatagramOutputStream is WinRT's IOutputStream as a DatagramSocket gives
// it: each Write sends one datagram, to the destination the stream was made
// for. The streams of one socket share its write queue.
//
// Get one from [DatagramSocket.OutputStream] or
// [DatagramSocket.GetOutputStream]; the zero value is not usable. It is
// valid as long as its socket; Close the socket, not the stream. All
// methods are safe for concurrent use.
type DatagramOutputStream struct {
	// immutable after construction
	d         *DatagramSocket
	connected bool           // the socket's OutputStream: sends to the connected remote
	dest      netip.AddrPort // the destination of a GetOutputStream stream
	label     string         // dest for error messages
}

// NewDatagramSocket returns an unbound socket with the zero Env.
func NewDatagramSocket() *DatagramSocket { return (*Env)(nil).NewDatagramSocket() }

// NewDatagramSocket returns an unbound socket that resolves names, checks
// capabilities and logs with e.
func (e *Env) NewDatagramSocket() *DatagramSocket {
	d := &DatagramSocket{env: e}
	d.ctl = DatagramSocketControl{d: d, hopLimit: defaultHopLimit}
	d.output = DatagramOutputStream{d: d, connected: true}
	d.tx.send = func(fd uintptr) bool {
		for {
			d.tx.err = unix.Sendto(int(fd), d.tx.p, unix.MSG_DONTWAIT, d.tx.to)
			if d.tx.err != unix.EINTR {
				return true
			}
		}
	}
	d.closeCtx, d.closeNow = context.WithCancel(context.Background())
	return d
}

// GetDatagramEndpointPairs resolves host and service into the endpoint
// pairs a DatagramSocket could connect to, one per address, ordered by
// sort; a service name found as a DNS SRV record (_service._udp.host)
// gives the addresses of each target with its port. It is WinRT's static
// DatagramSocket.GetEndpointPairsAsync.
func (e *Env) GetDatagramEndpointPairs(ctx context.Context, host *networking.HostName, service string, sort networking.HostNameSortOptions) ([]networking.EndpointPair, error) {
	return e.resolver().GetEndpointPairs(ctx, "udp", host, service, sort)
}

// GetDatagramEndpointPairs is [Env.GetDatagramEndpointPairs] with the zero
// Env.
func GetDatagramEndpointPairs(ctx context.Context, host *networking.HostName, service string, sort networking.HostNameSortOptions) ([]networking.EndpointPair, error) {
	return (*Env)(nil).GetDatagramEndpointPairs(ctx, host, service, sort)
}

// MessageReceived is raised for each datagram received. Handlers run on
// the socket's receive goroutine and get args that are valid only during
// the call (see [DatagramSocketMessageReceivedEventArgs]). As in WinRT,
// Close is the only way to remove them all; Remove with a token works too.
// Handlers added after Close are never called.
func (d *DatagramSocket) MessageReceived() *event.Event[*DatagramSocketMessageReceivedEventArgs] {
	return &d.messageReceived
}

// Control returns the socket's options. Most must be set before the socket
// is bound.
func (d *DatagramSocket) Control() *DatagramSocketControl { return &d.ctl }

// Information returns the socket's local and remote addresses.
func (d *DatagramSocket) Information() *DatagramSocketInformation { return &d.info }

// OutputStream returns the stream that sends to the remote Connect
// connected to. Writing to it before Connect is an E_ILLEGAL_METHOD_CALL
// error.
func (d *DatagramSocket) OutputStream() *DatagramOutputStream { return &d.output }

// BindServiceName binds the socket to service on every local address,
// IPv4 and IPv6 (a dual-stack [::] socket), and starts receiving. An empty
// service picks an ephemeral port, which Information().LocalPort reports.
// The Env's Guard is asked with Inbound and the unspecified address first.
func (d *DatagramSocket) BindServiceName(ctx context.Context, service string) error {
	return d.bindExplicit(ctx, "DatagramSocket.BindServiceName", nil, service)
}

// BindEndpoint binds the socket to service at host's first address and
// starts receiving; "localhost" binds 127.0.0.1. A nil host binds every
// address, as BindServiceName does. A socket bound to one address
// receives only datagrams sent to that address: bind every address to
// receive multicast or broadcast. The Env's Guard is asked with Inbound
// and the address first.
func (d *DatagramSocket) BindEndpoint(ctx context.Context, host *networking.HostName, service string) error {
	return d.bindExplicit(ctx, "DatagramSocket.BindEndpoint", host, service)
}

func (d *DatagramSocket) bindExplicit(ctx context.Context, op string, host *networking.HostName, service string) error {
	ctx, done := d.opContext(ctx)
	defer done()
	local, err := resolveLocal(ctx, d.env.resolver(), "udp", host, service)
	if err != nil {
		return d.setupError(ctx, op, dgramLocalLabel(host, service), err)
	}
	local = netip.AddrPortFrom(local.Addr().Unmap(), local.Port())
	if err := d.env.check(Inbound, local.Addr()); err != nil {
		return socketerror.New(op, local.String(), err)
	}
	if err := d.setup.Lock(ctx); err != nil {
		return d.setupError(ctx, op, "", err)
	}
	defer d.setup.Unlock()
	return d.bindLocked(ctx, op, local)
}

// dgramLocalLabel names a local endpoint in an error: "host:service",
// with "*" for the parts the system chooses.
func dgramLocalLabel(host *networking.HostName, service string) string {
	h := "*"
	if host != nil {
		h = host.String()
	}
	return h + ":" + cmp.Or(service, "*")
}

// bindLocked binds the socket to local and starts its receive goroutine.
// The caller holds d.setup.
func (d *DatagramSocket) bindLocked(ctx context.Context, op string, local netip.AddrPort) error {
	d.mu.Lock()
	switch d.state {
	case datagramClosed:
		d.mu.Unlock()
		return socketerror.Closed(op)
	case datagramBound:
		d.mu.Unlock()
		return socketerror.IllegalCall(op, "the socket is already bound")
	}
	d.state = datagramBinding
	opts := d.ctl.snapshotLocked()
	d.mu.Unlock()

	network := "udp6"
	switch a := local.Addr(); {
	case a.Is4():
		network = "udp4"
	case a.IsUnspecified():
		network = "udp" // [::] with IPV6_V6ONLY off: dual-stack
	}
	lc := net.ListenConfig{
		Control: func(_, _ string, c syscall.RawConn) error { return control(c, opts.apply) },
	}
	pc, err := lc.ListenPacket(ctx, network, local.String())

	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state == datagramClosed {
		if err == nil {
			pc.Close()
		}
		return socketerror.Closed(op)
	}
	if err != nil {
		d.state = datagramCreated
		return ctxError(ctx, op, local.String(), err)
	}
	conn := pc.(*net.UDPConn)
	raw, err := conn.SyscallConn()
	if err == nil && d.ctl.hopLimit != opts.hopLimit { // changed while binding
		hops := d.ctl.hopLimit
		err = control(raw, func(fd int) error { return setHopLimit(fd, hops) })
	}
	if err != nil {
		conn.Close()
		d.state = datagramCreated
		return socketerror.New(op, local.String(), err)
	}
	bound := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	d.conn, d.raw = conn, raw
	d.dualStack = bound.Addr().Is6() && bound.Addr().IsUnspecified() && network == "udp"
	d.local = netip.AddrPortFrom(bound.Addr().Unmap(), bound.Port())
	d.state = datagramBound
	d.info.setLocal(d.local)
	d.loops.start(1)
	go d.receiveLoop(conn)
	return nil
}

// reachesLocked reports whether the bound socket can exchange datagrams
// with a: a dual-stack socket reaches both families, others their own.
// d.mu must be held.
func (d *DatagramSocket) reachesLocked(a netip.Addr) bool {
	return d.dualStack || d.local.Addr().Is4() == a.Unmap().Is4()
}

// Connect connects the socket to service on host: binding it first if it
// is not bound, then connecting its descriptor (keeping its port) to the
// first address host resolves to that the Env's Guard allows
// (Guard.Check(Outbound, addr)) and the socket's address family reaches.
// Afterwards only datagrams from that address and port raise
// MessageReceived, and OutputStream sends to it. A multicast address
// fails with HostNotFound, as in WinRT. A socket connects once; connecting
// again is an E_ILLEGAL_METHOD_CALL error.
func (d *DatagramSocket) Connect(ctx context.Context, host *networking.HostName, service string) error {
	const op = "DatagramSocket.Connect"
	if host == nil {
		return socketerror.InvalidArg(op, "remoteHostName", "must not be nil")
	}
	if service == "" {
		return socketerror.InvalidArg(op, "remoteServiceName", "must not be empty")
	}
	return d.connect(ctx, op, networking.EndpointPair{RemoteHostName: host, RemoteServiceName: service})
}

// ConnectEndpointPair is Connect to pair's remote endpoint. If the socket
// is not bound yet it binds to pair's local endpoint, where nil or empty
// parts let the system choose.
func (d *DatagramSocket) ConnectEndpointPair(ctx context.Context, pair networking.EndpointPair) error {
	const op = "DatagramSocket.ConnectEndpointPair"
	if pair.RemoteHostName == nil {
		return socketerror.InvalidArg(op, "endpointPair.RemoteHostName", "must not be nil")
	}
	if pair.RemoteServiceName == "" {
		return socketerror.InvalidArg(op, "endpointPair.RemoteServiceName", "must not be empty")
	}
	return d.connect(ctx, op, pair)
}

func (d *DatagramSocket) connect(ctx context.Context, op string, pair networking.EndpointPair) error {
	ctx, done := d.opContext(ctx)
	defer done()
	remotes, err := d.resolveRemote(ctx, op, pair, false)
	if err != nil {
		return err
	}
	if err := d.setup.Lock(ctx); err != nil {
		return d.setupError(ctx, op, "", err)
	}
	defer d.setup.Unlock()
	if d.closing.Load() {
		return socketerror.Closed(op)
	}
	if d.remote.Load() != nil {
		return socketerror.IllegalCall(op, "the socket is already connected")
	}
	if err := d.ensureBoundLocked(ctx, op, pair); err != nil {
		return err
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state == datagramClosed {
		return socketerror.Closed(op)
	}
	dest, err := d.pickLocked(op, pair, remotes)
	if err != nil {
		return err
	}
	var local netip.AddrPort
	err = control(d.raw, func(fd int) error {
		if err := connectDatagram(fd, dest); err != nil {
			return err
		}
		var err error
		local, err = dgramSockname(fd)
		return err
	})
	if err != nil {
		return socketerror.New(op, dest.String(), err)
	}
	d.remote.Store(&dest)
	d.info.setLocal(local)
	d.info.setRemote(dest)
	return nil
}

// GetOutputStream returns a stream whose writes go to service on host:
// the first address host resolves to that the Env's Guard allows
// (Guard.Check(Outbound, addr)) and the socket's address family reaches.
// If the socket is not bound it binds it (an ephemeral port on every
// address, dual-stack) and starts receiving. It does not connect the
// socket or filter what it receives; any number of streams to different
// destinations, multicast groups and broadcast addresses included, may
// coexist.
func (d *DatagramSocket) GetOutputStream(ctx context.Context, host *networking.HostName, service string) (*DatagramOutputStream, error) {
	const op = "DatagramSocket.GetOutputStream"
	if host == nil {
		return nil, socketerror.InvalidArg(op, "remoteHostName", "must not be nil")
	}
	if service == "" {
		return nil, socketerror.InvalidArg(op, "remoteServiceName", "must not be empty")
	}
	return d.getOutputStream(ctx, op, networking.EndpointPair{RemoteHostName: host, RemoteServiceName: service})
}

// GetOutputStreamEndpointPair is GetOutputStream for pair's remote
// endpoint. If the socket is not bound yet it binds to pair's local
// endpoint, where nil or empty parts let the system choose; if it is bound,
// a local endpoint in pair other than the bound one is an
// E_ILLEGAL_METHOD_CALL error.
func (d *DatagramSocket) GetOutputStreamEndpointPair(ctx context.Context, pair networking.EndpointPair) (*DatagramOutputStream, error) {
	const op = "DatagramSocket.GetOutputStreamEndpointPair"
	if pair.RemoteHostName == nil {
		return nil, socketerror.InvalidArg(op, "endpointPair.RemoteHostName", "must not be nil")
	}
	if pair.RemoteServiceName == "" {
		return nil, socketerror.InvalidArg(op, "endpointPair.RemoteServiceName", "must not be empty")
	}
	return d.getOutputStream(ctx, op, pair)
}

func (d *DatagramSocket) getOutputStream(ctx context.Context, op string, pair networking.EndpointPair) (*DatagramOutputStream, error) {
	ctx, done := d.opContext(ctx)
	defer done()
	remotes, err := d.resolveRemote(ctx, op, pair, true)
	if err != nil {
		return nil, err
	}
	if err := d.setup.Lock(ctx); err != nil {
		return nil, d.setupError(ctx, op, "", err)
	}
	defer d.setup.Unlock()
	if err := d.ensureBoundLocked(ctx, op, pair); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state == datagramClosed {
		return nil, socketerror.Closed(op)
	}
	dest, err := d.pickLocked(op, pair, remotes)
	if err != nil {
		return nil, err
	}
	return &DatagramOutputStream{d: d, dest: dest, label: dest.String()}, nil
}

// resolveRemote resolves pair's remote endpoint and keeps the addresses
// the Guard allows. Multicast addresses are kept only if multicast is
// true; if that leaves none, the error is HostNotFound, as WinRT's Connect
// reports for a multicast remote.
func (d *DatagramSocket) resolveRemote(ctx context.Context, op string, pair networking.EndpointPair, multicast bool) ([]netip.AddrPort, error) {
	remote := pair.RemoteHostName.String()
	addrs, err := d.env.resolver().ResolveEndpoints(ctx, "udp", pair.RemoteHostName, pair.RemoteServiceName, networking.SortNone)
	if err != nil {
		return nil, d.setupError(ctx, op, remote, err)
	}
	kept := addrs[:0]
	var guardErr error
	sawMulticast := false
	for _, a := range addrs {
		a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
		if a.Addr().IsMulticast() && !multicast {
			sawMulticast = true
			continue
		}
		if err := d.env.check(Outbound, a.Addr()); err != nil {
			if guardErr == nil {
				guardErr = err
			}
			continue
		}
		kept = append(kept, a)
	}
	switch {
	case len(kept) > 0:
		return kept, nil
	case guardErr != nil:
		return nil, socketerror.New(op, remote, guardErr)
	case sawMulticast:
		return nil, socketerror.WithStatus(op, remote, socketerror.HostNotFound,
			errors.New("a datagram socket cannot connect to a multicast address; use GetOutputStream"))
	}
	return nil, socketerror.WithStatus(op, remote, socketerror.NoAddressesFound, errors.New("no usable address"))
}

// ensureBoundLocked binds the socket to pair's local endpoint (the
// system's choice where it is empty) unless it is bound, in which case
// pair's local endpoint must be empty or the bound one. The caller holds
// d.setup.
func (d *DatagramSocket) ensureBoundLocked(ctx context.Context, op string, pair networking.EndpointPair) error {
	named := pair.LocalHostName != nil || pair.LocalServiceName != ""
	var local netip.AddrPort
	if named {
		var err error
		local, err = resolveLocal(ctx, d.env.resolver(), "udp", pair.LocalHostName, pair.LocalServiceName)
		if err != nil {
			return d.setupError(ctx, op, dgramLocalLabel(pair.LocalHostName, pair.LocalServiceName), err)
		}
		local = netip.AddrPortFrom(local.Addr().Unmap(), local.Port())
	} else {
		local = netip.AddrPortFrom(netip.IPv6Unspecified(), 0)
	}
	d.mu.Lock()
	st, bound := d.state, d.local
	d.mu.Unlock()
	switch st {
	case datagramClosed:
		return socketerror.Closed(op)
	case datagramBound:
		if named && ((local.Port() != 0 && local.Port() != bound.Port()) ||
			(pair.LocalHostName != nil && local.Addr() != bound.Addr())) {
			return socketerror.IllegalCall(op, "the socket is already bound to %s", bound)
		}
		return nil
	}
	return d.bindLocked(ctx, op, local)
}

// pickLocked returns the first of remotes the bound socket reaches.
// d.mu must be held.
func (d *DatagramSocket) pickLocked(op string, pair networking.EndpointPair, remotes []netip.AddrPort) (netip.AddrPort, error) {
	for _, a := range remotes {
		if d.reachesLocked(a.Addr()) {
			return a, nil
		}
	}
	return netip.AddrPort{}, socketerror.WithStatus(op, pair.RemoteHostName.String(), socketerror.AddressFamilyNotSupported,
		errors.New("no address of the family of the socket's local address "+d.local.Addr().String()))
}

// JoinMulticastGroup joins the multicast group host, an IPv4 or IPv6
// address, so that datagrams sent to it reach the socket. The socket must
// be bound first (E_ILLEGAL_METHOD_CALL otherwise), to every address or
// to the group's port, for the datagrams to match it. An IPv6 group's zone
// ("ff12::1%eth0") picks the interface; otherwise the routing table does.
// A socket bound to one IPv4 address joins on that address's interface.
// A dual-stack socket joins groups of both families. As in WinRT, joins
// are not renewed when addresses change.
func (d *DatagramSocket) JoinMulticastGroup(host *networking.HostName) error {
	const op = "DatagramSocket.JoinMulticastGroup"
	if host == nil {
		return socketerror.InvalidArg(op, "host", "must not be nil")
	}
	group, ok := host.Addr()
	if !ok {
		return socketerror.InvalidArg(op, "host", "%q is not an IP address", host.String())
	}
	if group.Is4In6() {
		group = group.Unmap()
	}
	if !group.IsMulticast() {
		return socketerror.InvalidArg(op, "host", "%s is not a multicast address", group)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch d.state {
	case datagramClosed:
		return socketerror.Closed(op)
	case datagramBound:
	default:
		return socketerror.IllegalCall(op, "the socket must be bound before it joins a group")
	}
	if !d.reachesLocked(group) {
		return socketerror.WithStatus(op, group.String(), socketerror.AddressFamilyNotSupported,
			errors.New("the socket is bound to "+d.local.Addr().String()))
	}
	local := d.local.Addr()
	err := control(d.raw, func(fd int) error { return dgramJoinGroup(fd, group, local) })
	return socketerror.New(op, group.String(), err)
}

// opContext returns ctx, cancelled also when the socket closes, and the
// function that releases it.
func (d *DatagramSocket) opContext(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(d.closeCtx, cancel)
	return ctx, func() { stop(); cancel() }
}

// setupError classifies a failed bind, connect or resolution: Closed if
// the socket closed meanwhile, else as ctxError does.
func (d *DatagramSocket) setupError(ctx context.Context, op, addr string, err error) error {
	if d.closing.Load() {
		return socketerror.Closed(op)
	}
	return ctxError(ctx, op, addr, err)
}

// receiveLoop reads datagrams from conn and raises MessageReceived for
// each, until Close. It reads only while a handler is registered.
func (d *DatagramSocket) receiveLoop(conn *net.UDPConn) {
	defer d.loops.exit()
	rx := &d.rx
	rx.buf = make([]byte, datagramBufferSize)
	rx.oob = make([]byte, datagramOOBSize)
	log := d.env.logger().With("datagram_socket", conn.LocalAddr().String())
	var backoff time.Duration
	for {
		select {
		case <-d.messageReceived.Ready():
		case <-d.closeCtx.Done():
			return
		}
		n, oobn, _, from, err := conn.ReadMsgUDPAddrPort(rx.buf, rx.oob)
		if err != nil {
			switch {
			case errors.Is(err, net.ErrClosed):
				return
			case errors.Is(err, syscall.ECONNREFUSED):
				// An ICMP port unreachable for an earlier send of a
				// connected socket; the socket is fine.
				continue
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			log.Warn("receive failed; retrying", "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-d.closeCtx.Done():
				return
			}
			continue
		}
		backoff = 0
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		if r := d.remote.Load(); r != nil {
			// The kernel filters once connected; this catches what
			// was queued before Connect.
			if from.Port() != r.Port() || from.Addr().WithZone("") != r.Addr().WithZone("") {
				continue
			}
		} else if err := d.env.check(Inbound, from.Addr()); err != nil {
			d.dropRefused(log, from, err)
			continue
		}
		rx.args = DatagramSocketMessageReceivedEventArgs{
			remote: from,
			local:  dgramPktinfoAddr(rx.oob[:oobn]),
			data:   rx.buf[:n:n],
		}
		raised := raise(&d.loops, &d.messageReceived, &rx.args, d.closeCtx.Done())
		rx.args = DatagramSocketMessageReceivedEventArgs{}
		if !raised {
			return
		}
	}
}

// dropRefused counts a datagram the Guard refused and logs, at most once
// per refusedLogEvery, how many were refused since the last log.
func (d *DatagramSocket) dropRefused(log *slog.Logger, from netip.AddrPort, err error) {
	d.refused.Add(1)
	rx := &d.rx
	rx.refusedNow++
	now := time.Now()
	if now.Sub(rx.lastLog) < refusedLogEvery || !log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	log.Debug("dropped datagrams the guard refused", "count", rx.refusedNow, "last_sender", from.String(), "err", err)
	rx.lastLog, rx.refusedNow = now, 0
}

// CancelIO ends every pending write with OperationAborted and returns once
// they have all returned; datagrams a write already handed to the kernel
// are sent. Receiving goes on. It is the quiescent point WinRT offers
// before a socket is handed to the socket broker.
func (d *DatagramSocket) CancelIO(ctx context.Context) error {
	const op = "DatagramSocket.CancelIO"
	d.mu.Lock()
	conn, st := d.conn, d.state
	d.mu.Unlock()
	if st == datagramClosed {
		return socketerror.Closed(op)
	}
	d.cancelGen.Add(1)
	if conn != nil {
		conn.SetWriteDeadline(aLongTimeAgo)
	}
	if err := d.writeLock.Lock(ctx); err != nil {
		return ctxError(ctx, op, "", err)
	}
	defer d.writeLock.Unlock()
	if conn != nil && !d.closing.Load() {
		conn.SetWriteDeadline(time.Time{})
	}
	return nil
}

// Close closes the socket: receiving stops, every MessageReceived handler
// is removed, and writes in flight end with RO_E_CLOSED, as do all later
// calls. Close waits for the receive goroutine to exit, except when it is
// running a handler (Close may be called from that handler): then the
// goroutine exits as soon as the handler returns, and raises nothing
// more. Close is idempotent and returns nil.
func (d *DatagramSocket) Close() error {
	d.mu.Lock()
	if d.state == datagramClosed {
		d.mu.Unlock()
		return nil
	}
	d.state = datagramClosed
	d.closing.Store(true)
	d.closeNow()
	conn := d.conn
	d.mu.Unlock()
	d.messageReceived.Clear()
	if conn != nil {
		conn.Close()
	}
	d.loops.wait()
	return nil
}

// Write sends p as one datagram, after every write issued before it on any
// of the socket's streams, and returns len(p). A payload larger than UDP
// allows (65,507 bytes over IPv4), or than the path MTU with
// Control().DontFragment set, fails with MessageTooLong. Writing to
// OutputStream before Connect is an E_ILLEGAL_METHOD_CALL error, and
// writing after Close an RO_E_CLOSED one. The Guard is not asked again:
// the destination is fixed and was allowed when the stream was made.
func (o *DatagramOutputStream) Write(ctx context.Context, p []byte) (int, error) {
	const op = "DatagramSocket.OutputStream.Write"
	d := o.d
	gen := d.cancelGen.Load()
	if err := d.writeLock.Lock(ctx); err != nil {
		return 0, ctxError(ctx, op, o.label, err)
	}
	defer d.writeLock.Unlock()
	d.mu.Lock()
	conn, st := d.conn, d.state
	d.mu.Unlock()
	switch {
	case st == datagramClosed:
		return 0, socketerror.Closed(op)
	case o.connected && d.remote.Load() == nil:
		return 0, socketerror.IllegalCall(op, "the socket is not connected; call Connect, or write to a stream from GetOutputStream")
	case d.cancelGen.Load() != gen:
		return 0, socketerror.WithStatus(op, o.label, socketerror.OperationAborted, context.Canceled)
	}
	stop := d.watch(ctx, conn)
	var n int
	var err error
	if o.connected {
		n, err = conn.Write(p)
	} else {
		n, err = conn.WriteToUDPAddrPort(p, o.dest)
	}
	stop(gen)
	if err != nil {
		return 0, d.writeError(ctx, op, o, gen, err)
	}
	return n, nil
}

// TryWrite sends p as one datagram if the kernel takes it at once, without
// blocking, and reports whether it did. It sends nothing, and returns
// (0, false, nil), when another write is queued or in progress, when the
// socket's send buffer is full, or for a destination with an IPv6 zone;
// the caller then uses Write. Bindings use it to complete a send without
// handing it to another goroutine.
func (o *DatagramOutputStream) TryWrite(p []byte) (int, bool, error) {
	const op = "DatagramSocket.OutputStream.TryWrite"
	d := o.d
	if !d.writeLock.TryLock() {
		return 0, false, nil
	}
	defer d.writeLock.Unlock()
	d.mu.Lock()
	raw, conn, st := d.raw, d.conn, d.state
	d.mu.Unlock()
	switch {
	case st == datagramClosed:
		return 0, false, socketerror.Closed(op)
	case raw == nil, o.connected && d.remote.Load() == nil, !o.connected && o.dest.Addr().Zone() != "":
		return 0, false, nil
	}
	// The socket's own family decides the sockaddr: a dual-stack socket
	// reaches IPv4 peers through v4-mapped addresses.
	tx := &d.tx
	tx.p, tx.to = p, nil
	if !o.connected {
		if conn.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Is6() {
			tx.sa6 = unix.SockaddrInet6{Port: int(o.dest.Port()), Addr: o.dest.Addr().As16()}
			tx.to = &tx.sa6
		} else {
			tx.sa4 = unix.SockaddrInet4{Port: int(o.dest.Port()), Addr: o.dest.Addr().Unmap().As4()}
			tx.to = &tx.sa4
		}
	}
	err := raw.Write(tx.send)
	werr := tx.err
	tx.p, tx.err = nil, nil
	switch {
	case err != nil:
		return 0, false, socketerror.New(op, o.label, err)
	case werr == unix.EAGAIN:
		return 0, false, nil
	case werr != nil:
		return 0, false, socketerror.New(op, o.label, os.NewSyscallError("sendto", werr))
	}
	return len(p), true, nil
}

// Flush returns once every write issued before it, on any of the socket's
// streams, has completed: WinRT's FlushAsync. netrun queues nothing of its
// own beyond the writes waiting their turn.
func (o *DatagramOutputStream) Flush(ctx context.Context) error {
	const op = "DatagramSocket.OutputStream.Flush"
	d := o.d
	if err := d.writeLock.Lock(ctx); err != nil {
		return ctxError(ctx, op, o.label, err)
	}
	defer d.writeLock.Unlock()
	if d.closing.Load() {
		return socketerror.Closed(op)
	}
	return nil
}

// watch arranges for ctx's end to interrupt a blocked send by setting a
// write deadline in the past, and returns the function that disarms it.
// A context that cannot end costs nothing.
func (d *DatagramSocket) watch(ctx context.Context, conn *net.UDPConn) func(gen uint64) {
	if ctx.Done() == nil {
		return noStop
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		conn.SetWriteDeadline(aLongTimeAgo)
		close(fired)
	})
	return func(gen uint64) {
		if stop() {
			return
		}
		<-fired
		if d.cancelGen.Load() == gen && !d.closing.Load() {
			conn.SetWriteDeadline(time.Time{})
		}
	}
}

// writeError classifies a failed send: a Close or CancelIO in progress, or
// the caller's context, say more than the error they caused.
func (d *DatagramSocket) writeError(ctx context.Context, op string, o *DatagramOutputStream, gen uint64, err error) error {
	label := o.label
	if o.connected {
		if r := d.remote.Load(); r != nil {
			label = r.String()
		}
	}
	switch {
	case d.closing.Load():
		return socketerror.Closed(op)
	case ctx.Err() != nil:
		return ctxError(ctx, op, label, err)
	case d.cancelGen.Load() != gen, errors.Is(err, os.ErrDeadlineExceeded):
		// Only CancelIO and ctx set write deadlines.
		return socketerror.WithStatus(op, label, socketerror.OperationAborted, err)
	}
	return socketerror.New(op, label, err)
}
