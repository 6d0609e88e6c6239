package lua

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	glua "github.com/yuin/gopher-lua"

	"github.com/netrun/netrun/runtime/host"
	"github.com/netrun/netrun/runtime/sockets"
	"github.com/netrun/netrun/runtime/trigger"
)

// Engine runs Lua scripts: it compiles them (once per file content, shared
// by every worker), starts script versions and lets them share listening
// sockets. One Engine serves a whole host. Its methods are safe for
// concurrent use.
type Engine struct {
	log    *slog.Logger
	stdout io.Writer
	budget time.Duration

	prelude   *glua.FunctionProto
	wrapProto *glua.FunctionProto
	hub       listenerHub
	dgrams    datagramHub
	parker    parker
	broker    *trigger.Broker

	mu     sync.Mutex
	protos map[string]compiled // path → last compiled content
	gen    int
	extras []func(v *vm, L *glua.LState) map[string]glua.LValue
}

type compiled struct {
	src   []byte
	proto *glua.FunctionProto
}

// EngineOptions configures an Engine. The zero value works: logs to
// slog.Default, print to os.Stdout, a one-second CPU budget.
type EngineOptions struct {
	// Logger receives the scripts' errors and the engine's logs.
	Logger *slog.Logger
	// Stdout receives print output, one write per line.
	Stdout io.Writer
	// CPUBudget is how long one handler may run before it is stopped
	// with an error; 0 means one second, a negative value means no
	// limit.
	CPUBudget time.Duration
	// Broker is the host's socket broker, which scripts transfer sockets
	// to and whose triggers they receive; it outlives every script
	// version, so a reload's new version finds what the old one
	// transferred. nil makes one for the engine alone, which is never
	// closed: give one when scripts transfer sockets and something must
	// close them at the end.
	Broker *trigger.Broker
}

// NewEngine returns an Engine.
func NewEngine(opts EngineOptions) (*Engine, error) {
	e := &Engine{log: opts.Logger, stdout: opts.Stdout, budget: opts.CPUBudget, broker: opts.Broker, protos: map[string]compiled{}}
	if e.log == nil {
		e.log = slog.Default()
	}
	if e.broker == nil {
		e.broker = trigger.NewBroker(trigger.Options{Logger: e.log})
	}
	if e.stdout == nil {
		e.stdout = os.Stdout
	}
	e.stdout = &lineWriter{w: e.stdout}
	e.parker = parker{log: e.log, epfd: -1, wakefd: -1}
	switch {
	case e.budget == 0:
		e.budget = time.Second
	case e.budget < 0:
		e.budget = 0
	}
	p, err := compile(preludeSource, "netrun-prelude")
	if err != nil {
		return nil, err
	}
	e.prelude = p
	if e.wrapProto, err = compile(wrapSource, "netrun-coroutine-wrap"); err != nil {
		return nil, err
	}
	return e, nil
}

// lineWriter serialises writes, so lines printed by different workers
// never interleave.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// compileCached compiles src for path, reusing the last result for the
// same content.
func (e *Engine) compileCached(path string, src []byte) (*glua.FunctionProto, error) {
	e.mu.Lock()
	c, ok := e.protos[path]
	e.mu.Unlock()
	if ok && bytes.Equal(c.src, src) {
		return c.proto, nil
	}
	proto, err := compile(string(src), path)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.protos[path] = compiled{src: src, proto: proto}
	e.mu.Unlock()
	return proto, nil
}

func (e *Engine) scriptsDir(v *vm) string { return v.dir }

func (e *Engine) extraModules(v *vm, L *glua.LState) map[string]glua.LValue {
	out := map[string]glua.LValue{}
	for _, f := range e.extras {
		for k, m := range f(v, L) {
			out[k] = m
		}
	}
	return out
}

// ScriptOptions configures one version of a script.
type ScriptOptions struct {
	// Workers is how many independent states run the script; 0 means 1.
	Workers int
	// Env gives the script's sockets their resolver and capabilities.
	Env *sockets.Env
	// State is the netrun.state each worker starts with, as taken from
	// the previous version by State; nil starts empty.
	State []any
}

// Script is one version of a script running in its workers.
type Script struct {
	// Name is the script's task id: its file name without ".lua".
	Name string
	// Path is the script file.
	Path string

	engine     *Engine
	generation int
	workers    []*vm
}

// LoadError is a script that could not be loaded: it did not compile, or
// its main chunk raised before its first await. It names file:line.
type LoadError struct {
	Path string
	Err  error
}

