package lua

import (
	"context"
	"math"
	"sync"
	"time"

	glua "github.com/yuin/gopher-lua"

	"github.com/netrun/netrun/runtime/event"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/trigger"
	"github.com/netrun/netrun/runtime/websocket"
)

// This file projects runtime/trigger: ControlChannelTrigger, the socket
// broker's SocketActivityTrigger, SocketActivityInformation and
// SocketActivityContext. The sockets' EnableTransferOwnership and
// TransferOwnership live with each socket class. A script's task id is
// its name (its file name without .lua); the broker is the engine's, so
// what one version of a script transfers, the next one finds.

// transferTimeout bounds how long TransferOwnership waits for a stream's
// reads and writes in flight to end.
const transferTimeout = 5 * time.Second

// maxTaskIDLength bounds a task id given to EnableTransferOwnership.
const maxTaskIDLength = 256

// triggerEnums are the enumerations of runtime/trigger, WinRT's numbers.
func triggerEnums() map[string]map[string]int {
	return map[string]map[string]int{
		"SocketActivityKind": {"None": 0, "StreamSocketListener": 1, "DatagramSocket": 2, "StreamSocket": 3},
		"SocketActivityTriggerReason": {"None": 0, "SocketActivity": 1, "ConnectionAccepted": 2,
			"KeepAliveTimerExpired": 3, "SocketClosed": 4},
		"ControlChannelTriggerStatus": {"HardwareSlotRequested": 0, "SoftwareSlotAllocated": 1, "HardwareSlotAllocated": 2,
			"PolicyError": 3, "SystemError": 4, "TransportDisconnected": 5, "ServiceUnavailable": 6},
		"ControlChannelTriggerResourceType": {"RequestSoftwareSlot": 0, "RequestHardwareSlot": 1},
	}
}

// triggerModules builds the trigger classes for require("netrun").
func triggerModules(v *vm, L *glua.LState) map[string]glua.LValue {
	cct := L.NewTable()
	cct.RawSetString("new", L.NewFunction(v.newControlChannelTrigger))

	regs := &taskRegistrations{v: v, unregister: map[event.Token]func(){}}
	v.owned.add(regs)
	activity := newObject(L, eventClass, &luaEvent{
		name:   "SocketActivityTrigger",
		add:    regs.add,
		remove: regs.remove,
	})

	info := L.NewTable()
	mt := L.NewTable()
	mt.RawSetString("__index", L.NewFunction(func(L *glua.LState) int {
		key := L.Get(2)
		if key != glua.LString("AllSockets") {
			raiseArg(L, "SocketActivityInformation."+key.String(), 1, "key", "SocketActivityInformation has no static member %q (it has: AllSockets)", key.String())
		}
		all := L.NewTable()
		for id, h := range v.engine.broker.AllSockets(v.script) {
			all.RawSetString(id, newObject(L, activityInfoClass, &lActivityInfo{v: v, h: h}))
		}
		L.Push(all)
		return 1
	}))
	L.SetMetatable(info, mt)

	ctx := L.NewTable()
	ctx.RawSetString("new", L.NewFunction(func(L *glua.LState) int {
		const m = "SocketActivityContext.new"
		data := argString(L, 1, m, "data")
		L.Push(newObject(L, activityContextClass, &lActivityContext{data: data}))
		return 1
	}))

	return map[string]glua.LValue{
		"ControlChannelTrigger":     cct,
		"SocketActivityTrigger":     activity,
		"SocketActivityInformation": info,
		"SocketActivityContext":     ctx,
	}
}

// taskRegistrations are a worker's SocketActivityTrigger handlers: each is
// a registration of the script's task with the broker, removed when the
// worker stops. Its fields are guarded by mu.
type taskRegistrations struct {
	v          *vm
	mu         sync.Mutex
	next       event.Token
	unregister map[event.Token]func()
}

