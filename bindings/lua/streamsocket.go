package lua

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"io"
	"sync/atomic"
	"unsafe"

	glua "github.com/yuin/gopher-lua"

	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
)

// lStreamSocket is a StreamSocket as one worker sees it. Its companion
// objects are made on first use and then kept, so s.Control == s.Control
// in Lua; an idle connection that never touched them pays nothing.
type lStreamSocket struct {
	v                                *vm
	s                                *sockets.StreamSocket
	ud, control, info, input, output *glua.LUserData

	// Writes that could not complete at once wait here, in issue order,
	// for the one writer job that sends them; guarded by v.mu.
	queue   []queuedWrite
	writing bool

	// upgraded: AcceptAsync gave the socket to a WebSocket, whose bytes
	// its streams must not touch any more. Read anywhere.
	upgraded atomic.Bool
	// transferred: TransferOwnership gave the socket to the broker; the
	// object is dead, and a reclaim makes a new one. Read anywhere.
	transferred atomic.Bool
	// ioGen counts CancelIOAsync and TransferOwnership calls: a read
	// issued before one of them ends with OperationAborted instead of
	// reading, also when it was parked. Read anywhere.
	ioGen  atomic.Uint64
	taskID string // EnableTransferOwnership's task; guarded by v.mu
}

// queuedWrite is a WriteAsync or FlushAsync behind a write that is still
// being sent.
type queuedWrite struct {
	op    *operation
	data  string // what is left to send
	sent  int    // what TryWrite already sent
	flush bool
}

func (v *vm) newStreamSocket(L *glua.LState, s *sockets.StreamSocket) *lStreamSocket {
	ls := &lStreamSocket{v: v, s: s}
	ls.ud = newObject(L, streamSocketClass, ls)
	v.owned.add(s)
	return ls
}

// companion returns *slot, making it of class c on first use.
func (ls *lStreamSocket) companion(L *glua.LState, slot **glua.LUserData, c *class) *glua.LUserData {
	if *slot == nil {
		*slot = newObject(L, c, ls)
	}
	return *slot
}

func streamSocketModule(v *vm, L *glua.LState) *glua.LTable {
	t := L.NewTable()
	t.RawSetString("new", L.NewFunction(func(L *glua.LState) int {
		L.Push(v.newStreamSocket(L, v.env.NewStreamSocket()).ud)
		return 1
	}))
	t.RawSetString("GetEndpointPairsAsync", getEndpointPairsFunc(v, L, "StreamSocket.GetEndpointPairsAsync", v.env.GetEndpointPairs))
	return t
}

// getEndpointPairsFunc is a class's static GetEndpointPairsAsync(host,
// service [, sortOptions]) over get, the runtime's look-up for the
// class's protocol.
func getEndpointPairsFunc(v *vm, L *glua.LState, m string,
	get func(context.Context, *networking.HostName, string, networking.HostNameSortOptions) ([]networking.EndpointPair, error)) *glua.LFunction {
	return L.NewFunction(func(L *glua.LState) int {
		host := argHostName(L, 1, m, "remoteHostName")
		service := argString(L, 2, m, "remoteServiceName")
		sort := networking.HostNameSortOptions(optInt(L, 3, m, "sortOptions", 0, 2, 0))
		op := v.startCtxLocked(L, m, func(ctx context.Context) (func(*glua.LState) []glua.LValue, error) {
			pairs, err := get(ctx, host, service, sort)
			return func(L *glua.LState) []glua.LValue { return []glua.LValue{endpointPairsValue(L, pairs)} }, err
		})
		L.Push(op.ud)
		return 1
	})
}

// argProtection returns argument n as a SocketProtectionLevel.
func argProtection(L *glua.LState, n int, method string) sockets.SocketProtectionLevel {
	return sockets.SocketProtectionLevel(optInt(L, n, method, "protectionLevel", 0, 9, 0))
}

