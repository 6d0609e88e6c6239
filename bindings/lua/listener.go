package lua

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	glua "github.com/yuin/gopher-lua"

	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/sockets"
)

// lListenerObj ties a worker's listener to its Lua objects.
type lListenerObj struct {
	l                  *lListener
	ud, control, info  *glua.LUserData
	connectionReceived *glua.LUserData
}

func listenerModule(v *vm, L *glua.LState) *glua.LTable {
	t := L.NewTable()
	t.RawSetString("new", L.NewFunction(func(L *glua.LState) int {
		l := &lListener{v: v, ctl: listenerSettings{noDelay: true, hopLimit: 128}}
		L.Push(v.newListenerObj(L, l).ud)
		return 1
	}))
	return t
}

// newListenerObj makes the Lua objects of l, owned by the worker.
func (v *vm) newListenerObj(L *glua.LState, l *lListener) *lListenerObj {
	o := &lListenerObj{l: l}
	o.ud = newObject(L, listenerClass, o)
	o.control = newObject(L, listenerControlClass, o)
	o.info = newObject(L, listenerInfoClass, o)
	o.connectionReceived = newObject(L, eventClass, bindEvent(v, "StreamSocketListener.ConnectionReceived", &l.ev, o.ud,
		func(L *glua.LState, a *sockets.ConnectionReceivedEventArgs) glua.LValue {
			return newObject(L, connectionReceivedArgsClass, v.newStreamSocket(L, a.Socket).ud)
		},
		func(a *sockets.ConnectionReceivedEventArgs) { a.Socket.Close() }))
	v.owned.add(l)
	return o
}

// reclaimListenerLocked makes a listener object of a listener reclaimed
// from the broker, with the connections the broker accepted meanwhile:
// they are raised first, in order, as soon as a ConnectionReceived
// handler is added, and the listener's next connections after them. It
// is the worker's own, not shared through the hub. v.mu must be held.
func (v *vm) reclaimListenerLocked(L *glua.LState, ln *sockets.StreamSocketListener, held []*sockets.StreamSocket) *lListenerObj {
	l := &lListener{v: v, ln: ln, bound: true, own: true}
	o := v.newListenerObj(L, l)
	v.addJobLocked(job{run: func() []job {
		for i, s := range held {
			if !l.deliver(&sockets.ConnectionReceivedEventArgs{Socket: s}) {
				for _, s := range held[i:] {
					s.Close()
				}
				return nil
			}
		}
		v.mu.Lock()
		defer v.mu.Unlock()
		if !l.transferred && !l.closed && !v.closed {
			l.token, l.hasToken = ln.ConnectionReceived().Add(func(a *sockets.ConnectionReceivedEventArgs) {
				if !l.deliver(a) {
					a.Socket.Close()
				}
			}), true
		}
		return nil
	}})
	return o
}

// transferLocked is StreamSocketListener:TransferOwnership(id [,
// context]). The listener must be bound and its socket this worker's
// alone: a script running in several workers shares its listeners, and
// cannot transfer them.
func (o *lListenerObj) transferLocked(L *glua.LState, m string) {
	l := o.l
	v := l.v
	id, data, _ := argTransfer(L, m, false)
	switch {
	case l.transferred:
		raiseError(L, errTransferred(m))
	case l.closed:
		raiseClosed(L, m)
	case l.ln == nil:
		raiseIllegal(L, m, "the listener is not bound: await its bind first")
	case l.taskID == "":
		raiseIllegal(L, m, "call EnableTransferOwnership first")
	}
	v.checkFreeID(L, m, l.taskID, id)
	if l.own {
		if l.hasToken {
			l.ln.ConnectionReceived().Remove(l.token)
			l.hasToken = false
		}
	} else if n, ok := v.engine.hub.detach(l); !ok {
		raiseIllegal(L, m, "the listener's socket is shared by %d workers or versions of the script; only a script with one worker can transfer it", n)
	}
	l.transferred = true
	v.owned.remove(l)
	if err := v.transfer(l.ln, l.taskID, id, data, 0); err != nil {
		// The socket left the hub: nothing owns it now.
		ln := l.ln
		v.addJobLocked(job{quick: true, run: func() []job { ln.Close(); return nil }})
		raiseError(L, err)
	}
}

