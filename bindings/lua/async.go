package lua

import (
	"context"

	glua "github.com/yuin/gopher-lua"

	"github.com/netrun/netrun/runtime/socketerror"
)

// AsyncStatus is Windows.Foundation.AsyncStatus, the state of an
// operation: op.Status in Lua.
type AsyncStatus int

// The AsyncStatus values, numbered as in WinRT.
const (
	Started   AsyncStatus = 0
	Completed AsyncStatus = 1
	Canceled  AsyncStatus = 2
	Error     AsyncStatus = 3
)

// operation is what every ...Async method returns: WinRT's IAsyncOperation
// as Lua sees it. Its fields are guarded by the vm's lock.
type operation struct {
	v         *vm
	name      string
	status    AsyncStatus
	results   []glua.LValue
	err       error
	waiter    *glua.LState // the task awaiting it
	completed glua.LValue  // op.Completed handler
	cancel    func()       // asks the work to stop; nil if it cannot
	canceling bool         // op:Cancel() was called
	ud        *glua.LUserData
}

var operationClass = &class{
	name: "Operation",
	methods: map[string]glua.LGFunction{
		"Cancel":     opCancel,
		"GetResults": opResults,
	},
	getters: map[string]getter{
		"Status": func(L *glua.LState, o any) glua.LValue { return glua.LNumber(o.(*operation).status) },
		"ErrorCode": func(L *glua.LState, o any) glua.LValue {
			op := o.(*operation)
			if op.err == nil {
				return glua.LNil
			}
			return newObject(L, errorClass, toLuaError(op.err))
		},
		"Completed": func(L *glua.LState, o any) glua.LValue {
			if c := o.(*operation).completed; c != nil {
				return c
			}
			return glua.LNil
		},
	},
	setters: map[string]setter{
		"Completed": func(L *glua.LState, o any, val glua.LValue) {
			op := o.(*operation)
			fn, ok := val.(*glua.LFunction)
			if !ok {
				raiseArg(L, "Operation.Completed", 1, "value", "function expected, got %s", typeName(val))
			}
			if op.completed != nil {
				raiseIllegal(L, "Operation.Completed", "a Completed handler is already set")
			}
			op.completed = fn
			if op.status != Started {
				op.v.spawnLocked(fn, op.ud, glua.LNumber(op.status))
			}
		},
	},
	tostring: func(o any) string {
		op := o.(*operation)
		return "Operation " + op.name + " (" + [...]string{"Started", "Completed", "Canceled", "Error"}[op.status] + ")"
	},
}

// newOperationLocked returns a started operation for method name.
func (v *vm) newOperationLocked(L *glua.LState, name string) *operation {
	op := &operation{v: v, name: name}
	op.ud = newObject(L, operationClass, op)
	// await is a Lua function (prelude.lua) so that its error is raised in
	// the awaiting coroutine; make it reachable as op:await().
	return op
}

// startLocked returns an operation whose work runs as a job once the
// current resume yields: work runs off the lock, then finish (which may be
// nil) runs under it and returns the operation's results. op:Cancel()
// calls cancel, if not nil. The work's context ends when the worker stops.
func (v *vm) startLocked(L *glua.LState, name string, quick bool, cancel func(),
	work func(ctx context.Context) (finish func(L *glua.LState) []glua.LValue, err error)) *operation {
	op := v.newOperationLocked(L, name)
	op.cancel = cancel
	v.addJobLocked(job{quick: quick, run: func() []job {
		finish, err := work(v.ctx)
		return v.finish(op, finish, err)
	}})
	return op
}

// finish completes op from a job: it takes the lock, builds the results,
// resumes the waiter and returns the jobs that started.
func (v *vm) finish(op *operation, finish func(L *glua.LState) []glua.LValue, err error) []job {
	v.mu.Lock()
	defer v.mu.Unlock()
	var res []glua.LValue
	if err == nil && finish != nil {
		res = finish(v.L)
	}
	v.completeLocked(op, res, err)
	return v.takeJobsLocked()
}

// startCtxLocked is startLocked for work that is cancelled through its
// context (a connect, a name lookup): op:Cancel() ends that context.
func (v *vm) startCtxLocked(L *glua.LState, name string,
	work func(ctx context.Context) (finish func(L *glua.LState) []glua.LValue, err error)) *operation {
	ctx, cancel := context.WithCancel(v.ctx)
	return v.startLocked(L, name, false, cancel, func(context.Context) (func(L *glua.LState) []glua.LValue, error) {
		defer cancel()
		return work(ctx)
	})
}

// doneLocked returns an operation that has already ended, for methods
// whose work is immediate.
func (v *vm) doneLocked(L *glua.LState, name string, results []glua.LValue, err error) *operation {
	op := v.newOperationLocked(L, name)
	v.completeLocked(op, results, err)
	return op
}

// completeLocked ends op, resumes its waiter and runs its Completed
// handler.
func (v *vm) completeLocked(op *operation, results []glua.LValue, err error) {
	if op.status != Started {
		return
	}
	op.results, op.err = results, err
	switch {
	case err == nil:
		op.status = Completed
	case op.canceling && socketerror.GetStatus(err) == socketerror.OperationAborted:
		op.status = Canceled
	default:
		op.status = Error
	}
	if w := op.waiter; w != nil {
		op.waiter = nil
		v.resumeLocked(w, nil)
	}
	if op.completed != nil {
		v.spawnLocked(op.completed, op.ud, glua.LNumber(op.status))
	}
}

// opWait is the Go half of op:await(): it parks the calling task until the
// operation ends. It returns at once if the operation has ended.
func opWait(L *glua.LState) int {
	op := self[*operation](L, "Operation:await")
	if op.status != Started {
		return 0
	}
	v := op.v
	if _, pass := v.passThrough[L]; L != v.current && !pass {
		raiseIllegal(L, "Operation:await", "await works in a netrun task (the main chunk, an event handler, net.spawn) and in pcall/xpcall inside one, not in a coroutine made with coroutine.create or coroutine.wrap")
	}
	if op.waiter != nil {
		raiseIllegal(L, "Operation:await", "another task is already awaiting this operation")
	}
	op.waiter = v.current
	v.awaited = true
	return L.Yield()
}

// opResults returns the results of an ended operation or raises its
// error: op:GetResults(), and the second half of op:await().
func opResults(L *glua.LState) int {
	op := self[*operation](L, "Operation:GetResults")
	switch op.status {
	case Started:
		raiseIllegal(L, "Operation:GetResults", "%s has not completed; await it first", op.name)
	case Completed:
		for _, r := range op.results {
			L.Push(r)
		}
		return len(op.results)
	}
	raiseError(L, op.err)
	return 0
}

// opCancel is op:Cancel(): it asks the operation's work to stop; the
// operation then ends Canceled, or Completed if the work finished first.
func opCancel(L *glua.LState) int {
	op := self[*operation](L, "Operation:Cancel")
	if op.status == Started && op.cancel != nil {
		op.canceling = true
		op.cancel()
	}
	return 0
}