var streamSocketClass = &class{
	name: "StreamSocket",
	methods: map[string]glua.LGFunction{
		"ConnectAsync": func(L *glua.LState) int {
			const m = "StreamSocket:ConnectAsync"
			ls := self[*lStreamSocket](L, m)
			ls.checkNotUpgraded(L, m)
			var pair networking.EndpointPair
			var level sockets.SocketProtectionLevel
			if ep, ok := L.Get(2).(*glua.LUserData); ok {
				if p, ok := ep.Value.(*endpointPair); ok {
					pair = p.p
					level = argProtection(L, 3, m)
				}
			}
			if pair.RemoteHostName == nil {
				pair.RemoteHostName = argHostName(L, 2, m, "remoteHostName")
				pair.RemoteServiceName = argString(L, 3, m, "remoteServiceName")
				level = argProtection(L, 4, m)
			}
			op := ls.v.startCtxLocked(L, m, func(ctx context.Context) (func(*glua.LState) []glua.LValue, error) {
				return nil, ls.s.ConnectEndpointPair(ctx, pair, level)
			})
			L.Push(op.ud)
			return 1
		},
		"UpgradeToSslAsync": func(L *glua.LState) int {
			const m = "StreamSocket:UpgradeToSslAsync"
			ls := self[*lStreamSocket](L, m)
			ls.checkNotUpgraded(L, m)
			level := sockets.SocketProtectionLevel(argInt(L, 2, m, "protectionLevel", 0, 9))
			host := argHostName(L, 3, m, "validationHostName")
			op := ls.v.startCtxLocked(L, m, func(ctx context.Context) (func(*glua.LState) []glua.LValue, error) {
				return nil, ls.s.UpgradeToSsl(ctx, level, host)
			})
			L.Push(op.ud)
			return 1
		},
		"CancelIOAsync": func(L *glua.LState) int {
			const m = "StreamSocket:CancelIOAsync"
			ls := self[*lStreamSocket](L, m)
			ls.checkNotUpgraded(L, m)
			ls.ioGen.Add(1)
			op := ls.v.startCtxLocked(L, m, func(ctx context.Context) (func(*glua.LState) []glua.LValue, error) {
				// A parked read is not in the socket's read queue:
				// run it again, to end it.
				ls.v.engine.parker.unpark(ls)
				return nil, ls.s.CancelIO(ctx)
			})
			L.Push(op.ud)
			return 1
		},
		"EnableTransferOwnership": func(L *glua.LState) int {
			const m = "StreamSocket:EnableTransferOwnership"
			ls := self[*lStreamSocket](L, m)
			ls.checkNotUpgraded(L, m)
			ls.taskID = argTaskID(L, 2, m)
			return 0
		},
		"TransferOwnership": func(L *glua.LState) int {
			const m = "StreamSocket:TransferOwnership"
			ls := self[*lStreamSocket](L, m)
			ls.transferLocked(L, m)
			return 0
		},
		"Close": func(L *glua.LState) int {
			ls := self[*lStreamSocket](L, "StreamSocket:Close")
			if ls.transferred.Load() {
				return 0 // the broker's now
			}
			ls.v.owned.remove(ls.s)
			// Close may wait up to five seconds for writes in flight;
			// never under the state's lock. A parked read is woken to
			// fail as a closed socket's reads do.
			ls.v.addJobLocked(job{quick: true, run: func() []job {
				ls.v.engine.parker.unpark(ls)
				ls.s.Close()
				return nil
			}})
			return 0
		},
	},
	getters: map[string]getter{
		"Control": func(L *glua.LState, o any) glua.LValue {
			ls := o.(*lStreamSocket)
			return ls.companion(L, &ls.control, streamControlClass)
		},
		"Information": func(L *glua.LState, o any) glua.LValue {
			ls := o.(*lStreamSocket)
			return ls.companion(L, &ls.info, streamInfoClass)
		},
		"InputStream": func(L *glua.LState, o any) glua.LValue {
			ls := o.(*lStreamSocket)
			return ls.companion(L, &ls.input, inputStreamClass)
		},
		"OutputStream": func(L *glua.LState, o any) glua.LValue {
			ls := o.(*lStreamSocket)
			return ls.companion(L, &ls.output, outputStreamClass)
		},
	},
	tostring: func(o any) string {
		ls := o.(*lStreamSocket)
		return "StreamSocket " + ls.s.Information().LocalPort() + " -> " + ls.s.Information().RemotePort()
	},
}

var inputStreamClass = &class{
	name: "InputStream",
	methods: map[string]glua.LGFunction{
		"ReadAsync": func(L *glua.LState) int {
			const m = "InputStream:ReadAsync"
			ls := self[*lStreamSocket](L, m)
			count := int(argInt(L, 2, m, "count", 1, 64<<20))
			opts := sockets.InputStreamOptions(optInt(L, 3, m, "options", 0, 2, int64(sockets.Partial)))
			L.Push(ls.readLocked(L, m, count, opts).ud)
			return 1
		},
	},
	tostring: func(o any) string { return "InputStream" },
}

