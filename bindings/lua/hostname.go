package lua

import (
	glua "github.com/yuin/gopher-lua"

	"github.com/netrun/netrun/runtime/networking"
)

var hostNameClass = &class{
	name: "HostName",
	methods: map[string]glua.LGFunction{
		"IsEqual": func(L *glua.LState) int {
			h := self[*networking.HostName](L, "HostName:IsEqual")
			L.Push(glua.LBool(h.IsEqual(argHostName(L, 2, "HostName:IsEqual", "hostName"))))
			return 1
		},
		"ToString": func(L *glua.LState) int {
			L.Push(glua.LString(self[*networking.HostName](L, "HostName:ToString").String()))
			return 1
		},
	},
	getters: map[string]getter{
		"Type":          func(L *glua.LState, o any) glua.LValue { return glua.LNumber(o.(*networking.HostName).Type()) },
		"CanonicalName": func(L *glua.LState, o any) glua.LValue { return glua.LString(o.(*networking.HostName).CanonicalName()) },
		"DisplayName":   func(L *glua.LState, o any) glua.LValue { return glua.LString(o.(*networking.HostName).DisplayName()) },
		"RawName":       func(L *glua.LState, o any) glua.LValue { return glua.LString(o.(*networking.HostName).RawName()) },
		"IPInformation": func(L *glua.LState, o any) glua.LValue { return glua.LNil },
	},
	tostring: func(o any) string { return o.(*networking.HostName).String() },
}

// argHostName returns argument n as a HostName: a HostName object, or a
// string parsed as one (API.md: a HostName parameter also accepts a
// string). A malformed string is E_INVALIDARG naming the argument.
func argHostName(L *glua.LState, n int, method, arg string) *networking.HostName {
	switch v := L.Get(n).(type) {
	case glua.LString:
		h, err := networking.NewHostName(string(v))
		if err != nil {
			raiseArg(L, method, n, arg, "%v", err)
		}
		return h
	case *glua.LUserData:
		if h, ok := v.Value.(*networking.HostName); ok {
			return h
		}
	}
	raiseArg(L, method, n, arg, "HostName or string expected, got %s", typeName(L.Get(n)))
	return nil
}

// hostNameValue converts a HostName (possibly nil) for Lua.
func hostNameValue(L *glua.LState, h *networking.HostName) glua.LValue {
	if h == nil {
		return glua.LNil
	}
	return newObject(L, hostNameClass, h)
}

func hostNameModule(L *glua.LState) *glua.LTable {
	t := L.NewTable()
	t.RawSetString("new", L.NewFunction(func(L *glua.LState) int {
		s := argString(L, 1, "HostName.new", "hostName")
		h, err := networking.NewHostName(s)
		if err != nil {
			raiseArg(L, "HostName.new", 1, "hostName", "%v", err)
		}
		L.Push(newObject(L, hostNameClass, h))
		return 1
	}))
	t.RawSetString("Compare", L.NewFunction(func(L *glua.LState) int {
		a := argString(L, 1, "HostName.Compare", "value1")
		b := argString(L, 2, "HostName.Compare", "value2")
		c, err := networking.Compare(a, b)
		if err != nil {
			raiseError(L, err)
		}
		L.Push(glua.LNumber(c))
		return 1
	}))
	return t
}

// endpointPair is EndpointPair in Lua: a mutable value, as in WinRT.
type endpointPair struct{ p networking.EndpointPair }

var endpointPairClass = &class{
	name: "EndpointPair",
	getters: map[string]getter{
		"LocalHostName":     func(L *glua.LState, o any) glua.LValue { return hostNameValue(L, o.(*endpointPair).p.LocalHostName) },
		"LocalServiceName":  func(L *glua.LState, o any) glua.LValue { return glua.LString(o.(*endpointPair).p.LocalServiceName) },
		"RemoteHostName":    func(L *glua.LState, o any) glua.LValue { return hostNameValue(L, o.(*endpointPair).p.RemoteHostName) },
		"RemoteServiceName": func(L *glua.LState, o any) glua.LValue { return glua.LString(o.(*endpointPair).p.RemoteServiceName) },
	},
	setters: map[string]setter{
		"LocalHostName": func(L *glua.LState, o any, v glua.LValue) {
			o.(*endpointPair).p.LocalHostName = optHostNameValue(L, "EndpointPair.LocalHostName", v)
		},
		"LocalServiceName": func(L *glua.LState, o any, v glua.LValue) {
			o.(*endpointPair).p.LocalServiceName = stringValue(L, "EndpointPair.LocalServiceName", v)
		},
		"RemoteHostName": func(L *glua.LState, o any, v glua.LValue) {
			o.(*endpointPair).p.RemoteHostName = optHostNameValue(L, "EndpointPair.RemoteHostName", v)
		},
		"RemoteServiceName": func(L *glua.LState, o any, v glua.LValue) {
			o.(*endpointPair).p.RemoteServiceName = stringValue(L, "EndpointPair.RemoteServiceName", v)
		},
	},
	tostring: func(o any) string { return o.(*endpointPair).p.String() },
}

func optHostNameValue(L *glua.LState, prop string, v glua.LValue) *networking.HostName {
	if v == glua.LNil {
		return nil
	}
	L.Push(v)
	h := argHostName(L, L.GetTop(), prop, "value")
	L.Pop(1)
	return h
}

func stringValue(L *glua.LState, prop string, v glua.LValue) string {
	s, ok := v.(glua.LString)
	if !ok {
		raiseArg(L, prop, 1, "value", "string expected, got %s", typeName(v))
	}
	return string(s)
}

func endpointPairModule(L *glua.LState) *glua.LTable {
	t := L.NewTable()
	t.RawSetString("new", L.NewFunction(func(L *glua.LState) int {
		const m = "EndpointPair.new"
		var p networking.EndpointPair
		if L.Get(1) != glua.LNil {
			p.LocalHostName = argHostName(L, 1, m, "localHostName")
		}
		p.LocalServiceName = optString(L, 2, m, "localServiceName", "")
		p.RemoteHostName = argHostName(L, 3, m, "remoteHostName")
		p.RemoteServiceName = argString(L, 4, m, "remoteServiceName")
		L.Push(newObject(L, endpointPairClass, &endpointPair{p}))
		return 1
	}))
	return t
}

// endpointPairsValue converts resolved endpoint pairs into a Lua array.
func endpointPairsValue(L *glua.LState, pairs []networking.EndpointPair) glua.LValue {
	t := L.CreateTable(len(pairs), 0)
	for _, p := range pairs {
		t.Append(newObject(L, endpointPairClass, &endpointPair{p}))
	}
	return t
}