func (e *LoadError) Error() string { return e.Err.Error() }
func (e *LoadError) Unwrap() error { return e.Err }

// Start compiles the script at path and runs it in opts.Workers workers.
// If the script does not compile, or its main chunk fails before its first
// await, Start stops what it started and returns a *LoadError naming
// file:line; nothing of it keeps running.
func (e *Engine) Start(path string, opts ScriptOptions) (*Script, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	src, err := os.ReadFile(abs)
	if err != nil {
		return nil, &LoadError{Path: abs, Err: err}
	}
	proto, err := e.compileCached(abs, src)
	if err != nil {
		return nil, &LoadError{Path: abs, Err: err}
	}
	e.mu.Lock()
	e.gen++
	gen := e.gen
	e.mu.Unlock()
	s := &Script{Name: strings.TrimSuffix(filepath.Base(abs), ".lua"), Path: abs, engine: e, generation: gen}
	n := max(opts.Workers, 1)
	for i := 0; i < n; i++ {
		v := newVM(vmConfig{name: s.Name, env: opts.Env, log: e.log.With("script", s.Name, "worker", i),
			stdout: e.stdout, budget: e.budget, engine: e})
		v.script, v.generation, v.dir = s.Name, gen, filepath.Dir(abs)
		var state any
		if i < len(opts.State) {
			state = opts.State[i]
		} else if len(opts.State) > 0 {
			state = opts.State[0]
		}
		if err := v.init(state); err != nil {
			v.close()
			s.Stop()
			return nil, &LoadError{Path: abs, Err: err}
		}
		s.workers = append(s.workers, v)
		if err := v.runMain(v.L.NewFunctionFromProto(proto)); err != nil {
			s.Stop()
			return nil, &LoadError{Path: abs, Err: err}
		}
	}
	return s, nil
}

// Stop stops every worker at once, closing the sockets they own.
func (s *Script) Stop() {
	for _, v := range s.workers {
		v.close()
	}
}

// Drain waits until the workers own no open socket other than listeners,
// or ctx ends, then stops them. A reload drains the old version this way:
// its connections finish under the old code.
func (s *Script) Drain(ctx context.Context) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for !s.idle() {
		select {
		case <-ctx.Done():
			s.Stop()
			return
		case <-t.C:
		}
	}
	s.Stop()
}

func (s *Script) idle() bool {
	for _, v := range s.workers {
		if v.owned.connections() > 0 {
			return false
		}
	}
	return true
}

// State returns each worker's netrun.state as plain Go data (nil, bool,
// float64, string, map[string]any, []any), for the next version.
func (s *Script) State() []any {
	out := make([]any, len(s.workers))
	for i, v := range s.workers {
		v.mu.Lock()
		out[i] = fromLua(v.state, 0)
		v.mu.Unlock()
	}
	return out
}

// init opens the sandbox and makes netrun.state.
func (v *vm) init(state any) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.openSandbox(v.engine.prelude); err != nil {
		return err
	}
	t, ok := toLua(v.L, state).(*glua.LTable)
	if !ok {
		t = v.L.NewTable()
	}
	v.state = t
	return nil
}

// runMain runs the main chunk as the first task. An error before its first
// await is returned; its jobs then run on goroutines of the worker.
func (v *vm) runMain(fn *glua.LFunction) error {
	v.mu.Lock()
	v.failed = nil
	v.spawnLocked(fn)
	err := v.failed
	jobs := v.takeJobsLocked()
	v.mu.Unlock()
	if err != nil {
		return err
	}
	for _, j := range jobs {
		v.goDrive(j)
	}
	return nil
}

// fromLua converts plain Lua data to Go; functions, userdata and threads
// become nil, and nesting deeper than 64 is cut.
func fromLua(v glua.LValue, depth int) any {
	switch x := v.(type) {
	case glua.LBool:
		return bool(x)
	case glua.LNumber:
		return float64(x)
	case glua.LString:
		return string(x)
	case *glua.LTable:
		if depth > 64 {
			return nil
		}
		if n := x.Len(); n > 0 {
			arr := make([]any, 0, n)
			for i := 1; i <= n; i++ {
				arr = append(arr, fromLua(x.RawGetInt(i), depth+1))
			}
			return arr
		}
		m := map[string]any{}
		x.ForEach(func(k, val glua.LValue) {
			if ks, ok := k.(glua.LString); ok {
				m[string(ks)] = fromLua(val, depth+1)
			}
		})
		return m
	}
	return nil
}