func (o *lListenerObj) bind(L *glua.LState, m string, host *networking.HostName, service string, level sockets.SocketProtectionLevel) int {
	l := o.l
	v := l.v
	if l.bound {
		raiseIllegal(L, m, "the listener is already bound")
	}
	if l.closed {
		raiseIllegal(L, m, "the listener is closed")
	}
	l.bound = true
	key := listenerKey{script: v.script, service: service, level: level}
	if host != nil {
		key.host = host.CanonicalName()
	}
	if service == "" || service == "0" {
		key.nth = v.nextEphemeral("netrun.listenerEphemeral")
	}
	settings := l.ctl
	op := v.startCtxLocked(L, m, func(ctx context.Context) (func(*glua.LState) []glua.LValue, error) {
		ln, err := v.engine.hub.bind(ctx, key, l, host, func(ln *sockets.StreamSocketListener) error {
			return settings.apply(ln)
		})
		if err != nil {
			return nil, err
		}
		return func(*glua.LState) []glua.LValue { l.ln = ln; return nil }, nil
	})
	L.Push(op.ud)
	return 1
}

func (s listenerSettings) apply(ln *sockets.StreamSocketListener) error {
	c := ln.Control()
	for _, err := range []error{c.SetNoDelay(s.noDelay), c.SetKeepAlive(s.keepAlive),
		c.SetOutboundBufferSizeInBytes(s.sendBuffer), c.SetOutboundUnicastHopLimit(s.hopLimit), c.SetQualityOfService(s.qos)} {
		if err != nil {
			return err
		}
	}
	if s.certFile != "" {
		return c.LoadServerCertificate(s.certFile, s.keyFile)
	}
	return nil
}

var listenerClass = &class{
	name: "StreamSocketListener",
	methods: map[string]glua.LGFunction{
		"BindServiceNameAsync": func(L *glua.LState) int {
			const m = "StreamSocketListener:BindServiceNameAsync"
			o := self[*lListenerObj](L, m)
			service := optString(L, 2, m, "localServiceName", "")
			return o.bind(L, m, nil, service, argProtection(L, 3, m))
		},
		"BindEndpointAsync": func(L *glua.LState) int {
			const m = "StreamSocketListener:BindEndpointAsync"
			o := self[*lListenerObj](L, m)
			var host *networking.HostName
			if L.Get(2) != glua.LNil {
				host = argHostName(L, 2, m, "localHostName")
			}
			service := optString(L, 3, m, "localServiceName", "")
			return o.bind(L, m, host, service, argProtection(L, 4, m))
		},
		"CancelIOAsync": func(L *glua.LState) int {
			const m = "StreamSocketListener:CancelIOAsync"
			o := self[*lListenerObj](L, m)
			ln := o.l.ln
			op := o.l.v.startCtxLocked(L, m, func(ctx context.Context) (func(*glua.LState) []glua.LValue, error) {
				if ln == nil {
					return nil, nil
				}
				return nil, ln.CancelIO(ctx)
			})
			L.Push(op.ud)
			return 1
		},
		"EnableTransferOwnership": func(L *glua.LState) int {
			const m = "StreamSocketListener:EnableTransferOwnership"
			o := self[*lListenerObj](L, m)
			if o.l.transferred {
				raiseError(L, errTransferred(m))
			}
			o.l.taskID = argTaskID(L, 2, m)
			return 0
		},
		"TransferOwnership": func(L *glua.LState) int {
			const m = "StreamSocketListener:TransferOwnership"
			self[*lListenerObj](L, m).transferLocked(L, m)
			return 0
		},
		"Close": func(L *glua.LState) int {
			o := self[*lListenerObj](L, "StreamSocketListener:Close")
			if o.l.transferred {
				return 0 // the broker's now
			}
			o.l.v.owned.remove(o.l)
			l := o.l
			o.l.v.addJobLocked(job{quick: true, run: func() []job { l.Close(); return nil }})
			return 0
		},
	},
	getters: map[string]getter{
		"Control":            func(L *glua.LState, o any) glua.LValue { return o.(*lListenerObj).control },
		"Information":        func(L *glua.LState, o any) glua.LValue { return o.(*lListenerObj).info },
		"ConnectionReceived": func(L *glua.LState, o any) glua.LValue { return o.(*lListenerObj).connectionReceived },
	},
	tostring: func(o any) string { return "StreamSocketListener" },
}

// connectionReceivedArgsClass is
// StreamSocketListenerConnectionReceivedEventArgs: args.Socket. A userdata
// rather than a table, which would cost an idle connection a hash map.
var connectionReceivedArgsClass = &class{
	name: "StreamSocketListenerConnectionReceivedEventArgs",
	getters: map[string]getter{
		"Socket": func(L *glua.LState, o any) glua.LValue { return o.(*glua.LUserData) },
	},
}