// readLocked starts a read. A partial read that sees no data for
// idleAfter parks the connection with the engine's parker and ends its
// goroutine; the read goes on when data, a hang-up, Close or Cancel comes.
func (ls *lStreamSocket) readLocked(L *glua.LState, m string, count int, opts sockets.InputStreamOptions) *operation {
	ls.checkNotUpgraded(L, m)
	v, s := ls.v, ls.s
	op := v.newOperationLocked(L, m)
	gen := ls.ioGen.Load()
	var canceled atomic.Bool
	// op:Cancel() runs under the state's lock: the unparking and CancelIO,
	// which wait, run as a job once the calling task yields.
	op.cancel = func() {
		canceled.Store(true)
		v.addJobLocked(job{quick: true, run: func() []job {
			v.engine.parker.unpark(ls)
			s.CancelIO(context.Background())
			return nil
		}})
	}
	var j job
	j = job{run: func() []job {
		if canceled.Load() || ls.ioGen.Load() != gen {
			return v.finish(op, nil, socketerror.WithStatus(m, "", socketerror.OperationAborted, context.Canceled))
		}
		var b *sockets.Buffer
		var err error
		if opts == sockets.InputStreamNone {
			b, err = s.InputStream().ReadBuffer(context.Background(), count, opts)
		} else {
			b, err = s.InputStream().ReadBufferIdle(count, idleAfter)
			if err == sockets.ErrIdle {
				if v.engine.parker.park(v, ls, j) {
					return nil // this goroutine ends; the parker runs j again
				}
				b, err = s.InputStream().ReadBuffer(context.Background(), count, opts)
			}
		}
		if err == io.EOF {
			return v.finish(op, emptyStringResult, nil)
		}
		if err != nil {
			return v.finish(op, nil, err)
		}
		str := glua.LString(b.Bytes())
		b.Release()
		return v.finish(op, func(*glua.LState) []glua.LValue { return []glua.LValue{str} }, nil)
	}}
	v.addJobLocked(j)
	return op
}

func emptyStringResult(*glua.LState) []glua.LValue { return []glua.LValue{glua.LString("")} }

var outputStreamClass = &class{
	name: "OutputStream",
	methods: map[string]glua.LGFunction{
		"WriteAsync": func(L *glua.LState) int {
			const m = "OutputStream:WriteAsync"
			ls := self[*lStreamSocket](L, m)
			L.Push(ls.writeLocked(L, m, argString(L, 2, m, "buffer"), false).ud)
			return 1
		},
		"FlushAsync": func(L *glua.LState) int {
			const m = "OutputStream:FlushAsync"
			ls := self[*lStreamSocket](L, m)
			L.Push(ls.writeLocked(L, m, "", true).ud)
			return 1
		},
	},
	tostring: func(o any) string { return "OutputStream" },
}

func trueResult(*glua.LState) []glua.LValue { return []glua.LValue{glua.LTrue} }

// writeLocked starts a write of data (or a flush). Writes leave in the
// order they were issued, awaited or not. Most fit the socket buffer and
// complete here, under the lock, so that await does not even yield; one
// that does not, and every write or flush issued after it, queue for a
// single writer job.
func (ls *lStreamSocket) writeLocked(L *glua.LState, m, data string, flush bool) *operation {
	ls.checkNotUpgraded(L, m)
	v, s := ls.v, ls.s
	w := queuedWrite{data: data, flush: flush}
	if !ls.writing {
		if flush {
			return v.doneLocked(L, m, []glua.LValue{glua.LTrue}, nil)
		}
		n, all, err := s.OutputStream().TryWrite(unsafeBytes(data))
		if all || err != nil {
			return v.doneLocked(L, m, []glua.LValue{glua.LNumber(n)}, err)
		}
		w.data, w.sent = data[n:], n
	}
	w.op = v.newOperationLocked(L, m)
	w.op.cancel = func() {
		v.addJobLocked(job{quick: true, run: func() []job { s.CancelIO(context.Background()); return nil }})
	}
	ls.queue = append(ls.queue, w)
	if !ls.writing {
		ls.writing = true
		v.addJobLocked(job{run: ls.writer})
	}
	return w.op
}

