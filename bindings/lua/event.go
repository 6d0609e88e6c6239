package lua

import (
	glua "github.com/yuin/gopher-lua"

	"github.com/netrun/netrun/runtime/event"
)

// luaEvent is an event as Lua sees it: obj.EventName:add(fn) returns a
// token, obj.EventName:remove(token) removes the handler.
type luaEvent struct {
	name   string
	add    func(fn *glua.LFunction) event.Token
	remove func(event.Token) bool
}

var eventClass = &class{
	name: "Event",
	methods: map[string]glua.LGFunction{
		"add": func(L *glua.LState) int {
			e := self[*luaEvent](L, "Event:add")
			fn := argFunction(L, 2, e.name+":add", "handler")
			L.Push(glua.LNumber(e.add(fn)))
			return 1
		},
		"remove": func(L *glua.LState) int {
			e := self[*luaEvent](L, "Event:remove")
			tok := argInt(L, 2, e.name+":remove", "token", 0, 1<<53)
			L.Push(glua.LBool(e.remove(event.Token(tok))))
			return 1
		},
	},
	tostring: func(o any) string { return "Event " + o.(*luaEvent).name },
}

// bindEvent projects a runtime event into Lua. Each Lua handler runs as a
// task of v with (sender, args), where conv builds args under the state's
// lock, while the runtime's event arguments are still valid. If the worker
// has stopped, dropped is called with the arguments so that nothing they
// hold (an accepted socket) is left open.
func bindEvent[A any](v *vm, name string, ev *event.Event[A], sender glua.LValue,
	conv func(L *glua.LState, a A) glua.LValue, dropped func(A)) *luaEvent {
	return bindEventFrom(v, nil, name, ev, sender, conv, dropped)
}

// bindEventFrom is bindEvent for an event that source raises on a
// goroutine of its own (see vm.eventSource).
func bindEventFrom[A any](v *vm, source any, name string, ev *event.Event[A], sender glua.LValue,
	conv func(L *glua.LState, a A) glua.LValue, dropped func(A)) *luaEvent {
	return &luaEvent{
		name: name,
		add: func(fn *glua.LFunction) event.Token {
			return ev.Add(func(a A) {
				ok := v.raise(source, fn, func() []glua.LValue { return []glua.LValue{sender, conv(v.L, a)} })
				if !ok && dropped != nil {
					dropped(a)
				}
			})
		},
		remove: ev.Remove,
	}
}
