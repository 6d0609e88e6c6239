package lua

import (
	"bytes"
	"container/list"
	"context"
	"net/netip"
	"strconv"
	"sync/atomic"

	glua "github.com/yuin/gopher-lua"

	"github.com/netrun/netrun/runtime/event"
	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/sockets"
	"github.com/netrun/netrun/runtime/trigger"
)

// lDatagram is a DatagramSocket as one worker sees it. It works on a
// runtime socket of its own until BindServiceNameAsync or
// BindEndpointAsync, which may subscribe it to a socket the script's
// workers share instead (see datagramHub). Its fields are guarded by the
// state's lock unless noted.
type lDatagram struct {
	v    *vm
	core atomic.Pointer[dgramCore] // the socket it works on; read anywhere, written under the lock
	ev   event.Event[*sockets.DatagramSocketMessageReceivedEventArgs]

	ud, control, info, output, messageReceived *glua.LUserData

	binding  bool // an explicit bind is in progress
	bound    bool // an explicit bind succeeded
	implicit bool // ConnectAsync or GetOutputStreamAsync bound its own socket
	closed   bool
	gone     atomic.Bool // closed: deal skips it
	stopped  atomic.Bool // its worker stopped while a datagram was raised
	streams  streamCache // GetOutputStreamAsync's streams by (host, service)

	taskID      string      // EnableTransferOwnership's task
	transferred atomic.Bool // TransferOwnership gave the socket to the broker (closed is set too)
}

// dgramArgs is one received datagram as MessageReceived's args: its
// payload is copied while the runtime's handler runs.
type dgramArgs struct {
	v      *vm
	remote netip.AddrPort
	local  netip.Addr
	data   []byte // never written to: readers of it share it
}

func datagramModule(v *vm, L *glua.LState) *glua.LTable {
	t := L.NewTable()
	t.RawSetString("new", L.NewFunction(func(L *glua.LState) int {
		L.Push(v.newDatagram(L).ud)
		return 1
	}))
	t.RawSetString("GetEndpointPairsAsync", getEndpointPairsFunc(v, L, "DatagramSocket.GetEndpointPairsAsync", v.env.GetDatagramEndpointPairs))
	return t
}

func (v *vm) newDatagram(L *glua.LState) *lDatagram {
	l := &lDatagram{v: v}
	l.core.Store(newDgramCore(datagramHubOf(v.engine), v.env.NewDatagramSocket(), l))
	v.initDatagram(L, l)
	return l
}

// reclaimDatagramLocked makes a DatagramSocket object of a socket
// reclaimed from the broker, with the datagrams the broker held: they
// are raised first, in order, as soon as a MessageReceived handler is
// added, and the socket's next datagrams after them. The socket is the
// worker's own, not shared through the hub. v.mu must be held.
func (v *vm) reclaimDatagramLocked(L *glua.LState, d *sockets.DatagramSocket, held []trigger.Datagram) *lDatagram {
	l := &lDatagram{v: v, bound: true}
	c := newDgramCoreWithout(datagramHubOf(v.engine), d, l)
	l.core.Store(c)
	v.initDatagram(L, l)
	v.addJobLocked(job{run: func() []job {
		for _, h := range held {
			if !l.waitHandler() {
				return nil
			}
			l.ev.Raise(h.Args())
		}
		v.mu.Lock()
		defer v.mu.Unlock()
		if !l.closed && !v.closed {
			d.MessageReceived().Add(c.deal)
		}
		return nil
	}})
	return l
}

// waitHandler waits until l has a MessageReceived handler; false if its
// worker stopped or it closed first.
func (l *lDatagram) waitHandler() bool {
	for {
		select {
		case <-l.ev.Ready():
		case <-l.v.ctx.Done():
			return false
		}
		if l.gone.Load() {
			return false
		}
		if l.ev.Len() > 0 {
			return true
		}
	}
}