// add registers fn: each trigger runs fn(details) as a task of the
// worker. A worker that has stopped takes no trigger, which the broker
// then keeps for the script's next version.
func (r *taskRegistrations) add(fn *glua.LFunction) event.Token {
	v := r.v
	un := v.engine.broker.RegisterTask(v.script, func(d *trigger.SocketActivityTriggerDetails) bool {
		return v.raise(nil, fn, func() []glua.LValue {
			return []glua.LValue{newObject(v.L, activityDetailsClass, &lActivityDetails{
				reason: d.Reason, info: &lActivityInfo{v: v, h: d.SocketInformation}})}
		})
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next++
	r.unregister[r.next] = un
	return r.next
}

func (r *taskRegistrations) remove(t event.Token) bool {
	r.mu.Lock()
	un, ok := r.unregister[t]
	delete(r.unregister, t)
	r.mu.Unlock()
	if ok {
		un()
	}
	return ok
}

// Close implements io.Closer for the worker's owned set.
func (r *taskRegistrations) Close() error {
	r.mu.Lock()
	all := r.unregister
	r.unregister = map[event.Token]func(){}
	r.mu.Unlock()
	for _, un := range all {
		un()
	}
	return nil
}

// lActivityDetails is SocketActivityTriggerDetails.
type lActivityDetails struct {
	reason trigger.SocketActivityTriggerReason
	info   *lActivityInfo
	infoUD *glua.LUserData
}

var activityDetailsClass = &class{
	name: "SocketActivityTriggerDetails",
	getters: map[string]getter{
		"Reason": func(L *glua.LState, o any) glua.LValue { return glua.LNumber(o.(*lActivityDetails).reason) },
		"SocketInformation": func(L *glua.LState, o any) glua.LValue {
			d := o.(*lActivityDetails)
			if d.infoUD == nil {
				d.infoUD = newObject(L, activityInfoClass, d.info)
			}
			return d.infoUD
		},
	},
	tostring: func(o any) string { return "SocketActivityTriggerDetails " + o.(*lActivityDetails).reason.String() },
}

// lActivityInfo is SocketActivityInformation: a socket the broker holds.
// Reading its StreamSocket, StreamSocketListener or DatagramSocket
// reclaims the socket; reading it again returns the same object.
type lActivityInfo struct {
	v         *vm
	h         *trigger.SocketActivityInformation
	reclaimed glua.LValue // guarded by v.mu
}

var activityInfoClass = &class{
	name: "SocketActivityInformation",
	getters: map[string]getter{
		"Id":         func(L *glua.LState, o any) glua.LValue { return glua.LString(o.(*lActivityInfo).h.Id()) },
		"TaskId":     func(L *glua.LState, o any) glua.LValue { return glua.LString(o.(*lActivityInfo).h.TaskId()) },
		"SocketKind": func(L *glua.LState, o any) glua.LValue { return glua.LNumber(o.(*lActivityInfo).h.SocketKind()) },
		"Context": func(L *glua.LState, o any) glua.LValue {
			return newObject(L, activityContextClass, &lActivityContext{data: string(o.(*lActivityInfo).h.Context())})
		},
		// Buffered is a netrun extension: the bytes, connections or
		// datagrams held for the socket.
		"Buffered": func(L *glua.LState, o any) glua.LValue { return glua.LNumber(o.(*lActivityInfo).h.Buffered()) },
		"StreamSocket": func(L *glua.LState, o any) glua.LValue {
			i := o.(*lActivityInfo)
			return i.reclaim(trigger.KindStreamSocket, func() glua.LValue {
				s, err := i.h.StreamSocket()
				if err != nil {
					raiseError(L, err)
				}
				ls := i.v.newStreamSocket(L, s)
				ls.taskID = i.h.TaskId() // enabled still, as in WinRT
				return ls.ud
			})
		},
		"StreamSocketListener": func(L *glua.LState, o any) glua.LValue {
			i := o.(*lActivityInfo)
			return i.reclaim(trigger.KindStreamSocketListener, func() glua.LValue {
				ln, held, err := i.h.StreamSocketListener()
				if err != nil {
					raiseError(L, err)
				}
				o := i.v.reclaimListenerLocked(L, ln, held)
				o.l.taskID = i.h.TaskId()
				return o.ud
			})
		},
		"DatagramSocket": func(L *glua.LState, o any) glua.LValue {
			i := o.(*lActivityInfo)
			return i.reclaim(trigger.KindDatagramSocket, func() glua.LValue {
				d, held, err := i.h.DatagramSocket()
				if err != nil {
					raiseError(L, err)
				}
				l := i.v.reclaimDatagramLocked(L, d, held)
				l.taskID = i.h.TaskId()
				return l.ud
			})
		},
	},
	tostring: func(o any) string {
		i := o.(*lActivityInfo)
		return "SocketActivityInformation " + i.h.Id() + " (" + i.h.SocketKind().String() + ")"
	},
}

// reclaim returns the object a reclaim of kind made through this
// information, making it with mk on the first read.
func (i *lActivityInfo) reclaim(kind trigger.SocketActivityKind, mk func() glua.LValue) glua.LValue {
	if i.reclaimed == nil || i.h.SocketKind() != kind {
		i.reclaimed = mk() // a kind that does not match raises
	}
	return i.reclaimed
}

// lActivityContext is SocketActivityContext: bytes stored with a
// transferred socket.
type lActivityContext struct{ data string }

var activityContextClass = &class{
	name: "SocketActivityContext",
	getters: map[string]getter{
		"Data": func(L *glua.LState, o any) glua.LValue { return glua.LString(o.(*lActivityContext).data) },
	},
}

// argTaskID returns argument n as a task id: a non-empty string.
func argTaskID(L *glua.LState, n int, m string) string {
	id := argString(L, n, m, "taskId")
	if id == "" || len(id) > maxTaskIDLength {
		raiseArg(L, m, n, "taskId", "a task id of 1 to %d bytes expected, got %d bytes", maxTaskIDLength, len(id))
	}
	return id
}

// argTransfer reads TransferOwnership's arguments: the socket id, the
// context (a SocketActivityContext or a string; optional) and the
// keep-alive in seconds (optional; only where allowed).
func argTransfer(L *glua.LState, m string, keepAliveAllowed bool) (string, []byte, time.Duration) {
	id := argString(L, 2, m, "socketId")
	if id == "" {
		raiseArg(L, m, 2, "socketId", "must not be empty")
	}
	var data []byte
	switch c := L.Get(3).(type) {
	case *glua.LNilType:
	case glua.LString:
		data = []byte(c)
	case *glua.LUserData:
		ac, ok := c.Value.(*lActivityContext)
		if !ok {
			raiseArg(L, m, 3, "context", "a SocketActivityContext or a string expected, got %s", typeName(c))
		}
		data = []byte(ac.data)
	default:
		raiseArg(L, m, 3, "context", "a SocketActivityContext or a string expected, got %s", typeName(c))
	}
	var keepAlive time.Duration
	if L.Get(4) != glua.LNil {
		if !keepAliveAllowed {
			raiseArg(L, m, 4, "keepAliveSeconds", "a StreamSocketListener takes no keep-alive")
		}
		keepAlive = argSeconds(L, 4, m, "keepAliveSeconds")
	}
	return id, data, keepAlive
}

// argSeconds returns argument n, a number of seconds in [0, one year], as
// a Duration.
func argSeconds(L *glua.LState, n int, m, arg string) time.Duration {
	num, ok := L.Get(n).(glua.LNumber)
	if !ok {
		raiseArg(L, m, n, arg, "number expected, got %s", typeName(L.Get(n)))
	}
	secs := float64(num)
	if !(secs >= 0 && secs <= 365*24*3600) { // NaN fails too
		raiseArg(L, m, n, arg, "%v is out of range [0, 31536000]", secs)
	}
	return time.Duration(secs * float64(time.Second))
}

// checkFreeID raises unless id is free among the sockets the broker holds
// for task.
func (v *vm) checkFreeID(L *glua.LState, m, task, id string) {
	if v.engine.broker.AllSockets(task)[id] != nil {
		raiseArg(L, m, 2, "socketId", "%q is already held by the broker for task %q", id, task)
	}
}

// transfer hands sock to the broker for task. It runs under the state's
// lock: the broker only waits for a stream's reads and writes in flight
// to end, which needs no lock of the worker's.
func (v *vm) transfer(sock any, task, id string, data []byte, keepAlive time.Duration) error {
	b := v.engine.broker
	if err := b.EnableTransferOwnership(sock, task); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), transferTimeout)
	defer cancel()
	return b.TransferOwnership(ctx, sock, id, data, keepAlive)
}

