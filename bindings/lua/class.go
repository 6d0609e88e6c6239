package lua

import (
	"fmt"
	"math"
	"sort"
	"strings"

	glua "github.com/yuin/gopher-lua"
)

// getter reads a property of a Go object for Lua.
type getter func(L *glua.LState, self any) glua.LValue

// setter writes a property from Lua; it raises on a bad value.
type setter func(L *glua.LState, self any, v glua.LValue)

// class describes how a Go type appears in Lua: a userdata whose methods
// are called with ':' and whose properties are fields, as API.md says
// (s.Control.NoDelay = true). Classes are package-level descriptions that
// are never written after init; each state builds its own metatable from
// one.
type class struct {
	name     string
	methods  map[string]glua.LGFunction
	getters  map[string]getter
	setters  map[string]setter
	tostring func(self any) string
	// eq, if set, is __eq: whether two objects of the class are equal
	// although they are different userdata.
	eq func(a, b any) bool
}

// metatable returns the class's metatable in L, building it once per state.
func (c *class) metatable(L *glua.LState) *glua.LTable {
	// The registry key is the class's name itself: concatenating a
	// prefix here would allocate on every object made. netrun's other
	// registry keys are dotted ("netrun.loaded"), class names are not.
	key := c.name
	reg := L.Get(glua.RegistryIndex).(*glua.LTable)
	if mt, ok := reg.RawGetString(key).(*glua.LTable); ok {
		return mt
	}
	mt := L.NewTable()
	methods := L.NewTable()
	for name, fn := range c.methods {
		methods.RawSetString(name, L.NewFunction(fn))
	}
	mt.RawSetString("__index", L.NewFunction(func(L *glua.LState) int {
		ud := L.CheckUserData(1)
		key := L.CheckString(2)
		if m := methods.RawGetString(key); m != glua.LNil {
			L.Push(m)
			return 1
		}
		if g, ok := c.getters[key]; ok {
			L.Push(g(L, ud.Value))
			return 1
		}
		raiseArg(L, c.name+"."+key, 1, "key", "%s has no member %q (it has: %s)", c.name, key, c.memberList())
		return 0
	}))
	mt.RawSetString("__newindex", L.NewFunction(func(L *glua.LState) int {
		ud := L.CheckUserData(1)
		key := L.CheckString(2)
		if s, ok := c.setters[key]; ok {
			s(L, ud.Value, L.Get(3))
			return 0
		}
		if _, ok := c.getters[key]; ok {
			raiseIllegal(L, c.name+"."+key, "the property is read-only")
		}
		raiseArg(L, c.name+"."+key, 1, "key", "%s has no settable member %q", c.name, key)
		return 0
	}))
	mt.RawSetString("__tostring", L.NewFunction(func(L *glua.LState) int {
		ud := L.CheckUserData(1)
		if c.tostring != nil {
			L.Push(glua.LString(c.tostring(ud.Value)))
		} else {
			L.Push(glua.LString(fmt.Sprintf("%s: %p", c.name, ud)))
		}
		return 1
	}))
	if c.eq != nil {
		mt.RawSetString("__eq", L.NewFunction(func(L *glua.LState) int {
			a, aok := L.Get(1).(*glua.LUserData)
			b, bok := L.Get(2).(*glua.LUserData)
			L.Push(glua.LBool(aok && bok && a.Metatable == b.Metatable && c.eq(a.Value, b.Value)))
			return 1
		}))
	}
	mt.RawSetString("__name", glua.LString(c.name))
	mt.RawSetString("__methods", methods)
	reg.RawSetString(key, mt)
	return mt
}