// transferLocked is DatagramSocket:TransferOwnership(id [, context [,
// keepAliveSeconds]]). The socket must be bound, and this worker's alone:
// a script running in several workers shares its bound sockets, and
// cannot transfer them.
func (l *lDatagram) transferLocked(L *glua.LState, m string) {
	v := l.v
	id, data, keepAlive := argTransfer(L, m, true)
	l.usable(L, m)
	switch {
	case !l.bound && !l.implicit:
		raiseIllegal(L, m, "the socket is not bound: bind it (and await the bind) first")
	case l.taskID == "":
		raiseIllegal(L, m, "call EnableTransferOwnership first")
	}
	v.checkFreeID(L, m, l.taskID, id)
	c := l.core.Load()
	if n, ok := c.detach(l); !ok {
		raiseIllegal(L, m, "the socket is shared by %d workers or versions of the script; only a script with one worker can transfer it", n)
	}
	l.transferred.Store(true)
	l.closed = true
	l.gone.Store(true)
	l.streams.clear()
	v.owned.remove(l)
	if err := v.transfer(c.d, l.taskID, id, data, keepAlive); err != nil {
		v.addJobLocked(job{quick: true, run: func() []job { c.d.Close(); return nil }})
		raiseError(L, err)
	}
}

// initDatagram makes the Lua objects of l, owned by the worker.
func (v *vm) initDatagram(L *glua.LState, l *lDatagram) {
	l.ud = newObject(L, datagramClass, l)
	l.control = newObject(L, datagramControlClass, l)
	l.info = newObject(L, datagramInfoClass, l)
	l.output = newObject(L, dgramOutputClass, &lDgramOut{l: l})
	ev := bindEvent(v, "DatagramSocket.MessageReceived", &l.ev, l.ud,
		func(L *glua.LState, a *sockets.DatagramSocketMessageReceivedEventArgs) glua.LValue {
			return newObject(L, dgramArgsClass, &dgramArgs{v: v, remote: a.RemoteAddrPort(), local: a.LocalAddr(),
				data: bytes.Clone(a.Data())})
		},
		func(*sockets.DatagramSocketMessageReceivedEventArgs) { l.stopped.Store(true) })
	add := ev.add
	ev.add = func(fn *glua.LFunction) event.Token {
		tok := add(fn)
		l.core.Load().notify() // a deal may be waiting for a handler
		return tok
	}
	l.messageReceived = newObject(L, eventClass, ev)
	v.owned.add(l)
}

// nextEphemeralDatagram counts the worker's ephemeral datagram binds, for
// the hub's key.
func (v *vm) nextEphemeralDatagram() int { return v.nextEphemeral("netrun.datagramEphemeral") }

// nextEphemeral counts a worker's ephemeral binds of one kind, so that the
// k-th ephemeral bind of every worker of a script shares one socket. The
// count lives in the state's registry: it is the worker's.
func (v *vm) nextEphemeral(key string) int {
	reg := v.L.Get(glua.RegistryIndex).(*glua.LTable)
	n, _ := reg.RawGetString(key).(glua.LNumber)
	n++
	reg.RawSetString(key, n)
	return int(n)
}

// start returns an operation whose work runs off the lock with a context
// that op:Cancel() and the worker's end cancel; finish, if not nil, runs
// under the lock whatever the outcome and gives the results.
func (l *lDatagram) start(L *glua.LState, method string, quick bool, work func(ctx context.Context) error,
	finish func(err error) []glua.LValue) *operation {
	v := l.v
	ctx, cancel := context.WithCancel(v.ctx)
	op := v.newOperationLocked(L, method)
	op.cancel = cancel
	v.addJobLocked(job{quick: quick, run: func() []job {
		err := work(ctx)
		cancel()
		v.mu.Lock()
		defer v.mu.Unlock()
		var res []glua.LValue
		if finish != nil {
			res = finish(err)
		}
		v.completeLocked(op, res, err)
		return v.takeJobsLocked()
	}})
	return op
}