// toLua is the inverse of fromLua.
func toLua(L *glua.LState, v any) glua.LValue {
	switch x := v.(type) {
	case bool:
		return glua.LBool(x)
	case float64:
		return glua.LNumber(x)
	case string:
		return glua.LString(x)
	case []any:
		t := L.CreateTable(len(x), 0)
		for _, e := range x {
			t.Append(toLua(L, e))
		}
		return t
	case map[string]any:
		t := L.CreateTable(0, len(x))
		for k, e := range x {
			t.RawSetString(k, toLua(L, e))
		}
		return t
	}
	return glua.LNil
}

// ErrorText formats a load error for the host's log.
func ErrorText(err error) string {
	var le *LoadError
	if errors.As(err, &le) {
		return fmt.Sprintf("%s: %v", le.Path, luaErrorText(le.Err))
	}
	return err.Error()
}

// *Engine is runtime/host's Kind for .lua files, and *Script its Guest:
// cmd/netrun hands the engine to the host, which starts, reloads and
// drains scripts through StartGuest.
var (
	_ host.Kind  = (*Engine)(nil)
	_ host.Guest = (*Script)(nil)
)

// StartGuest starts a version of the script at path for runtime/host, as
// Start does with opts.Workers and opts.Env. When opts.Previous is a
// version of the script (a *Script), the new version starts with its
// netrun.state, and StartGuest returns once the new version listens on
// every endpoint the previous one listens on — it then takes every new
// connection, so the previous one may drain — or once ctx ends. The
// previous version is left running. A script that fails to load returns a
// *host.LoadError, wrapping the *LoadError, with the file and line where
// the error was raised.
func (e *Engine) StartGuest(ctx context.Context, path string, opts host.GuestOptions) (host.Guest, error) {
	old, _ := opts.Previous.(*Script)
	so := ScriptOptions{Workers: opts.Workers, Env: opts.Env}
	if old != nil {
		so.State = old.State()
	}
	s, err := e.Start(path, so)
	if err != nil {
		return nil, hostLoadError(err)
	}
	if old != nil {
		s.waitTakeover(ctx, old)
	}
	return s, nil
}

// takeoverPoll is how often waitTakeover looks at the listener hub, which
// signals nothing when a subscriber joins.
const takeoverPoll = 5 * time.Millisecond

// waitTakeover waits until s listens on every endpoint old listens on, or
// ctx ends, and reports whether s does.
func (s *Script) waitTakeover(ctx context.Context, old *Script) bool {
	t := time.NewTicker(takeoverPoll)
	defer t.Stop()
	for !s.listensWhere(old) {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return true
}

// listensWhere reports whether every shared listener a worker of old
// subscribes to has a subscriber from s; the hub deals new connections to
// the newest version subscribed.
func (s *Script) listensWhere(old *Script) bool {
	h := &s.engine.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, sl := range h.entries {
		var hasOld, hasNew bool
		for _, sub := range sl.subs {
			hasOld = hasOld || sub.v.generation == old.generation
			hasNew = hasNew || sub.v.generation == s.generation
		}
		if hasOld && !hasNew {
			return false
		}
	}
	return s.engine.dgrams.takenOver(old.generation, s.generation)
}

// Positions in gopher-lua's errors: a syntax error reads "file
// line:N(column:M) near 'tok':   message", an error raised while running
// "file:N: message".
var (
	syntaxErrorPos  = regexp.MustCompile(`^(.*) line:(\d+)\(column:(\d+)\) (?s:(.*))$`)
	runtimeErrorPos = regexp.MustCompile(`^(.+?\.lua):(\d+): (?s:(.*))$`)
)

// hostLoadError converts an error of Start into a *host.LoadError with
// the position of the error, where the message has one.
func hostLoadError(err error) error {
	var le *LoadError
	if !errors.As(err, &le) {
		return err
	}
	out := &host.LoadError{File: le.Path, Err: err}
	msg := strings.TrimSpace(luaErrorText(le.Err))
	if m := syntaxErrorPos.FindStringSubmatch(msg); m != nil {
		out.File, out.Message = m[1], strings.Join(strings.Fields(m[4]), " ")
		out.Line, _ = strconv.Atoi(m[2])
		out.Column, _ = strconv.Atoi(m[3])
		return out
	}
	if m := runtimeErrorPos.FindStringSubmatch(msg); m != nil {
		out.File, out.Message = m[1], m[3]
		out.Line, _ = strconv.Atoi(m[2])
		return out
	}
	var pe *fs.PathError
	if errors.As(le.Err, &pe) {
		msg = pe.Op + ": " + pe.Err.Error()
	}
	out.Message = msg
	return out
}