func (c *class) memberList() string {
	var names []string
	for n := range c.methods {
		names = append(names, n)
	}
	for n := range c.getters {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// newObject wraps v as a userdata of class c.
func newObject(L *glua.LState, c *class, v any) *glua.LUserData {
	ud := L.NewUserData()
	ud.Value = v
	ud.Metatable = c.metatable(L)
	return ud
}

// check returns argument n as a T of class c, raising an error that names
// the method, the argument and the class expected.
func check[T any](L *glua.LState, n int, c *class, method, arg string) T {
	var zero T
	ud, ok := L.Get(n).(*glua.LUserData)
	if ok {
		if v, ok := ud.Value.(T); ok {
			return v
		}
	}
	raiseArg(L, method, n, arg, "%s expected, got %s", c.name, typeName(L.Get(n)))
	return zero
}

// self is check for the receiver of a method called with ':'; method is
// "Class:Method".
func self[T any](L *glua.LState, method string) T {
	ud, ok := L.Get(1).(*glua.LUserData)
	if ok {
		if v, ok := ud.Value.(T); ok {
			return v
		}
	}
	var zero T
	class, name, _ := strings.Cut(method, ":")
	raiseArg(L, method, 1, "self", "call it as obj:%s(...) on a %s, got %s", name, class, typeName(L.Get(1)))
	return zero
}

// typeName names a Lua value's type, and a netrun class by its name.
func typeName(v glua.LValue) string {
	if ud, ok := v.(*glua.LUserData); ok {
		if mt, ok := ud.Metatable.(*glua.LTable); ok {
			if n, ok := mt.RawGetString("__name").(glua.LString); ok {
				return string(n)
			}
		}
	}
	if v == nil {
		return "no value"
	}
	return v.Type().String()
}

// argString returns argument n as a string; numbers are not accepted
// silently in their place.
func argString(L *glua.LState, n int, method, arg string) string {
	if s, ok := L.Get(n).(glua.LString); ok {
		return string(s)
	}
	raiseArg(L, method, n, arg, "string expected, got %s", typeName(L.Get(n)))
	return ""
}

// optString is argString for an optional argument.
func optString(L *glua.LState, n int, method, arg, def string) string {
	if L.Get(n) == glua.LNil {
		return def
	}
	return argString(L, n, method, arg)
}

// argInt returns argument n as an integer in [lo, hi].
func argInt(L *glua.LState, n int, method, arg string, lo, hi int64) int64 {
	num, ok := L.Get(n).(glua.LNumber)
	if !ok {
		raiseArg(L, method, n, arg, "number expected, got %s", typeName(L.Get(n)))
	}
	f := float64(num)
	if f != math.Trunc(f) || math.IsInf(f, 0) || math.IsNaN(f) {
		raiseArg(L, method, n, arg, "integer expected, got %v", f)
	}
	if int64(f) < lo || int64(f) > hi || f < float64(lo) || f > float64(hi) {
		raiseArg(L, method, n, arg, "%v is out of range [%d, %d]", f, lo, hi)
	}
	return int64(f)
}

// optInt is argInt for an optional argument.
func optInt(L *glua.LState, n int, method, arg string, lo, hi, def int64) int64 {
	if L.Get(n) == glua.LNil {
		return def
	}
	return argInt(L, n, method, arg, lo, hi)
}

// argBool returns argument n as a boolean.
func argBool(L *glua.LState, n int, method, arg string) bool {
	b, ok := L.Get(n).(glua.LBool)
	if !ok {
		raiseArg(L, method, n, arg, "boolean expected, got %s", typeName(L.Get(n)))
	}
	return bool(b)
}

// argFunction returns argument n as a function.
func argFunction(L *glua.LState, n int, method, arg string) *glua.LFunction {
	f, ok := L.Get(n).(*glua.LFunction)
	if !ok {
		raiseArg(L, method, n, arg, "function expected, got %s", typeName(L.Get(n)))
	}
	return f
}

// valueBool converts a property value to bool.
func valueBool(L *glua.LState, prop string, v glua.LValue) bool {
	b, ok := v.(glua.LBool)
	if !ok {
		raiseArg(L, prop, 1, "value", "boolean expected, got %s", typeName(v))
	}
	return bool(b)
}

// valueInt converts a property value to an integer in [lo, hi].
func valueInt(L *glua.LState, prop string, v glua.LValue, lo, hi int64) int64 {
	num, ok := v.(glua.LNumber)
	f := float64(num)
	if !ok || f != math.Trunc(f) || f < float64(lo) || f > float64(hi) {
		raiseArg(L, prop, 1, "value", "integer in [%d, %d] expected, got %s %s", lo, hi, typeName(v), v.String())
	}
	return int64(f)
}