// usable raises unless the socket may start an operation.
func (l *lDatagram) usable(L *glua.LState, method string) {
	switch {
	case l.transferred.Load():
		raiseError(L, errTransferred(method))
	case l.closed:
		raiseClosed(L, method)
	case l.binding:
		raiseIllegal(L, method, "a bind is in progress; await it first")
	}
}

func (l *lDatagram) bind(L *glua.LState, m string, host *networking.HostName, service string) int {
	v := l.v
	l.usable(L, m)
	switch {
	case l.bound:
		raiseIllegal(L, m, "the socket is already bound")
	case l.implicit:
		raiseIllegal(L, m, "the socket is already bound: ConnectAsync or GetOutputStreamAsync bound it")
	}
	key := datagramKey{script: v.script, service: service}
	if host != nil {
		key.host = host.CanonicalName()
	}
	if service == "" || service == "0" {
		key.nth = v.nextEphemeralDatagram()
	}
	l.binding = true
	own := l.core.Load()
	var core *dgramCore
	op := l.start(L, m, false, func(ctx context.Context) error {
		c, err := own.hub.bind(ctx, key, l, own, func(d *sockets.DatagramSocket) error {
			if host == nil {
				return d.BindServiceName(ctx, service)
			}
			return d.BindEndpoint(ctx, host, service)
		})
		if err == nil && c != own {
			own.removeSub(l) // subscribed to another worker's socket: its own goes
		}
		core = c
		return err
	}, func(err error) []glua.LValue {
		l.binding = false
		if err != nil {
			return nil
		}
		l.bound = true
		if core != own {
			l.core.Store(core)
			l.streams.clear()
		}
		if l.closed { // Close ran meanwhile, on the old core
			v.addJobLocked(job{quick: true, run: func() []job { core.removeSub(l); return nil }})
		}
		return nil
	})
	L.Push(op.ud)
	return 1
}

// argEndpoint reads (host, service) or (endpointPair) from argument 2 on.
func argEndpoint(L *glua.LState, m string) networking.EndpointPair {
	if ud, ok := L.Get(2).(*glua.LUserData); ok {
		if p, ok := ud.Value.(*endpointPair); ok {
			if p.p.RemoteHostName == nil || p.p.RemoteServiceName == "" {
				raiseArg(L, m, 2, "endpointPair", "RemoteHostName and RemoteServiceName must be set")
			}
			return p.p
		}
	}
	return networking.EndpointPair{
		RemoteHostName:    argHostName(L, 2, m, "remoteHostName"),
		RemoteServiceName: argString(L, 3, m, "remoteServiceName"),
	}
}