// lCCT is a ControlChannelTrigger as one worker sees it.
type lCCT struct {
	v                      *vm
	c                      *trigger.ControlChannelTrigger
	ud                     *glua.LUserData
	keepAlive, push, reset *glua.LUserData
	transport              glua.LValue // the Lua object given to UsingTransport; guarded by v.mu
}

// Close implements io.Closer for the worker's owned set.
func (l *lCCT) Close() error { return l.c.Close() }

// newControlChannelTrigger is ControlChannelTrigger.new(channelId,
// serverKeepAliveIntervalInMinutes [, resourceType]).
func (v *vm) newControlChannelTrigger(L *glua.LState) int {
	const m = "ControlChannelTrigger.new"
	id := argString(L, 1, m, "channelId")
	minutes := argMinutes(L, 2, m)
	res := trigger.ControlChannelTriggerResourceType(optInt(L, 3, m, "resourceType", 0, 1, 0))
	c, err := v.engine.broker.NewControlChannelTrigger(id, minutes, res)
	if err != nil {
		raiseError(L, err)
	}
	l := &lCCT{v: v, c: c, transport: glua.LNil}
	l.ud = newObject(L, cctClass, l)
	details := newObject(L, cctDetailsClass, l.ud)
	conv := func(*glua.LState, *trigger.ControlChannelTriggerEventDetails) glua.LValue { return details }
	l.keepAlive = newObject(L, eventClass, bindEvent(v, "ControlChannelTrigger.KeepAliveTrigger", c.KeepAliveTrigger(), l.ud, conv, nil))
	l.push = newObject(L, eventClass, bindEvent(v, "ControlChannelTrigger.PushNotificationTrigger", c.PushNotificationTrigger(), l.ud, conv, nil))
	l.reset = newObject(L, eventClass, bindEvent(v, "ControlChannelTrigger.ResetTrigger", c.ResetTrigger(), l.ud,
		func(L *glua.LState, d *trigger.ControlChannelTriggerResetEventDetails) glua.LValue {
			return newObject(L, cctResetClass, &lCCTReset{cct: l.ud, err: d.Err})
		}, nil))
	v.owned.add(l)
	L.Push(l.ud)
	return 1
}

