package lua

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	glua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// wrapSource is coroutine.wrap over netrun's coroutine.create.
const wrapSource = `local create, resume = ...
local function pass(ok, ...)
	if not ok then error((...), 0) end
	return ...
end
return function(f)
	local co = create(f)
	return function(...) return pass(resume(co, ...)) end
end`

// preludeSource is the Lua half of the scheduler (prelude.lua).
//
//go:embed prelude.lua
var preludeSource string

// compile parses and compiles Lua source into a prototype that any number
// of states can share: prototypes are read-only.
func compile(source, name string) (*glua.FunctionProto, error) {
	chunk, err := parse.Parse(strings.NewReader(source), name)
	if err != nil {
		return nil, err
	}
	return glua.Compile(chunk, name)
}

// openSandbox opens the libraries a script may use and installs netrun's
// scheduler functions. It opens base (without dofile, loadfile, module and
// gopher-lua's _printregs; with print, collectgarbage and require replaced),
// table, string, math and coroutine; never io, os, debug or channel.
func (v *vm) openSandbox(prelude *glua.FunctionProto) error {
	L := v.L
	for _, lib := range []struct {
		name string
		fn   glua.LGFunction
	}{
		{glua.BaseLibName, glua.OpenBase},
		{glua.TabLibName, glua.OpenTable},
		{glua.StringLibName, glua.OpenString},
		{glua.MathLibName, glua.OpenMath},
		{glua.CoroutineLibName, glua.OpenCoroutine},
	} {
		L.Push(L.NewFunction(lib.fn))
		L.Push(glua.LString(lib.name))
		L.Call(1, 0)
	}
	for _, name := range []string{"dofile", "loadfile", "module", "_printregs", "require", "newproxy"} {
		L.SetGlobal(name, glua.LNil)
	}
	L.SetGlobal("print", L.NewFunction(v.print))
	L.SetGlobal("collectgarbage", L.NewFunction(func(L *glua.LState) int {
		// gopher-lua runs the whole Go collector here; a script must not
		// be able to stall the host with it.
		L.Push(glua.LNumber(0))
		return 1
	}))
	L.SetGlobal("require", L.NewFunction(v.require))
	v.wrapCoroutineCreate()

	gopcall := L.GetGlobal("pcall")
	co := L.GetField(L.GetGlobal(glua.CoroutineLibName), "create")
	cores := L.GetField(L.GetGlobal(glua.CoroutineLibName), "resume")
	coyield := L.GetField(L.GetGlobal(glua.CoroutineLibName), "yield")
	costatus := L.GetField(L.GetGlobal(glua.CoroutineLibName), "status")
	L.Push(L.NewFunctionFromProto(prelude))
	L.Push(v.idleTag)
	L.Push(L.NewFunction(opWait))
	L.Push(L.NewFunction(opResults))
	L.Push(L.NewFunction(v.markPassThrough))
	L.Push(L.NewFunction(v.unmarkPassThrough))
	L.Push(co)
	L.Push(cores)
	L.Push(coyield)
	L.Push(costatus)
	L.Push(L.NewFunction(func(L *glua.LState) int {
		f, ok := L.Get(1).(*glua.LFunction)
		L.Push(glua.LBool(ok && f.IsG))
		return 1
	}))
	L.Push(gopcall)
	if err := L.PCall(11, 5, nil); err != nil {
		return fmt.Errorf("netrun prelude: %w", err)
	}
	v.runner = L.Get(-5).(*glua.LFunction)
	v.await = L.Get(-4).(*glua.LFunction)
	L.SetGlobal("pcall", L.Get(-3))
	L.SetGlobal("xpcall", L.Get(-2))
	sleepWith := L.Get(-1)
	L.Pop(5)
	L.Push(sleepWith)
	L.Push(L.NewFunction(v.sleepAsync))
	L.Call(1, 1)
	v.sleep = L.Get(-1)
	L.Pop(1)
	operationClass.metatable(L).RawGetString("__methods").(*glua.LTable).RawSetString("await", v.await)
	return nil
}

