package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"slices"
	"sync/atomic"
	"time"

	rthost "github.com/netrun/netrun/runtime/host"
	"github.com/netrun/netrun/runtime/sockets"
	"github.com/netrun/netrun/runtime/trigger"
)

// Defaults for Options left zero.
const (
	DefaultPingInterval    = 5 * time.Second
	DefaultPingTimeout     = 15 * time.Second
	DefaultStartTimeout    = 30 * time.Second
	DefaultShutdownTimeout = 5 * time.Second
	DefaultMinBackoff      = 100 * time.Millisecond
	DefaultMaxBackoff      = 30 * time.Second
	DefaultMaxPayload      = 1 << 20
	DefaultMaxQueued       = 64 << 20
	// DefaultMaxBuffered is how many bytes the broker buffers per
	// transferred stream socket while no instance has it; past that it
	// stops reading and TCP's flow control holds the peer.
	DefaultMaxBuffered = 4 << 20
	// stableAfter is how long an instance must run for the backoff to
	// start again from MinBackoff.
	stableAfter = time.Minute
)

// Options configures a Runner.
type Options struct {
	// Logger receives the runner's logs and, with "plugin"=name, each
	// plugin's stderr; nil means slog.Default.
	Logger *slog.Logger
	// Executable is the program that serves first-party plugins: a
	// plugin configured without a command runs as
	// `Executable plugin NAME ARGS...`. cmd/netrun sets it to itself.
	Executable string
	// FirstParty names the plugins Executable serves.
	FirstParty []string
	// PingInterval is how often the host pings each plugin;
	// PingTimeout is how long a ping may go unanswered before the plugin
	// is killed and restarted.
	PingInterval, PingTimeout time.Duration
	// StartTimeout bounds a plugin's start: its handshake line and its
	// session's Hello.
	StartTimeout time.Duration
	// ShutdownTimeout is how long a plugin asked to stop may take before
	// it is killed.
	ShutdownTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait before a crashed plugin is
	// started again; it doubles after each crash.
	MinBackoff, MaxBackoff time.Duration
	// MaxPayload is the largest write, datagram or read a command may
	// carry or ask for.
	MaxPayload int
	// MaxQueued is how many bytes of events may wait for a plugin that
	// does not read them before it is killed.
	MaxQueued int
	// MaxBuffered is how many bytes the broker reads ahead per
	// transferred stream socket while the plugin is away.
	MaxBuffered int
	// Broker is the host's socket broker, shared with the Lua engine:
	// a plugin's TransferOwnership with hand_over transfers through it,
	// its Reclaim{socket_id} reclaims from it, and every instance is
	// registered as the SocketActivityTrigger task named as the plugin.
	// nil leaves plugins with their own restart broker only. The caller
	// closes it, after the plugins have stopped.
	Broker *trigger.Broker
	// Observe, if set, is told of each plugin's lifecycle and sockets
	// (tests and the admin API watch it). It is called synchronously and
	// must return quickly.
	Observe func(Event)
}

// EventKind says what an Event reports.
type EventKind int

// The kinds of Event.
const (
	// Started: an instance of the plugin started (PID, Instance).
	Started EventKind = iota
	// Exited: an instance ended (Err says why; Instance).
	Exited
	// Bound: a plugin's listener or datagram socket was bound (Socket,
	// Addr).
	Bound
	// Reclaimed: an instance reclaimed a transferred socket (Socket).
	Reclaimed
	// Transferred: an instance transferred a socket (Socket).
	Transferred
)

// Event is one thing that happened to a plugin.
type Event struct {
	Kind     EventKind
	Plugin   string
	Instance int
	PID      int
	Socket   uint64
	// Addr is where a Bound socket can be reached, host:port; a socket
	// bound to every address is reported on 127.0.0.1.
	Addr string
	Err  error
}

// Runner starts and supervises plugins. It implements runtime/host's
// PluginKind. It holds no goroutine of its own: each StartPlugin starts a
// supervisor, which the Guest it returns stops.
type Runner struct {
	opts   Options
	nextID atomic.Uint64 // socket ids: unique across the runner's plugins and their restarts
}

var _ rthost.PluginKind = (*Runner)(nil)

// New returns a Runner with opts, defaults filled in.
func New(opts Options) *Runner {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opts.PingInterval, DefaultPingInterval)
	def(&opts.PingTimeout, DefaultPingTimeout)
	def(&opts.StartTimeout, DefaultStartTimeout)
	def(&opts.ShutdownTimeout, DefaultShutdownTimeout)
	def(&opts.MinBackoff, DefaultMinBackoff)
	def(&opts.MaxBackoff, DefaultMaxBackoff)
	if opts.MaxPayload <= 0 {
		opts.MaxPayload = DefaultMaxPayload
	}
	if opts.MaxQueued <= 0 {
		opts.MaxQueued = DefaultMaxQueued
	}
	if opts.MaxBuffered <= 0 {
		opts.MaxBuffered = DefaultMaxBuffered
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Runner{opts: opts}
}

// StartPlugin starts the plugin cfg describes and supervises it until the
// returned Guest is stopped. It fails if the plugin's program cannot be
// found or a first-party name is unknown.
func (r *Runner) StartPlugin(ctx context.Context, cfg rthost.PluginConfig, env *sockets.Env) (rthost.Guest, error) {
	argv, err := r.argv(cfg)
	if err != nil {
		return nil, err
	}
	if env == nil {
		env = &sockets.Env{}
	}
	log := r.opts.Logger.With("plugin", cfg.Name)
	sv := newSupervisor(r, cfg, argv, env, log)
	sv.start()
	return sv, nil
}

// argv is the command line that runs cfg's plugin.
func (r *Runner) argv(cfg rthost.PluginConfig) ([]string, error) {
	if len(cfg.Command) > 0 {
		if _, err := exec.LookPath(cfg.Command[0]); err != nil {
			return nil, fmt.Errorf("plugin %s: %w", cfg.Name, err)
		}
		return slices.Clone(cfg.Command), nil
	}
	if !slices.Contains(r.opts.FirstParty, cfg.Name) {
		if len(r.opts.FirstParty) == 0 {
			return nil, fmt.Errorf("plugin %s: no command, and this host serves no first-party plugin", cfg.Name)
		}
		return nil, fmt.Errorf("plugin %s: no command, and %q is not a first-party plugin (those are: %v)", cfg.Name, cfg.Name, r.opts.FirstParty)
	}
	if r.opts.Executable == "" {
		return nil, errors.New("plugin " + cfg.Name + ": first-party plugins need Options.Executable")
	}
	return append([]string{r.opts.Executable, "plugin", cfg.Name}, cfg.Args...), nil
}

func (r *Runner) observe(e Event) {
	if r.opts.Observe != nil {
		r.opts.Observe(e)
	}
}
