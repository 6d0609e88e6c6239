package host

import (
	"context"
	"strconv"

	"github.com/netrun/netrun/runtime/sockets"
)

// Kind starts guests of one kind. A binding implements it (bindings/lua's
// *Engine runs .lua scripts) and cmd/netrun hands it to the host in
// [Options], so that runtime/ imports no binding: the host knows files,
// capabilities and versions, the binding knows the language.
type Kind interface {
	// StartGuest loads the guest at path and starts a version of it
	// with opts. When opts.Previous is set, the new version replaces it:
	// StartGuest carries over what the kind carries over (a Lua script's
	// netrun.state) and returns once the new version takes the guest's
	// new traffic (it listens on every endpoint the previous version
	// listens on), or once ctx ends, whichever is first; it never stops
	// the previous version. A guest that fails to load returns an error,
	// best a *LoadError naming file:line, and leaves nothing running.
	StartGuest(ctx context.Context, path string, opts GuestOptions) (Guest, error)
}

// PluginKind runs plugins: bindings/plugin/host's *Runner, handed to the
// host in [Options] by cmd/netrun so that runtime/ imports neither gRPC
// nor go-plugin.
type PluginKind interface {
	// StartPlugin starts the plugin cfg describes, its sockets made from
	// env (whose Guard holds its capabilities), and keeps it running,
	// restarting it when it crashes, until the Guest returned is stopped.
	// It returns an error, and runs nothing, if the plugin cannot be run
	// at all (an unknown first-party name, a program not found); a
	// plugin that starts and fails is retried with backoff instead.
	StartPlugin(ctx context.Context, cfg PluginConfig, env *sockets.Env) (Guest, error)
}

// GuestOptions configures one version of a guest.
type GuestOptions struct {
	// Workers is how many workers (independent instances of the guest,
	// such as Lua states) run it; at least 1.
	Workers int
	// Env gives the guest's sockets their capabilities (Env.Guard),
	// resolver and logger.
	Env *sockets.Env
	// Previous is the running version this one replaces, as the same
	// Kind's StartGuest returned it; nil on the first load.
	Previous Guest
}

// Guest is one running version of a guest.
type Guest interface {
	// Stop stops the version at once, closing every socket it owns.
	Stop()
	// Drain lets the version's open connections finish under its code,
	// then stops it; if ctx ends first, it stops it then. It returns once
	// the version has stopped.
	Drain(ctx context.Context)
}

// LoadError is a guest version that could not be loaded: its file did not
// compile, could not be read, or raised while starting. The running
// version, if any, keeps running.
type LoadError struct {
	// File is the file the error is in: the guest's, or a module it
	// loads.
	File string
	// Line is the line in File, from 1; 0 when it is not known.
	Line int
	// Column is the column in Line, from 1; 0 when it is not known.
	Column int
	// Message describes the error without its position.
	Message string
	// Err is the error the Kind reported.
	Err error
}

// Error returns "file:line:column: message", leaving out the line and
// column where they are not known. Without a Message it uses Err's.
func (e *LoadError) Error() string {
	msg := e.Message
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	pos := e.File
	if e.Line > 0 {
		pos += ":" + strconv.Itoa(e.Line)
		if e.Column > 0 {
			pos += ":" + strconv.Itoa(e.Column)
		}
	}
	return pos + ": " + msg
}

// Unwrap returns Err.
func (e *LoadError) Unwrap() error { return e.Err }