// wrapCoroutineCreate makes coroutine.create and coroutine.wrap give their
// coroutines the worker's budget, so that a runaway loop inside one is
// stopped too.
func (v *vm) wrapCoroutineCreate() {
	L := v.L
	co := L.GetGlobal(glua.CoroutineLibName).(*glua.LTable)
	create := co.RawGetString("create")
	resume := co.RawGetString("resume")
	newCreate := L.NewFunction(func(L *glua.LState) int {
		L.Push(create)
		L.Push(L.Get(1))
		L.Call(1, 1)
		if th, ok := L.Get(-1).(*glua.LState); ok {
			v.checkBudget(th)
		}
		return 1
	})
	co.RawSetString("create", newCreate)
	// wrap, rebuilt on create so that it gets the budget as well.
	L.Push(L.NewFunctionFromProto(v.engine.wrapProto))
	L.Push(newCreate)
	L.Push(resume)
	L.Call(2, 1)
	co.RawSetString("wrap", L.Get(-1))
	L.Pop(1)
}

func (v *vm) markPassThrough(L *glua.LState) int {
	th := L.CheckThread(1)
	v.passThrough[th] = struct{}{}
	v.checkBudget(th)
	return 0
}

// checkBudget makes a coroutine created inside a task check the worker's
// budget: gopher-lua gives it a context derived from its creator's, which
// never ends since a budget's Done is nil until tripped.
func (v *vm) checkBudget(th *glua.LState) {
	if v.budget > 0 {
		th.SetContext(v.budgetNow.Load())
	}
}

func (v *vm) unmarkPassThrough(L *glua.LState) int {
	delete(v.passThrough, L.CheckThread(1))
	return 0
}

// print writes its arguments, converted with tostring and separated by
// tabs, as one line on the host's stdout.
func (v *vm) print(L *glua.LState) int {
	var b strings.Builder
	top := L.GetTop()
	tostring := L.GetGlobal("tostring")
	for i := 1; i <= top; i++ {
		if i > 1 {
			b.WriteByte('\t')
		}
		L.Push(tostring)
		L.Push(L.Get(i))
		L.Call(1, 1)
		b.WriteString(L.ToString(-1))
		L.Pop(1)
	}
	b.WriteByte('\n')
	v.stdout.Write([]byte(b.String()))
	return 0
}

// moduleName is what require accepts: dotted names of letters, digits,
// '_' and '-'. No path can escape the scripts folder.
var moduleName = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)

// require loads "netrun", or a module from the scripts folder
// (a.b → <dir>/a/b.lua), running its chunk once per state. A module's top
// level must not await.
func (v *vm) require(L *glua.LState) int {
	name := L.CheckString(1)
	loaded := v.loadedTable()
	if m := L.GetField(loaded, name); m != glua.LNil {
		L.Push(m)
		return 1
	}
	if name == "netrun" {
		m := v.netrunModule()
		L.SetField(loaded, name, m)
		L.Push(m)
		return 1
	}
	if !moduleName.MatchString(name) {
		raiseArg(L, "require", 1, "name", "module %q: only letters, digits, '_', '-' and dots are allowed", name)
	}
	dir := v.engine.scriptsDir(v)
	path := filepath.Join(dir, filepath.FromSlash(strings.ReplaceAll(name, ".", "/"))+".lua")
	src, err := os.ReadFile(path)
	if err != nil {
		L.RaiseError("require %q: no module at %s", name, path)
	}
	proto, err := v.engine.compileCached(path, src)
	if err != nil {
		L.RaiseError("require %q: %v", name, err)
	}
	L.Push(L.NewFunctionFromProto(proto))
	L.Push(glua.LString(name))
	L.Call(1, 1)
	m := L.Get(-1)
	if m == glua.LNil {
		m = glua.LTrue
	}
	L.SetField(loaded, name, m)
	L.Push(m)
	return 1
}

// loadedTable is the per-state table of loaded modules, kept in the
// registry, not in a global a script could replace.
func (v *vm) loadedTable() *glua.LTable {
	const key = "netrun.loaded"
	reg := v.L.Get(glua.RegistryIndex).(*glua.LTable)
	if t, ok := reg.RawGetString(key).(*glua.LTable); ok {
		return t
	}
	t := v.L.NewTable()
	reg.RawSetString(key, t)
	return t
}