// argMinutes returns argument n as an interval in minutes; the runtime
// checks its range.
func argMinutes(L *glua.LState, n int, m string) float64 {
	num, ok := L.Get(n).(glua.LNumber)
	if !ok {
		raiseArg(L, m, n, "serverKeepAliveIntervalInMinutes", "number expected, got %s", typeName(L.Get(n)))
	}
	f := float64(num)
	if math.IsNaN(f) || f <= 0 || f > trigger.MaxServerKeepAliveIntervalInMinutes {
		raiseArg(L, m, n, "serverKeepAliveIntervalInMinutes", "%v is out of range (0, %d]", f, trigger.MaxServerKeepAliveIntervalInMinutes)
	}
	return f
}

var cctClass = &class{
	name: "ControlChannelTrigger",
	methods: map[string]glua.LGFunction{
		"UsingTransport": func(L *glua.LState) int {
			const m = "ControlChannelTrigger:UsingTransport"
			l := self[*lCCT](L, m)
			var obj any
			if ud, ok := L.Get(2).(*glua.LUserData); ok {
				switch t := ud.Value.(type) {
				case *lStreamSocket:
					t.checkNotUpgraded(L, m)
					obj = t.s
				case *lWebSocket:
					switch c := t.conn.(type) {
					case *websocket.MessageWebSocket, *websocket.StreamWebSocket:
						obj = c
					}
				}
			}
			if obj == nil {
				raiseArg(L, m, 2, "transport", "a StreamSocket, MessageWebSocket or StreamWebSocket expected, got %s", typeName(L.Get(2)))
			}
			if err := l.c.UsingTransport(obj); err != nil {
				raiseError(L, err)
			}
			l.transport = L.Get(2)
			return 0
		},
		"WaitForPushEnabled": func(L *glua.LState) int {
			l := self[*lCCT](L, "ControlChannelTrigger:WaitForPushEnabled")
			st, err := l.c.WaitForPushEnabled()
			if err != nil {
				raiseError(L, err)
			}
			L.Push(glua.LNumber(st))
			return 1
		},
		"DecreaseNetworkKeepAliveInterval": func(L *glua.LState) int {
			self[*lCCT](L, "ControlChannelTrigger:DecreaseNetworkKeepAliveInterval").c.DecreaseNetworkKeepAliveInterval()
			return 0
		},
		// FlushTransport returns an operation: the flush waits for the
		// transport's writes, which must not hold the state's lock.
		"FlushTransport": func(L *glua.LState) int {
			const m = "ControlChannelTrigger:FlushTransport"
			l := self[*lCCT](L, m)
			op := l.v.startCtxLocked(L, m, func(ctx context.Context) (func(*glua.LState) []glua.LValue, error) {
				return nil, l.c.FlushTransport(ctx)
			})
			L.Push(op.ud)
			return 1
		},
		"Close": func(L *glua.LState) int {
			l := self[*lCCT](L, "ControlChannelTrigger:Close")
			l.v.owned.remove(l)
			l.c.Close()
			return 0
		},
	},
	getters: map[string]getter{
		"ControlChannelTriggerId": func(L *glua.LState, o any) glua.LValue {
			return glua.LString(o.(*lCCT).c.ControlChannelTriggerID())
		},
		"ServerKeepAliveIntervalInMinutes": func(L *glua.LState, o any) glua.LValue {
			return glua.LNumber(o.(*lCCT).c.ServerKeepAliveIntervalInMinutes())
		},
		"CurrentKeepAliveIntervalInMinutes": func(L *glua.LState, o any) glua.LValue {
			return glua.LNumber(o.(*lCCT).c.CurrentKeepAliveIntervalInMinutes())
		},
		"IsWakeFromLowPowerSupported": func(L *glua.LState, o any) glua.LValue {
			return glua.LBool(o.(*lCCT).c.IsWakeFromLowPowerSupported())
		},
		"TransportObject":         func(L *glua.LState, o any) glua.LValue { return o.(*lCCT).transport },
		"Status":                  func(L *glua.LState, o any) glua.LValue { return glua.LNumber(o.(*lCCT).c.Status()) },
		"KeepAliveTrigger":        func(L *glua.LState, o any) glua.LValue { return o.(*lCCT).keepAlive },
		"PushNotificationTrigger": func(L *glua.LState, o any) glua.LValue { return o.(*lCCT).push },
		"ResetTrigger":            func(L *glua.LState, o any) glua.LValue { return o.(*lCCT).reset },
	},
	setters: map[string]setter{
		"ServerKeepAliveIntervalInMinutes": func(L *glua.LState, o any, val glua.LValue) {
			const m = "ControlChannelTrigger.ServerKeepAliveIntervalInMinutes"
			num, ok := val.(glua.LNumber)
			if !ok {
				raiseArg(L, m, 1, "value", "number expected, got %s", typeName(val))
			}
			if err := o.(*lCCT).c.SetServerKeepAliveIntervalInMinutes(float64(num)); err != nil {
				raiseError(L, err)
			}
		},
	},
	tostring: func(o any) string { return "ControlChannelTrigger " + o.(*lCCT).c.ControlChannelTriggerID() },
}