var listenerInfoClass = &class{
	name: "StreamSocketListenerInformation",
	getters: map[string]getter{
		"LocalPort": func(L *glua.LState, o any) glua.LValue {
			if ln := o.(*lListenerObj).l.ln; ln != nil {
				return glua.LString(ln.Information().LocalPort())
			}
			return glua.LString("")
		},
	},
}

// listenerSetting adds to c a Control property that must be set before
// bind.
func listenerSetting(c *class, name string, get func(*listenerSettings) glua.LValue, set func(L *glua.LState, s *listenerSettings, v glua.LValue)) {
	c.getters[name] = func(L *glua.LState, o any) glua.LValue { return get(&o.(*lListenerObj).l.ctl) }
	c.setters[name] = func(L *glua.LState, o any, v glua.LValue) {
		l := o.(*lListenerObj).l
		if l.bound {
			raiseIllegal(L, "StreamSocketListenerControl."+name, "cannot be changed once the listener is bound")
		}
		set(L, &l.ctl, v)
	}
}

var listenerControlClass = func() *class {
	c := &class{name: "StreamSocketListenerControl", getters: map[string]getter{}, setters: map[string]setter{},
		methods: map[string]glua.LGFunction{
			// LoadServerCertificate is a netrun extension: a listener bound
			// with a TLS protection level serves TLS with this certificate
			// and key, PEM files inside the scripts folder.
			"LoadServerCertificate": func(L *glua.LState) int {
				const m = "StreamSocketListenerControl:LoadServerCertificate"
				o := self[*lListenerObj](L, m)
				cert := scriptFile(L, o.l.v, m, 2, "certFile")
				key := scriptFile(L, o.l.v, m, 3, "keyFile")
				if o.l.bound {
					raiseIllegal(L, m, "cannot be changed once the listener is bound")
				}
				o.l.ctl.certFile, o.l.ctl.keyFile = cert, key
				return 0
			},
		}}
	listenerSetting(c, "NoDelay", func(s *listenerSettings) glua.LValue { return glua.LBool(s.noDelay) },
		func(L *glua.LState, s *listenerSettings, v glua.LValue) {
			s.noDelay = valueBool(L, "StreamSocketListenerControl.NoDelay", v)
		})
	listenerSetting(c, "KeepAlive", func(s *listenerSettings) glua.LValue { return glua.LBool(s.keepAlive) },
		func(L *glua.LState, s *listenerSettings, v glua.LValue) {
			s.keepAlive = valueBool(L, "StreamSocketListenerControl.KeepAlive", v)
		})
	listenerSetting(c, "OutboundBufferSizeInBytes", func(s *listenerSettings) glua.LValue { return glua.LNumber(s.sendBuffer) },
		func(L *glua.LState, s *listenerSettings, v glua.LValue) {
			s.sendBuffer = uint32(valueInt(L, "StreamSocketListenerControl.OutboundBufferSizeInBytes", v, 0, 1<<31))
		})
	listenerSetting(c, "OutboundUnicastHopLimit", func(s *listenerSettings) glua.LValue { return glua.LNumber(s.hopLimit) },
		func(L *glua.LState, s *listenerSettings, v glua.LValue) {
			s.hopLimit = uint8(valueInt(L, "StreamSocketListenerControl.OutboundUnicastHopLimit", v, 1, 255))
		})
	listenerSetting(c, "QualityOfService", func(s *listenerSettings) glua.LValue { return glua.LNumber(s.qos) },
		func(L *glua.LState, s *listenerSettings, v glua.LValue) {
			s.qos = sockets.SocketQualityOfService(valueInt(L, "StreamSocketListenerControl.QualityOfService", v, 0, 1))
		})
	return c
}()

// scriptFile returns argument n as the path of a file inside the scripts
// folder; anything outside it is E_INVALIDARG.
func scriptFile(L *glua.LState, v *vm, method string, n int, arg string) string {
	name := argString(L, n, method, arg)
	dir := v.engine.scriptsDir(v)
	p := filepath.Clean(filepath.Join(dir, name))
	if p != dir && !strings.HasPrefix(p, dir+string(filepath.Separator)) {
		raiseArg(L, method, n, arg, "%q is outside the scripts folder %s", name, dir)
	}
	if _, err := os.Stat(p); err != nil {
		raiseArg(L, method, n, arg, "%v", err)
	}
	return p
}