// writer sends the queued writes in order, until the queue is empty.
func (ls *lStreamSocket) writer() []job {
	out := ls.s.OutputStream()
	return drainQueue(ls.v, &ls.queue, &ls.writing, func(w queuedWrite) []job {
		if w.flush {
			return ls.v.finish(w.op, trueResult, out.Flush(context.Background()))
		}
		n, err := out.Write(context.Background(), unsafeBytes(w.data))
		total := glua.LNumber(w.sent + n)
		return ls.v.finish(w.op, func(*glua.LState) []glua.LValue { return []glua.LValue{total} }, err)
	})
}

// drainQueue is a socket's writer job: it takes the queue's items in
// order under the state's lock and runs send on each off it, until the
// queue is empty; then it clears *busy, under the lock, so that the next
// write starts a new writer. It returns the jobs the completions started.
func drainQueue[T any](v *vm, queue *[]T, busy *bool, send func(T) []job) []job {
	var started []job
	for {
		v.mu.Lock()
		if len(*queue) == 0 {
			*busy = false
			v.mu.Unlock()
			return started
		}
		w := (*queue)[0]
		var zero T
		(*queue)[0] = zero // the slice's array must not keep the data alive
		*queue = (*queue)[1:]
		v.mu.Unlock()
		started = append(started, send(w)...)
	}
}

// unsafeBytes views a Lua string's bytes without copying. The writes it
// is used for only read the slice, and Lua strings are immutable.
func unsafeBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// controlProp builds a getter and setter pair for a Control property.
func boolProp(get func(*lStreamSocket) bool, set func(*lStreamSocket, bool) error, name string) (getter, setter) {
	return func(L *glua.LState, o any) glua.LValue { return glua.LBool(get(o.(*lStreamSocket))) },
		func(L *glua.LState, o any, v glua.LValue) {
			if err := set(o.(*lStreamSocket), valueBool(L, name, v)); err != nil {
				raiseError(L, err)
			}
		}
}

func intProp(get func(*lStreamSocket) int64, set func(*lStreamSocket, int64) error, name string, lo, hi int64) (getter, setter) {
	return func(L *glua.LState, o any) glua.LValue { return glua.LNumber(get(o.(*lStreamSocket))) },
		func(L *glua.LState, o any, v glua.LValue) {
			if err := set(o.(*lStreamSocket), valueInt(L, name, v, lo, hi)); err != nil {
				raiseError(L, err)
			}
		}
}

var streamControlClass = func() *class {
	c := &class{name: "StreamSocketControl", getters: map[string]getter{}, setters: map[string]setter{}}
	add := func(name string, g getter, s setter) { c.getters[name], c.setters[name] = g, s }
	ctl := func(ls *lStreamSocket) *sockets.StreamSocketControl { return ls.s.Control() }
	g, s := boolProp(func(ls *lStreamSocket) bool { return ctl(ls).NoDelay() },
		func(ls *lStreamSocket, v bool) error { return ctl(ls).SetNoDelay(v) }, "StreamSocketControl.NoDelay")
	add("NoDelay", g, s)
	g, s = boolProp(func(ls *lStreamSocket) bool { return ctl(ls).KeepAlive() },
		func(ls *lStreamSocket, v bool) error { return ctl(ls).SetKeepAlive(v) }, "StreamSocketControl.KeepAlive")
	add("KeepAlive", g, s)
	g, s = boolProp(func(ls *lStreamSocket) bool { return ctl(ls).SerializeConnectionAttempts() },
		func(ls *lStreamSocket, v bool) error { return ctl(ls).SetSerializeConnectionAttempts(v) }, "StreamSocketControl.SerializeConnectionAttempts")
	add("SerializeConnectionAttempts", g, s)
	g, s = intProp(func(ls *lStreamSocket) int64 { return int64(ctl(ls).OutboundBufferSizeInBytes()) },
		func(ls *lStreamSocket, v int64) error { return ctl(ls).SetOutboundBufferSizeInBytes(uint32(v)) },
		"StreamSocketControl.OutboundBufferSizeInBytes", 0, 1<<31)
	add("OutboundBufferSizeInBytes", g, s)
	g, s = intProp(func(ls *lStreamSocket) int64 { return int64(ctl(ls).OutboundUnicastHopLimit()) },
		func(ls *lStreamSocket, v int64) error { return ctl(ls).SetOutboundUnicastHopLimit(uint8(v)) },
		"StreamSocketControl.OutboundUnicastHopLimit", 1, 255)
	add("OutboundUnicastHopLimit", g, s)
	g, s = intProp(func(ls *lStreamSocket) int64 { return int64(ctl(ls).QualityOfService()) },
		func(ls *lStreamSocket, v int64) error {
			return ctl(ls).SetQualityOfService(sockets.SocketQualityOfService(v))
		},
		"StreamSocketControl.QualityOfService", 0, 1)
	add("QualityOfService", g, s)
	g, s = intProp(func(ls *lStreamSocket) int64 { return int64(ctl(ls).MinProtectionLevel()) },
		func(ls *lStreamSocket, v int64) error {
			return ctl(ls).SetMinProtectionLevel(sockets.SocketProtectionLevel(v))
		},
		"StreamSocketControl.MinProtectionLevel", 0, 9)
	add("MinProtectionLevel", g, s)
	g, s = certificateProp("StreamSocketControl.ClientCertificate",
		func(o any) *tls.Certificate { return ctl(o.(*lStreamSocket)).ClientCertificate() },
		func(o any, c *tls.Certificate) error { return ctl(o.(*lStreamSocket)).SetClientCertificate(c) })
	add("ClientCertificate", g, s)
	c.getters["IgnorableServerCertificateErrors"] = func(L *glua.LState, o any) glua.LValue {
		ls := o.(*lStreamSocket)
		return newObject(L, vectorClass, &vector{
			name: "IgnorableServerCertificateErrors",
			get: func() []glua.LValue {
				var out []glua.LValue
				for _, r := range ctl(ls).IgnorableServerCertificateErrors() {
					out = append(out, glua.LNumber(r))
				}
				return out
			},
			set: func(L *glua.LState, vals []glua.LValue) {
				var rs []sockets.ChainValidationResult
				for _, v := range vals {
					rs = append(rs, sockets.ChainValidationResult(valueInt(L, "IgnorableServerCertificateErrors", v, 0, 13)))
				}
				if err := ctl(ls).SetIgnorableServerCertificateErrors(rs); err != nil {
					raiseError(L, err)
				}
			},
		})
	}
	return c
}()

