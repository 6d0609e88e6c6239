package lua

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	glua "github.com/yuin/gopher-lua"

	"github.com/netrun/netrun/runtime/sockets"
)

// Sizes of a state and of each coroutine made from it. gopher-lua raises a
// RegistrySize below 128 to 5,120 slots (about 80 KB per coroutine, which
// inherits its parent's sizes); 128 slots growing in steps of 128, with a
// call stack that grows on demand, bring a coroutine to about 3.6 KB.
const (
	registrySize     = 128
	registryMaxSize  = 64 << 10
	registryGrowStep = 128
	callStackSize    = 200
	// threadRegistrySize is the registry a coroutine starts with: NewState
	// refuses less than 128, but coroutines copy the state's Options, which
	// may be lowered after NewState. A parked connection handler needs few
	// slots; more are added in steps as needed.
	threadRegistrySize = 24
	threadGrowStep     = 32
)

// job is blocking work an operation started during a resume: it runs off
// the state's lock, then completes its operation under the lock and
// returns the jobs that completion started.
type job struct {
	run func() []job
	// quick jobs do not block for long (a UDP send) and may run on the
	// goroutine that raises socket events; others get a goroutine there.
	quick bool
}

// vm is one worker of one script version: a Lua state, the lock every
// piece of Lua code runs under, and the goroutines that run its jobs.
//
// All Lua code of the state runs with mu held, inside a coroutine: the
// main chunk and every event handler. A goroutine that completes an
// operation takes mu and resumes the waiting coroutine itself (no hop to
// another goroutine), and then runs the first job the resumed code started
// (the next read, say) without another hop.
type vm struct {
	// immutable after newVM
	L          *glua.LState
	name       string // the script's name, for logs
	env        *sockets.Env
	log        *slog.Logger
	stdout     io.Writer
	budget     time.Duration // CPU budget of one resume; 0 = unlimited
	ctx        context.Context
	stop       context.CancelFunc
	idleTag    *glua.LUserData // what a runner yields when its task is done
	runner     *glua.LFunction // the runner loop (see prelude.lua)
	await      *glua.LFunction // Operation:await
	sleep      glua.LValue     // net.sleep
	state      *glua.LTable    // netrun.state
	script     string          // the script's task id, for the listener hub
	dir        string          // the scripts folder require and certificate paths are confined to
	generation int             // the script version's number: newer versions get new connections
	engine     *Engine

	mu      sync.Mutex // the state's lock; guards the fields below and all Lua values
	current *glua.LState
	awaited bool // the current resume ended in an await
	jobs    []job
	// eventSource is the object whose event the handler being started
	// was raised by, from that object's own event goroutine; nil
	// otherwise. A write that object issues then may run on that
	// goroutine (lWebSocket.sendLocked).
	eventSource any
	idle        []*glua.LState
	closed      bool
	tasks       int // tasks started and not finished, for drain

	resumeStart atomic.Int64           // UnixNano when the running resume began; 0 when idle
	budgetNow   atomic.Pointer[budget] // the budget coroutines check; the watchdog trips it
	wg          sync.WaitGroup
	owned       ownedSet
	passThrough map[*glua.LState]struct{} // pcall's child coroutines; guarded by mu
	peers       peerCache                 // names of recent datagram senders; guarded by mu
	failed      error                     // the last task error, for runMain; guarded by mu
}

// vmConfig configures a new vm.
type vmConfig struct {
	name   string
	env    *sockets.Env
	log    *slog.Logger
	stdout io.Writer
	budget time.Duration
	engine *Engine
}