// isNumericService reports whether s is a port number, which needs no
// look-up in the services file.
func isNumericService(s string) bool {
	if s == "" || len(s) > 5 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

var datagramClass = &class{
	name: "DatagramSocket",
	methods: map[string]glua.LGFunction{
		"BindServiceNameAsync": func(L *glua.LState) int {
			const m = "DatagramSocket:BindServiceNameAsync"
			l := self[*lDatagram](L, m)
			return l.bind(L, m, nil, optString(L, 2, m, "localServiceName", ""))
		},
		"BindEndpointAsync": func(L *glua.LState) int {
			const m = "DatagramSocket:BindEndpointAsync"
			l := self[*lDatagram](L, m)
			var host *networking.HostName
			if L.Get(2) != glua.LNil {
				host = argHostName(L, 2, m, "localHostName")
			}
			return l.bind(L, m, host, optString(L, 3, m, "localServiceName", ""))
		},
		"ConnectAsync": func(L *glua.LState) int {
			const m = "DatagramSocket:ConnectAsync"
			l := self[*lDatagram](L, m)
			pair := argEndpoint(L, m)
			l.usable(L, m)
			c, shared := l.core.Load(), l.bound
			if !shared {
				l.implicit = true
			}
			op := l.start(L, m, false, func(ctx context.Context) error {
				if shared {
					return c.connect(ctx, pair)
				}
				return c.d.ConnectEndpointPair(ctx, pair)
			}, nil)
			L.Push(op.ud)
			return 1
		},
		"GetOutputStreamAsync": func(L *glua.LState) int {
			const m = "DatagramSocket:GetOutputStreamAsync"
			l := self[*lDatagram](L, m)
			pair := argEndpoint(L, m)
			cacheable := pair.LocalHostName == nil && pair.LocalServiceName == ""
			key := streamKey{pair.RemoteHostName.CanonicalName(), pair.RemoteServiceName}
			if cacheable && !l.closed {
				if ud := l.streams.get(key); ud != nil {
					L.Push(l.v.doneLocked(L, m, []glua.LValue{ud}, nil).ud)
					return 1
				}
			}
			l.usable(L, m)
			if !l.bound {
				l.implicit = true
			}
			c := l.core.Load()
			_, isAddr := pair.RemoteHostName.Addr()
			quick := isAddr && isNumericService(pair.RemoteServiceName)
			var out *sockets.DatagramOutputStream
			op := l.start(L, m, quick, func(ctx context.Context) error {
				var err error
				out, err = c.d.GetOutputStreamEndpointPair(ctx, pair)
				return err
			}, func(err error) []glua.LValue {
				if err != nil {
					return nil
				}
				ud := newObject(l.v.L, dgramOutputClass, &lDgramOut{l: l, out: out, core: c})
				if cacheable && !l.closed && l.core.Load() == c {
					l.streams.put(key, ud)
				}
				return []glua.LValue{ud}
			})
			L.Push(op.ud)
			return 1
		},
		"JoinMulticastGroup": func(L *glua.LState) int {
			const m = "DatagramSocket:JoinMulticastGroup"
			l := self[*lDatagram](L, m)
			host := argHostName(L, 2, m, "host")
			addr, ok := host.Addr()
			switch {
			case !ok:
				raiseArg(L, m, 2, "host", "an IP address expected, got the name %q", host.String())
			case !addr.Unmap().IsMulticast():
				raiseArg(L, m, 2, "host", "%s is not a multicast address", addr)
			}
			if l.closed {
				raiseClosed(L, m)
			}
			if err := l.core.Load().join(host); err != nil {
				raiseError(L, err)
			}
			return 0
		},
		"CancelIOAsync": func(L *glua.LState) int {
			const m = "DatagramSocket:CancelIOAsync"
			l := self[*lDatagram](L, m)
			c := l.core.Load()
			op := l.start(L, m, false, func(ctx context.Context) error { return c.d.CancelIO(ctx) }, nil)
			L.Push(op.ud)
			return 1
		},
		"EnableTransferOwnership": func(L *glua.LState) int {
			const m = "DatagramSocket:EnableTransferOwnership"
			l := self[*lDatagram](L, m)
			l.usable(L, m)
			l.taskID = argTaskID(L, 2, m)
			return 0
		},
		"TransferOwnership": func(L *glua.LState) int {
			const m = "DatagramSocket:TransferOwnership"
			self[*lDatagram](L, m).transferLocked(L, m)
			return 0
		},
		"Close": func(L *glua.LState) int {
			l := self[*lDatagram](L, "DatagramSocket:Close")
			l.closeLocked()
			return 0
		},
	},
	getters: map[string]getter{
		"Control":         func(L *glua.LState, o any) glua.LValue { return o.(*lDatagram).control },
		"Information":     func(L *glua.LState, o any) glua.LValue { return o.(*lDatagram).info },
		"OutputStream":    func(L *glua.LState, o any) glua.LValue { return o.(*lDatagram).output },
		"MessageReceived": func(L *glua.LState, o any) glua.LValue { return o.(*lDatagram).messageReceived },
	},
	tostring: func(o any) string {
		return "DatagramSocket " + o.(*lDatagram).core.Load().d.Information().LocalPort()
	},
}

// closeLocked is DatagramSocket:Close(). The socket closes off the lock.
func (l *lDatagram) closeLocked() {
	if l.closed {
		return
	}
	l.closed = true
	l.gone.Store(true)
	l.streams.clear()
	l.v.owned.remove(l)
	c := l.core.Load()
	l.v.addJobLocked(job{quick: true, run: func() []job { c.removeSub(l); return nil }})
}

// Close implements io.Closer for the worker's owned set, which calls it
// off the state's lock when the worker stops.
func (l *lDatagram) Close() error {
	v := l.v
	v.mu.Lock()
	if l.closed {
		v.mu.Unlock()
		return nil
	}
	l.closed = true
	l.gone.Store(true)
	l.streams.clear()
	c := l.core.Load()
	v.mu.Unlock()
	v.owned.remove(l)
	c.removeSub(l)
	return nil
}

var dgramArgsClass = &class{
	name: "DatagramSocketMessageReceivedEventArgs",
	methods: map[string]glua.LGFunction{
		"GetDataReader": func(L *glua.LState) int {
			a := self[*dgramArgs](L, "DatagramSocketMessageReceivedEventArgs:GetDataReader")
			L.Push(newObject(L, dataReaderClass, newMessageReader(a.v, a.data)))
			return 1
		},
		"GetDataStream": func(L *glua.LState) int {
			a := self[*dgramArgs](L, "DatagramSocketMessageReceivedEventArgs:GetDataStream")
			L.Push(newObject(L, memInputClass, &memInput{v: a.v, data: a.data}))
			return 1
		},
	},
	getters: map[string]getter{
		"RemoteAddress": func(L *glua.LState, o any) glua.LValue {
			a := o.(*dgramArgs)
			return a.v.peers.names(L, a.remote).host
		},
		"RemotePort": func(L *glua.LState, o any) glua.LValue {
			a := o.(*dgramArgs)
			return a.v.peers.names(L, a.remote).port
		},
		"LocalAddress": func(L *glua.LState, o any) glua.LValue {
			return hostNameValue(L, networking.HostNameFromAddr(o.(*dgramArgs).local))
		},
	},
	tostring: func(o any) string {
		a := o.(*dgramArgs)
		return "DatagramSocketMessageReceivedEventArgs from " + a.remote.String() + " (" + strconv.Itoa(len(a.data)) + " bytes)"
	},
}

// lDgramOut is a DatagramSocket's output stream: its OutputStream (to
// the remote ConnectAsync connected it to) when out is nil, or one from
// GetOutputStreamAsync. Each write or DataWriter:StoreAsync sends one
// datagram.
type lDgramOut struct {
	l    *lDatagram
	out  *sockets.DatagramOutputStream // nil: the socket's OutputStream
	core *dgramCore                    // out's socket
}

func (o *lDgramOut) stream() *sockets.DatagramOutputStream {
	if o.out != nil {
		return o.out
	}
	return o.l.core.Load().d.OutputStream()
}

func (o *lDgramOut) socket() *sockets.DatagramSocket {
	if o.core != nil {
		return o.core.d
	}
	return o.l.core.Load().d
}

func (o *lDgramOut) store(p []byte) (int, error) {
	if o.l.transferred.Load() {
		return 0, errTransferred("DataWriter.StoreAsync")
	}
	return o.stream().Write(context.Background(), p)
}
func (o *lDgramOut) flush() error { return o.stream().Flush(context.Background()) }
func (o *lDgramOut) quick() bool  { return true }
func (o *lDgramOut) cancelStore() { go o.socket().CancelIO(context.Background()) }

var dgramOutputClass = &class{
	name: "DatagramOutputStream",
	methods: map[string]glua.LGFunction{
		// WriteAsync sends the string as one datagram: a netrun extension
		// that saves a DataWriter, as on a StreamSocket's OutputStream.
		"WriteAsync": func(L *glua.LState) int {
			const m = "DatagramOutputStream:WriteAsync"
			o := self[*lDgramOut](L, m)
			data := argString(L, 2, m, "buffer")
			if o.l.transferred.Load() {
				raiseError(L, errTransferred(m))
			}
			out := o.stream()
			// A send the kernel takes at once completes here, so await
			// does not yield.
			if n, ok, err := out.TryWrite(unsafeBytes(data)); ok || err != nil {
				L.Push(o.l.v.doneLocked(L, m, []glua.LValue{glua.LNumber(n)}, err).ud)
				return 1
			}
			op := o.l.v.startLocked(L, m, true, o.cancelStore, func(context.Context) (func(*glua.LState) []glua.LValue, error) {
				n, err := out.Write(context.Background(), unsafeBytes(data))
				return func(*glua.LState) []glua.LValue { return []glua.LValue{glua.LNumber(n)} }, err
			})
			L.Push(op.ud)
			return 1
		},
		"FlushAsync": func(L *glua.LState) int {
			const m = "DatagramOutputStream:FlushAsync"
			o := self[*lDgramOut](L, m)
			out := o.stream()
			op := o.l.v.startLocked(L, m, true, nil, func(context.Context) (func(*glua.LState) []glua.LValue, error) {
				return trueResult, out.Flush(context.Background())
			})
			L.Push(op.ud)
			return 1
		},
	},
	tostring: func(o any) string { return "DatagramOutputStream" },
}

// dgramControl builds a Control property of the socket's current runtime
// socket: its setter raises the runtime's errors (E_ILLEGAL_METHOD_CALL
// once the socket is bound).
func dgramControl(c *class, name string, get func(*sockets.DatagramSocketControl) glua.LValue,
	set func(L *glua.LState, ctl *sockets.DatagramSocketControl, v glua.LValue) error) {
	ctl := func(o any) *sockets.DatagramSocketControl { return o.(*lDatagram).core.Load().d.Control() }
	c.getters[name] = func(L *glua.LState, o any) glua.LValue { return get(ctl(o)) }
	c.setters[name] = func(L *glua.LState, o any, v glua.LValue) {
		if err := set(L, ctl(o), v); err != nil {
			raiseError(L, err)
		}
	}
}

var datagramControlClass = func() *class {
	c := &class{name: "DatagramSocketControl", getters: map[string]getter{}, setters: map[string]setter{}}
	const p = "DatagramSocketControl."
	dgramControl(c, "DontFragment",
		func(ctl *sockets.DatagramSocketControl) glua.LValue { return glua.LBool(ctl.DontFragment()) },
		func(L *glua.LState, ctl *sockets.DatagramSocketControl, v glua.LValue) error {
			return ctl.SetDontFragment(valueBool(L, p+"DontFragment", v))
		})
	dgramControl(c, "MulticastOnly",
		func(ctl *sockets.DatagramSocketControl) glua.LValue { return glua.LBool(ctl.MulticastOnly()) },
		func(L *glua.LState, ctl *sockets.DatagramSocketControl, v glua.LValue) error {
			return ctl.SetMulticastOnly(valueBool(L, p+"MulticastOnly", v))
		})
	dgramControl(c, "InboundBufferSizeInBytes",
		func(ctl *sockets.DatagramSocketControl) glua.LValue {
			return glua.LNumber(ctl.InboundBufferSizeInBytes())
		},
		func(L *glua.LState, ctl *sockets.DatagramSocketControl, v glua.LValue) error {
			return ctl.SetInboundBufferSizeInBytes(uint32(valueInt(L, p+"InboundBufferSizeInBytes", v, 0, 1<<31-1)))
		})
	dgramControl(c, "OutboundUnicastHopLimit",
		func(ctl *sockets.DatagramSocketControl) glua.LValue {
			return glua.LNumber(ctl.OutboundUnicastHopLimit())
		},
		func(L *glua.LState, ctl *sockets.DatagramSocketControl, v glua.LValue) error {
			return ctl.SetOutboundUnicastHopLimit(uint8(valueInt(L, p+"OutboundUnicastHopLimit", v, 1, 255)))
		})
	dgramControl(c, "QualityOfService",
		func(ctl *sockets.DatagramSocketControl) glua.LValue { return glua.LNumber(ctl.QualityOfService()) },
		func(L *glua.LState, ctl *sockets.DatagramSocketControl, v glua.LValue) error {
			return ctl.SetQualityOfService(sockets.SocketQualityOfService(valueInt(L, p+"QualityOfService", v, 0, 1)))
		})
	return c
}()

func dgramInfo(o any) *sockets.DatagramSocketInformation {
	return o.(*lDatagram).core.Load().d.Information()
}

var datagramInfoClass = &class{
	name: "DatagramSocketInformation",
	getters: map[string]getter{
		"LocalAddress":  func(L *glua.LState, o any) glua.LValue { return hostNameValue(L, dgramInfo(o).LocalAddress()) },
		"LocalPort":     func(L *glua.LState, o any) glua.LValue { return glua.LString(dgramInfo(o).LocalPort()) },
		"RemoteAddress": func(L *glua.LState, o any) glua.LValue { return hostNameValue(L, dgramInfo(o).RemoteAddress()) },
		"RemotePort":    func(L *glua.LState, o any) glua.LValue { return glua.LString(dgramInfo(o).RemotePort()) },
	},
}

// peerNames are a datagram sender's address and port as Lua sees them.
type peerNames struct {
	host *glua.LUserData
	port glua.LString
}

// peerCache keeps the Lua names of recent datagram senders, so that an
// echo handler reading args.RemoteAddress and args.RemotePort for every
// datagram does not format and allocate them each time. It is cleared
// when it grows past peerCacheSize. Guarded by the state's lock.
type peerCache struct {
	m map[netip.AddrPort]peerNames
}

// peerCacheSize bounds a worker's peerCache.
const peerCacheSize = 4096

func (c *peerCache) names(L *glua.LState, ap netip.AddrPort) peerNames {
	if n, ok := c.m[ap]; ok {
		return n
	}
	if c.m == nil || len(c.m) >= peerCacheSize {
		c.m = make(map[netip.AddrPort]peerNames, 64)
	}
	n := peerNames{
		host: newObject(L, hostNameClass, networking.HostNameFromAddr(ap.Addr())),
		port: glua.LString(strconv.Itoa(int(ap.Port()))),
	}
	c.m[ap] = n
	return n
}

// streamCacheSize bounds the output streams a DatagramSocket keeps for
// GetOutputStreamAsync, so that an echo server answering many peers does
// not resolve each peer's address per datagram, nor keep every peer ever
// seen.
const streamCacheSize = 1024

// streamCache holds the output streams of one DatagramSocket by remote
// (host, service), least recently used evicted.
type streamCache struct {
	m     map[streamKey]*list.Element
	order list.List // of *cachedStream, most recently used first
}

// streamKey names a destination as GetOutputStreamAsync was given it; a
// struct rather than a joined string, so that a lookup allocates nothing.
type streamKey struct{ host, service string }

type cachedStream struct {
	key streamKey
	ud  *glua.LUserData
}

func (c *streamCache) get(key streamKey) *glua.LUserData {
	e, ok := c.m[key]
	if !ok {
		return nil
	}
	c.order.MoveToFront(e)
	return e.Value.(*cachedStream).ud
}

func (c *streamCache) put(key streamKey, ud *glua.LUserData) {
	if e, ok := c.m[key]; ok {
		e.Value.(*cachedStream).ud = ud
		c.order.MoveToFront(e)
		return
	}
	if c.m == nil {
		c.m = map[streamKey]*list.Element{}
	}
	c.m[key] = c.order.PushFront(&cachedStream{key: key, ud: ud})
	if c.order.Len() > streamCacheSize {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.m, last.Value.(*cachedStream).key)
	}
}

func (c *streamCache) clear() {
	c.m = nil
	c.order.Init()
}