var streamInfoClass = &class{
	name: "StreamSocketInformation",
	getters: map[string]getter{
		"LocalAddress":      func(L *glua.LState, o any) glua.LValue { return hostNameValue(L, info(o).LocalAddress()) },
		"LocalPort":         func(L *glua.LState, o any) glua.LValue { return glua.LString(info(o).LocalPort()) },
		"RemoteAddress":     func(L *glua.LState, o any) glua.LValue { return hostNameValue(L, info(o).RemoteAddress()) },
		"RemotePort":        func(L *glua.LState, o any) glua.LValue { return glua.LString(info(o).RemotePort()) },
		"RemoteHostName":    func(L *glua.LState, o any) glua.LValue { return hostNameValue(L, info(o).RemoteHostName()) },
		"RemoteServiceName": func(L *glua.LState, o any) glua.LValue { return glua.LString(info(o).RemoteServiceName()) },
		"ProtectionLevel":   func(L *glua.LState, o any) glua.LValue { return glua.LNumber(info(o).ProtectionLevel()) },
		"ServerCertificate": func(L *glua.LState, o any) glua.LValue { return certificateValue(L, info(o).ServerCertificate()) },
		"ServerCertificateErrorSeverity": func(L *glua.LState, o any) glua.LValue {
			return glua.LNumber(info(o).ServerCertificateErrorSeverity())
		},
		"ServerCertificateErrors": func(L *glua.LState, o any) glua.LValue {
			return chainResultsValue(L, info(o).ServerCertificateErrors())
		},
		"ServerIntermediateCertificates": func(L *glua.LState, o any) glua.LValue {
			return certificatesValue(L, info(o).ServerIntermediateCertificates())
		},
		"RoundTripTimeStatistics": func(L *glua.LState, o any) glua.LValue {
			r := info(o).RoundTripTimeStatistics()
			t := L.NewTable()
			t.RawSetString("Variance", glua.LNumber(r.Variance))
			t.RawSetString("Max", glua.LNumber(r.Max))
			t.RawSetString("Min", glua.LNumber(r.Min))
			t.RawSetString("Sum", glua.LNumber(r.Sum))
			return t
		},
		"BandwidthStatistics": func(L *glua.LState, o any) glua.LValue {
			b := info(o).BandwidthStatistics()
			t := L.NewTable()
			t.RawSetString("OutboundBitsPerSecond", glua.LNumber(b.OutboundBitsPerSecond))
			t.RawSetString("InboundBitsPerSecond", glua.LNumber(b.InboundBitsPerSecond))
			t.RawSetString("OutboundBitsPerSecondInstability", glua.LNumber(b.OutboundBitsPerSecondInstability))
			t.RawSetString("InboundBitsPerSecondInstability", glua.LNumber(b.InboundBitsPerSecondInstability))
			t.RawSetString("OutboundBandwidthPeaked", glua.LBool(b.OutboundBandwidthPeaked))
			t.RawSetString("InboundBandwidthPeaked", glua.LBool(b.InboundBandwidthPeaked))
			return t
		},
		"SessionKey": func(L *glua.LState, o any) glua.LValue { return glua.LNil },
	},
}