func newVM(cfg vmConfig) *vm {
	L := glua.NewState(glua.Options{
		SkipOpenLibs:        true,
		RegistrySize:        registrySize,
		RegistryMaxSize:     registryMaxSize,
		RegistryGrowStep:    registryGrowStep,
		CallStackSize:       callStackSize,
		MinimizeStackMemory: true,
	})
	L.Options.RegistrySize = threadRegistrySize
	L.Options.RegistryGrowStep = threadGrowStep
	ctx, stop := context.WithCancel(context.Background())
	v := &vm{L: L, name: cfg.name, env: cfg.env, log: cfg.log, stdout: cfg.stdout,
		budget: cfg.budget, ctx: ctx, stop: stop, engine: cfg.engine,
		passThrough: map[*glua.LState]struct{}{}}
	if v.log == nil {
		v.log = slog.Default()
	}
	if v.stdout == nil {
		v.stdout = io.Discard
	}
	v.idleTag = L.NewUserData()
	v.budgetNow.Store(&budget{})
	if v.budget > 0 {
		v.wg.Add(1)
		go v.watchdog()
	}
	return v
}

// watchdog stops a resume that has run past the CPU budget by cancelling
// the context every coroutine of the state checks between instructions.
func (v *vm) watchdog() {
	defer v.wg.Done()
	t := time.NewTicker(max(v.budget/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-v.ctx.Done():
			return
		case <-t.C:
		}
		if start := v.resumeStart.Load(); start != 0 && time.Since(time.Unix(0, start)) > v.budget {
			v.budgetNow.Load().trip() // the running coroutine raises at its next instruction
		}
	}
}

// spawnLocked runs fn(args...) as a new task on an idle runner coroutine.
// v.mu must be held.
func (v *vm) spawnLocked(fn glua.LValue, args ...glua.LValue) {
	if v.closed {
		return
	}
	if v.current != nil {
		// Never resume inside a resume: start the task when this one
		// yields.
		args = append([]glua.LValue(nil), args...)
		v.addJobLocked(job{quick: true, run: func() []job {
			v.mu.Lock()
			defer v.mu.Unlock()
			v.spawnLocked(fn, args...)
			return v.takeJobsLocked()
		}})
		return
	}
	var co *glua.LState
	if n := len(v.idle); n > 0 {
		co = v.idle[n-1]
		v.idle = v.idle[:n-1]
	} else {
		co, _ = v.L.NewThread()
		// Start the runner: it yields idle at once, ready for work.
		v.resumeLocked(co, v.runner)
		if len(v.idle) == 0 || v.idle[len(v.idle)-1] != co {
			return // the runner failed to start; resumeLocked logged it
		}
		v.idle = v.idle[:len(v.idle)-1]
	}
	v.tasks++
	var a [5]glua.LValue
	a[0] = fn
	n := copy(a[1:], args)
	v.resumeLocked(co, nil, a[:1+n]...)
}

// resumeLocked resumes co with args and files it by how it stopped: back to
// the idle runners, waiting on an operation, rescheduled after a plain
// yield, or dead after an error. v.mu must be held.
func (v *vm) resumeLocked(co *glua.LState, fn *glua.LFunction, args ...glua.LValue) {
	prev, prevAwaited := v.current, v.awaited
	v.current, v.awaited = co, false
	if v.budget > 0 {
		b := v.budgetNow.Load()
		if b.tripped() && v.ctx.Err() == nil {
			b = &budget{}
			v.budgetNow.Store(b)
		}
		co.SetContext(b)
		if prev == nil {
			v.resumeStart.Store(time.Now().UnixNano())
		}
	}
	st, err, vals := v.L.Resume(co, fn, args...)
	awaited := v.awaited
	v.current, v.awaited = prev, prevAwaited
	if prev == nil {
		v.resumeStart.Store(0)
	}
	switch {
	case st == glua.ResumeError:
		if fn == nil {
			v.tasks--
		}
		if v.budget > 0 && v.budgetNow.Load().tripped() && v.ctx.Err() == nil {
			v.log.Error("handler stopped: it ran past its CPU budget", "budget", v.budget)
			v.budgetNow.Store(&budget{})
			return
		}
		v.failed = err
		if v.ctx.Err() != nil {
			// The worker is stopping: its sockets were closed under the
			// tasks' feet, which is expected, not a fault.
			v.log.Debug("task ended as the worker stopped", "err", luaErrorText(err))
			return
		}
		v.log.Error("handler failed", "err", luaErrorText(err))
	case st == glua.ResumeOK:
		v.tasks-- // a runner never returns; this was a one-off
	case len(vals) > 0 && vals[0] == v.idleTag:
		if fn == nil {
			v.tasks--
		}
		v.idle = append(v.idle, co)
	case awaited:
		// Parked on an operation, which resumes it.
	default:
		// A plain coroutine.yield() in a task: run it again soon.
		v.jobs = append(v.jobs, job{quick: true, run: func() []job {
			v.mu.Lock()
			defer v.mu.Unlock()
			v.resumeLocked(co, nil)
			return v.takeJobsLocked()
		}})
	}
}