// cctDetailsClass is IControlChannelTriggerEventDetails, the args of
// KeepAliveTrigger and PushNotificationTrigger; its value is the
// channel's userdata.
var cctDetailsClass = &class{
	name: "ControlChannelTriggerEventDetails",
	getters: map[string]getter{
		"ControlChannelTrigger": func(L *glua.LState, o any) glua.LValue { return o.(*glua.LUserData) },
	},
}

// lCCTReset is the args of ResetTrigger.
type lCCTReset struct {
	cct *glua.LUserData
	err error
}

var cctResetClass = &class{
	name: "ControlChannelTriggerResetEventDetails",
	getters: map[string]getter{
		"ControlChannelTrigger": func(L *glua.LState, o any) glua.LValue { return o.(*lCCTReset).cct },
		"SoftwareSlotReset":     func(L *glua.LState, o any) glua.LValue { return glua.LTrue },
		"HardwareSlotReset":     func(L *glua.LState, o any) glua.LValue { return glua.LFalse },
		// Error is why the transport dropped (an error value), or nil for
		// a peer that closed it cleanly: a netrun extension.
		"Error": func(L *glua.LState, o any) glua.LValue {
			if err := o.(*lCCTReset).err; err != nil {
				return newObject(L, errorClass, toLuaError(socketerror.New("ControlChannelTrigger.ResetTrigger", "", err)))
			}
			return glua.LNil
		},
	},
}