func info(o any) *sockets.StreamSocketInformation { return o.(*lStreamSocket).s.Information() }

// certificateValue describes a certificate as a plain table (Subject,
// Issuer, ValidFrom, ValidTo as Unix seconds, Thumbprint as hex SHA-1 is
// not computed: SerialNumber instead, and DNSNames).
func certificateValue(L *glua.LState, c *x509.Certificate) glua.LValue {
	if c == nil {
		return glua.LNil
	}
	t := L.NewTable()
	t.RawSetString("Subject", glua.LString(c.Subject.String()))
	t.RawSetString("Issuer", glua.LString(c.Issuer.String()))
	t.RawSetString("ValidFrom", glua.LNumber(c.NotBefore.Unix()))
	t.RawSetString("ValidTo", glua.LNumber(c.NotAfter.Unix()))
	t.RawSetString("SerialNumber", glua.LString(hex.EncodeToString(c.SerialNumber.Bytes())))
	names := L.NewTable()
	for _, n := range c.DNSNames {
		names.Append(glua.LString(n))
	}
	t.RawSetString("DnsNames", names)
	return t
}

// certificatesValue is a Lua array of certificateValue tables.
func certificatesValue(L *glua.LState, certs []*x509.Certificate) glua.LValue {
	t := L.NewTable()
	for _, c := range certs {
		t.Append(certificateValue(L, c))
	}
	return t
}

// chainResultsValue is a Lua array of ChainValidationResult numbers.
func chainResultsValue(L *glua.LState, rs []sockets.ChainValidationResult) glua.LValue {
	t := L.NewTable()
	for _, r := range rs {
		t.Append(glua.LNumber(r))
	}
	return t
}

// errUpgraded is the error of a stream used after AcceptAsync gave its
// socket to a WebSocket.
func errUpgraded(m string) error {
	return socketerror.IllegalCall(m, "the socket was given to a WebSocket by AcceptAsync; use the WebSocket")
}

// errTransferred is the error of a socket used after TransferOwnership.
func errTransferred(m string) error {
	return socketerror.IllegalCall(m, "the socket was transferred to the socket broker; reclaim it through SocketActivityInformation")
}

// checkNotUpgraded raises errUpgraded if the socket was given to a
// WebSocket, and errTransferred if it was given to the broker.
func (ls *lStreamSocket) checkNotUpgraded(L *glua.LState, m string) {
	if ls.upgraded.Load() {
		raiseError(L, errUpgraded(m))
	}
	if ls.transferred.Load() {
		raiseError(L, errTransferred(m))
	}
}

// transferLocked is StreamSocket:TransferOwnership(id [, context [,
// keepAliveSeconds]]): reads still pending end with OperationAborted
// (WinRT asks the caller to cancel them first), and the broker takes the
// socket. Writes still queued must be awaited first.
func (ls *lStreamSocket) transferLocked(L *glua.LState, m string) {
	ls.checkNotUpgraded(L, m)
	id, data, keepAlive := argTransfer(L, m, true)
	v := ls.v
	switch {
	case ls.taskID == "":
		raiseIllegal(L, m, "call EnableTransferOwnership first")
	case ls.writing:
		raiseIllegal(L, m, "writes are still being sent: await them (or FlushAsync) first")
	}
	if _, err := ls.s.SyscallConn(); err != nil {
		raiseIllegal(L, m, "the socket is not connected")
	}
	v.checkFreeID(L, m, ls.taskID, id)
	ls.ioGen.Add(1)
	ls.transferred.Store(true)
	v.owned.remove(ls.s)
	if err := v.transfer(ls.s, ls.taskID, id, data, keepAlive); err != nil {
		ls.transferred.Store(false)
		v.owned.add(ls.s)
		raiseError(L, err)
	}
	// A parked read ends now rather than when data comes.
	v.addJobLocked(job{quick: true, run: func() []job { v.engine.parker.unpark(ls); return nil }})
}
