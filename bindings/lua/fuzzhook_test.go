package lua

import (
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	glua "github.com/yuin/gopher-lua"
)

// This file gives the fuzz targets (convert_fuzz_test.go) a worker they
// can drive directly: run a chunk as a task, with the blocking work of
// the operations it starts either run or dropped, and read its results.

// FuzzWorker is one worker of a fresh engine, for a fuzz input.
type FuzzWorker struct {
	v *vm
}

// NewFuzzWorker returns a worker with the sandbox open and two test
// globals: __memstream(s), an input stream over s, and __memsink(), an
// output stream whose :bytes() returns what was stored to it.
func NewFuzzWorker(tb testing.TB) *FuzzWorker {
	e, err := NewEngine(EngineOptions{Logger: slog.New(slog.DiscardHandler), Stdout: io.Discard})
	if err != nil {
		tb.Fatal(err)
	}
	v := newVM(vmConfig{name: "fuzz", log: e.log, stdout: e.stdout, budget: e.budget, engine: e})
	v.script, v.dir = "fuzz", tb.TempDir()
	if err := v.init(nil); err != nil {
		tb.Fatal(err)
	}
	L := v.L
	L.SetGlobal("__memstream", L.NewFunction(func(L *glua.LState) int {
		L.Push(newObject(L, memInputClass, &memInput{v: v, data: []byte(L.CheckString(1))}))
		return 1
	}))
	L.SetGlobal("__memsink", L.NewFunction(func(L *glua.LState) int {
		L.Push(newObject(L, memSinkClass, &memSink{}))
		return 1
	}))
	return &FuzzWorker{v: v}
}

// memSink is an in-memory output stream: stores append to it.
type memSink struct {
	mu   sync.Mutex
	data []byte
}

func (s *memSink) store(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data = append(s.data, p...)
	return len(p), nil
}
func (s *memSink) flush() error  { return nil }
func (s *memSink) quick() bool   { return true }
func (s *memSink) cancelStore()  {}
func (s *memSink) bytes() string { s.mu.Lock(); defer s.mu.Unlock(); return string(s.data) }

var memSinkClass = &class{
	name: "MemorySink",
	methods: map[string]glua.LGFunction{
		"bytes": func(L *glua.LState) int {
			L.Push(glua.LString(self[*memSink](L, "MemorySink:bytes").bytes()))
			return 1
		},
	},
}

// Close stops the worker and closes what it made.
func (w *FuzzWorker) Close() { w.v.close() }

// Run compiles src and runs it as a task with globals set first (plain
// data, as netrun.state holds). With drive, the blocking work of the
// operations it starts runs, so awaits complete; without it, that work is
// dropped: nothing reaches the network and awaits never return.
func (w *FuzzWorker) Run(src string, globals map[string]any, drive bool) error {
	v := w.v
	proto, err := compile(src, "fuzz.lua")
	if err != nil {
		return err
	}
	v.mu.Lock()
	for k, val := range globals {
		v.L.SetGlobal(k, toLua(v.L, val))
	}
	v.failed = nil
	v.spawnLocked(v.L.NewFunctionFromProto(proto))
	jobs := v.takeJobsLocked()
	err = v.failed
	v.mu.Unlock()
	if !drive {
		return err
	}
	v.drive(jobs)
	// Work that did not run on this goroutine (there should be none for
	// streams in memory) gets a moment to finish.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		v.mu.Lock()
		tasks, failed := v.tasks, v.failed
		v.mu.Unlock()
		if tasks == 0 || time.Now().After(deadline) {
			return failed
		}
	}
}

// Global returns a global as plain data (see fromLua).
func (w *FuzzWorker) Global(name string) any {
	w.v.mu.Lock()
	defer w.v.mu.Unlock()
	return fromLua(w.v.L.GetGlobal(name), 0)
}

// FuzzError describes the error value a global holds.
type FuzzError struct {
	// Netrun reports a netrun error value (err.HResult, err.Message).
	Netrun  bool
	HResult uint32
	// Message is the error's Message, or the text of any other value.
	Message string
	// Type is the Lua type of the value.
	Type string
}

// ErrorValue describes the error value in global name.
func (w *FuzzWorker) ErrorValue(name string) FuzzError {
	w.v.mu.Lock()
	defer w.v.mu.Unlock()
	val := w.v.L.GetGlobal(name)
	if ud, ok := val.(*glua.LUserData); ok {
		if le, ok := ud.Value.(*luaError); ok {
			return FuzzError{Netrun: true, HResult: uint32(le.HResult), Message: le.Message, Type: "userdata"}
		}
	}
	return FuzzError{Message: val.String(), Type: val.Type().String()}
}

// DatagramsTakenOver reports whether every datagram socket old's workers
// share has a subscriber of new (see datagramHub.takenOver).
func DatagramsTakenOver(old, new *Script) bool {
	return datagramHubOf(new.engine).takenOver(old.generation, new.generation)
}