// takeJobsLocked returns and clears the jobs started so far.
func (v *vm) takeJobsLocked() []job {
	j := v.jobs
	v.jobs = nil
	return j
}

// addJobLocked queues blocking work for when the current resume ends.
func (v *vm) addJobLocked(j job) { v.jobs = append(v.jobs, j) }

// drive runs jobs: the first on this goroutine, the others each on a
// goroutine of its own, and then whatever the first one started, until
// nothing is left. A goroutine driving a connection thus reads, resumes
// the handler and reads again without a hop.
func (v *vm) drive(jobs []job) {
	for len(jobs) > 0 {
		for _, j := range jobs[1:] {
			v.goDrive(j)
		}
		jobs = jobs[0].run()
	}
}

func (v *vm) goDrive(j job) {
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		v.drive([]job{j})
	}()
}

// goDriveIfOpen is goDrive for callers outside the worker's own
// goroutines (the parker): it does nothing once the worker has stopped.
func (v *vm) goDriveIfOpen(j job) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.closed {
		v.goDrive(j)
	}
}

// dispatch runs jobs started by Lua code that ran on a goroutine that is
// not ours to block (an accept or receive loop): quick jobs run here,
// the rest on goroutines of their own.
func (v *vm) dispatch(jobs []job) {
	var slow []job
	for len(jobs) > 0 {
		var next []job
		for _, j := range jobs {
			if j.quick {
				next = append(next, j.run()...)
			} else {
				slow = append(slow, j)
			}
		}
		jobs = next
	}
	for _, j := range slow {
		v.goDrive(j)
	}
}

// call runs fn(args...) as a task from a goroutine that may block on its
// jobs (the loader).
func (v *vm) call(fn glua.LValue, args ...glua.LValue) {
	v.mu.Lock()
	v.spawnLocked(fn, args...)
	jobs := v.takeJobsLocked()
	v.mu.Unlock()
	v.drive(jobs)
}

// raise runs handler(args...) as a task from a socket's event goroutine.
// source, if not nil, is the object whose goroutine that is (see
// eventSource). It reports false if the worker has stopped and ran
// nothing.
func (v *vm) raise(source any, fn glua.LValue, args func() []glua.LValue) bool {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return false
	}
	v.eventSource = source
	v.spawnLocked(fn, args()...)
	v.eventSource = nil
	jobs := v.takeJobsLocked()
	v.mu.Unlock()
	v.dispatch(jobs)
	return true
}

// close stops the state: no new task starts, the watchdog ends, the sockets
// the worker owns are closed, and close waits for its goroutines.
func (v *vm) close() {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return
	}
	v.closed = true
	v.mu.Unlock()
	v.stop() // first, so that tasks failing on closed sockets are known to be stopping
	v.budgetNow.Load().trip()
	v.engine.parker.dropVM(v)
	v.owned.closeAll()
	v.wg.Wait()
	v.mu.Lock()
	v.L.Close()
	v.mu.Unlock()
}

// luaErrorText formats a Lua error for a log line, with file:line.
func luaErrorText(err error) string {
	if aerr, ok := err.(*glua.ApiError); ok {
		if e, ok := aerr.Object.(*glua.LUserData); ok {
			if le, ok := e.Value.(*luaError); ok {
				return le.String()
			}
		}
		return aerr.Object.String()
	}
	return fmt.Sprint(err)
}
