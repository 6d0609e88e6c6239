package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netrun/netrun/runtime/isolation"
	"github.com/netrun/netrun/runtime/sockets"
	"github.com/netrun/netrun/runtime/trigger"
)

// TakeoverTimeout bounds how long a reload waits for the new version to
// listen on every endpoint the old version listens on before the old one
// starts draining. A new version that listens elsewhere, or later, is
// still kept; the old one then drains after this wait.
const TakeoverTimeout = 5 * time.Second

// ErrNotRunning is returned by Reload when the host is not running: Run
// has not started, or has begun to shut down.
var ErrNotRunning = errors.New("host: not running")

// Options configures a Host.
type Options struct {
	// Config is the host configuration: its scripts with their grants,
	// and the [host] settings (drain timeout, workers). nil runs Paths
	// with Allow and the defaults. A Config built in Go rather than
	// loaded must pass Validate; New checks.
	Config *Config
	// Paths are .lua files, or folders of them, to run besides the
	// config's scripts (netrun run PATH...). A folder runs every *.lua
	// file directly in it except *_test.lua and hidden files, and also
	// the ones created in it later. A file runs whatever its name.
	Paths []string
	// Allow is granted to every script named in Paths (--allow).
	Allow isolation.Capabilities
	// Workers is how many workers each script named in Paths runs
	// (--workers); 0 means the config's [host] workers, or one when there
	// is no config. One worker keeps a script's state in one place (a
	// chat room, a store); more use more cores.
	Workers int
	// Plugins runs the config's [[plugin]] tables: bindings/plugin/host's
	// *Runner. It may be nil when the config names no plugin.
	Plugins PluginKind
	// Broker is the host's socket broker (runtime/trigger), made by
	// cmd/netrun and handed to the Kinds too; the host closes it on
	// shutdown, after every guest has stopped, so that the sockets
	// guests transferred to it are closed last. nil if there is none.
	Broker *trigger.Broker
	// Scripts runs the scripts: bindings/lua's *Engine. It is handed in
	// rather than made here so that runtime/ imports no binding; whoever
	// makes it chooses its logger, its print output and its CPU budget
	// (Config.Host.CPUBudget).
	Scripts Kind
	// Logger receives the host's logs, and each script's with
	// "script"=name added; nil means slog.Default.
	Logger *slog.Logger
	// OnReload, if set, is called after every load of a script, the
	// first included, with the script's name, the number of the version
	// now running (the new one; on error the one kept, 0 if none) and
	// the load's error (nil on success, else normally a *LoadError). After
	// a successful reload the new version already takes the new
	// connections; after a first load, the script may still be binding
	// its listeners. Calls for one script come in order, on the goroutine
	// that loaded it; the function must return soon and must not call
	// Reload.
	OnReload func(name string, version int, err error)
}

// Host runs guests: it loads scripts, grants capabilities, watches script
// files and reloads them.
//
// A reload (a debounced change to a file, or Reload) starts the new
// version beside the old one; if it fails to load, the old version keeps
// running and the error is logged with file:line. Otherwise the new
// version gets the old one's netrun.state, takes over its listening
// sockets without closing them, and takes every new connection, while the
// old version drains: its open connections finish under the old code
// until they close or the drain timeout passes.
//
// Lock order: Host.mu, then a script's mu, then the goroutine tracker's
// lock. Neither mutex is held while a guest starts, stops or drains, nor
// while OnReload runs. Apart from them, each script has a load lock that
// serialises its loads and is held across one (start, takeover wait,
// OnReload): it is taken with no other lock held, and whoever holds it
// may take the others in their order.
type Host struct {
	// Constant after New.
	log          *slog.Logger
	kind         Kind
	onReload     func(name string, version int, err error)
	drainTimeout time.Duration
	plugins      PluginKind
	broker       *trigger.Broker
	pluginCfgs   []PluginConfig  // the config's plugins, in order
	files        []spec          // scripts named one by one, in order
	folders      map[string]spec // folders of scripts, by absolute path
	dirs         []string        // the folders watched: the folders, and those of files

	started atomic.Bool // Run has been called
	tracker tracker     // the reload and drain goroutines

	mu      sync.Mutex         // guards the fields below
	ctx     context.Context    // Run's; set once, with running
	running bool               // Run is serving: from its start until shutdown begins
	scripts map[string]*script // by absolute path
	names   map[string]string  // script name → path: names are task ids, unique
	plugs   []Guest            // the plugins started, in config order
}

// spec is a file or folder to run and what its scripts are granted.
type spec struct {
	path    string // absolute
	caps    isolation.Capabilities
	workers int // resolved: never 0
}

// script is one script file and its running version.
type script struct {
	// Constant after creation.
	name    string
	path    string
	caps    isolation.Capabilities
	workers int
	env     *sockets.Env
	log     *slog.Logger

	load sync.Mutex // serialises loads; taken with no other lock held

	mu       sync.Mutex // guards the fields below
	cur      Guest      // the running version; nil if none
	version  int        // cur's number; counts successful loads
	lastErr  error      // the last load's error
	lastSrc  []byte     // the content last loaded, or that last failed
	attempts int        // loads tried
	stopped  bool       // the host has shut the script down
}

// New checks opts and returns a Host, which runs nothing until Run.
// Every path must exist.
func New(opts Options) (*Host, error) {
	if opts.Scripts == nil {
		return nil, errors.New("host: Options.Scripts is nil: nothing can run the scripts")
	}
	h := &Host{
		log:          opts.Logger,
		kind:         opts.Scripts,
		plugins:      opts.Plugins,
		broker:       opts.Broker,
		onReload:     opts.OnReload,
		drainTimeout: DefaultDrainTimeout,
		folders:      map[string]spec{},
		scripts:      map[string]*script{},
		names:        map[string]string{},
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	// Without a config, a script runs in one worker: its state stays in
	// one place. A config's [host] workers of 0 means one per CPU.
	defaultWorkers := 1
	var specs []spec
	if c := opts.Config; c != nil {
		defaultWorkers = runtime.NumCPU()
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("host: %w", err)
		}
		h.drainTimeout = c.Host.DrainTimeout.Duration
		if c.Host.Workers > 0 {
			defaultWorkers = c.Host.Workers
		}
		h.pluginCfgs = c.Plugins
		if len(c.Plugins) > 0 && opts.Plugins == nil {
			return nil, errors.New("host: the config names plugins, but Options.Plugins is nil: nothing can run them")
		}
		for _, sc := range c.Scripts {
			caps, _ := isolation.ParseCapabilityList(sc.Allow) // Validate checked them
			specs = append(specs, spec{path: sc.Path, caps: caps | sc.Caps, workers: sc.Workers})
		}
	}
	for _, p := range opts.Paths {
		specs = append(specs, spec{path: p, caps: opts.Allow, workers: opts.Workers})
	}
	if len(specs) == 0 && len(h.pluginCfgs) == 0 {
		return nil, errors.New("host: no script to run, and no plugin: give a path, or a config with [[script]] or [[plugin]] tables")
	}
	seen := map[string]bool{}
	dirs := map[string]bool{}
	for _, sp := range specs {
		abs, err := filepath.Abs(sp.path)
		if err != nil {
			return nil, fmt.Errorf("host: %w", err)
		}
		sp.path = abs
		if sp.workers <= 0 {
			sp.workers = defaultWorkers
		}
		if seen[abs] {
			return nil, fmt.Errorf("host: %s is named twice", abs)
		}
		seen[abs] = true
		fi, err := os.Stat(abs)
		if err != nil {
			return nil, fmt.Errorf("host: %w", err)
		}
		dir := filepath.Dir(abs)
		if fi.IsDir() {
			h.folders[abs] = sp
			dir = abs
		} else {
			h.files = append(h.files, sp)
		}
		if !dirs[dir] {
			dirs[dir] = true
			h.dirs = append(h.dirs, dir)
		}
	}
	return h, nil
}

// Run loads every script and logs what it loaded (one line per script,
// with its path, workers and capabilities), then watches the scripts'
// folders and reloads what changes, until ctx ends. Then it stops every
// script, closing every socket cleanly, waits for all its goroutines and
// returns nil. A script that fails to load is logged with file:line and
// watched: it starts once it is fixed; the others run meanwhile. Run may
// be called once.
func (h *Host) Run(ctx context.Context) error {
	if h.started.Swap(true) {
		return errors.New("host: Run called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := newWatcher(h.log, h.dirs)
	h.mu.Lock()
	h.ctx, h.running = ctx, true
	h.mu.Unlock()

	// Load what is there now; the watches are already set, so no edit is
	// lost in between.
	for _, sp := range h.files {
		if s, err := h.addScript(sp.path, sp); err == nil {
			h.load(ctx, s, true)
		}
	}
	for _, dir := range slices.Sorted(maps.Keys(h.folders)) {
		for _, path := range scriptFiles(h.log, dir) {
			if s, err := h.addScript(path, h.folders[dir]); err == nil {
				h.load(ctx, s, true)
			}
		}
	}
	h.startPlugins(ctx)
	if n := len(h.Scripts()); n == 0 && len(h.pluginCfgs) == 0 {
		h.log.Warn("no scripts yet; watching for new ones", "folders", strings.Join(h.dirs, ", "))
	}

	w.run(ctx, h)

	h.shutdown(cancel)
	w.close()
	h.log.Info("host stopped")
	return nil
}

// shutdown stops every script and waits for the host's goroutines.
func (h *Host) shutdown(cancel context.CancelFunc) {
	h.mu.Lock()
	h.running = false
	list := make([]*script, 0, len(h.scripts))
	for _, s := range h.scripts {
		list = append(list, s)
	}
	h.mu.Unlock()
	cancel() // ends drains and takeover waits
	for _, s := range list {
		s.load.Lock() // waits for a load in progress
		s.mu.Lock()
		s.stopped = true
		cur := s.cur
		s.cur = nil
		s.mu.Unlock()
		s.load.Unlock()
		if cur != nil {
			cur.Stop()
		}
	}
	h.mu.Lock()
	plugins := h.plugs
	h.plugs = nil
	h.mu.Unlock()
	for _, g := range plugins {
		g.Stop()
	}
	if h.broker != nil {
		h.broker.Close()
	}
	h.tracker.Close()
}

// startPlugins starts the config's plugins, each with an Env whose Guard
// is its capabilities. One that cannot be run is logged and skipped.
func (h *Host) startPlugins(ctx context.Context) {
	for _, pc := range h.pluginCfgs {
		caps, _ := isolation.ParseCapabilityList(pc.Allow) // Validate checked them
		caps |= pc.Caps
		log := h.log.With("plugin", pc.Name)
		g, err := h.plugins.StartPlugin(ctx, pc, &sockets.Env{Guard: caps, Logger: log})
		if err != nil {
			log.Error("plugin not started", "err", err)
			continue
		}
		log.Info("started plugin", "command", pluginCommand(pc), "capabilities", capsText(caps), "lazy", pc.Lazy)
		h.mu.Lock()
		h.plugs = append(h.plugs, g)
		h.mu.Unlock()
	}
}

// pluginCommand is a plugin's command line for a log line.
func pluginCommand(pc PluginConfig) string {
	if len(pc.Command) == 0 {
		return strings.TrimSpace("netrun plugin " + pc.Name + " " + strings.Join(pc.Args, " "))
	}
	return strings.Join(pc.Command, " ")
}

// Reload loads the script at path again now, even if its file has not
// changed, as a change to the file would. On error the running version
// keeps running and the error, a *LoadError, is returned. A path that is
// not loaded yet may be given if it is a script file in one of the
// host's folders. Reload returns ErrNotRunning unless Run is serving.
func (h *Host) Reload(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	ctx, s, running := h.lookup(abs)
	if !running {
		return ErrNotRunning
	}
	if s == nil {
		sp, ok := h.folders[filepath.Dir(abs)]
		if !ok || !isScriptFile(abs) {
			return fmt.Errorf("host: %s is not a script of this host", abs)
		}
		if s, err = h.addScript(abs, sp); err != nil {
			return err
		}
	}
	return h.load(ctx, s, true)
}

// lookup returns Run's context and the script at path (nil if none), and
// whether Run is serving.
func (h *Host) lookup(path string) (context.Context, *script, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ctx, h.scripts[path], h.running
}

// fileChanged handles a debounced change to path: it loads a script that
// changed, starts a new one in a folder, and logs a script file that is
// gone (its running version keeps running).
func (h *Host) fileChanged(path string) {
	ctx, s, running := h.lookup(path)
	if !running {
		return
	}
	if s == nil {
		sp, ok := h.folders[filepath.Dir(path)]
		if !ok || !isScriptFile(path) {
			return
		}
		if _, err := os.Stat(path); err != nil {
			return // a file that came and went
		}
		var err error
		if s, err = h.addScript(path, sp); err != nil {
			return
		}
	}
	h.load(ctx, s, false)
}

// addScript registers the script at path, granted what sp grants, or
// returns the one registered already. It fails once the host is shutting
// down (ErrNotRunning), so that shutdown stops every script there is, and
// if the script's name is another script's (it logs that).
func (h *Host) addScript(path string, sp spec) (*script, error) {
	name := strings.TrimSuffix(filepath.Base(path), ".lua")
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.running {
		return nil, ErrNotRunning
	}
	if s, ok := h.scripts[path]; ok {
		return s, nil
	}
	if other, ok := h.names[name]; ok {
		h.log.Error("script not loaded: another script has its name (a script's name is its file name without .lua, and must be unique)",
			"script", name, "path", path, "other", other)
		return nil, fmt.Errorf("host: %s: script %q is already %s", path, name, other)
	}
	log := h.log.With("script", name)
	s := &script{name: name, path: path, caps: sp.caps, workers: sp.workers, log: log,
		env: &sockets.Env{Guard: sp.caps, Logger: log}}
	h.scripts[path] = s
	h.names[name] = path
	return s, nil
}

// load loads s: its first version, or a new one that replaces the
// running one. Unless force is set, a file whose content is the same as
// the last loaded (or the last that failed) is left alone.
func (h *Host) load(ctx context.Context, s *script, force bool) error {
	s.load.Lock()
	defer s.load.Unlock()
	version, loaded, err := h.loadLocked(ctx, s, force)
	if loaded && h.onReload != nil {
		h.onReload(s.name, version, err)
	}
	return err
}

// loadLocked is load with s.load held. It returns the version running
// afterwards, whether a load was tried, and the load's error.
func (h *Host) loadLocked(ctx context.Context, s *script, force bool) (version int, loaded bool, err error) {
	s.mu.Lock()
	old, lastSrc, stopped := s.cur, s.lastSrc, s.stopped
	version = s.version
	s.mu.Unlock()
	if stopped {
		return version, false, ErrNotRunning
	}

	src, err := os.ReadFile(s.path)
	switch {
	case err != nil && !force && old != nil && errors.Is(err, fs.ErrNotExist):
		s.log.Warn("script file is gone; its running version keeps running", "path", s.path, "version", version)
		return version, false, nil
	case err == nil && !force && lastSrc != nil && bytes.Equal(src, lastSrc):
		s.log.Debug("script file touched, its content unchanged; nothing to reload", "path", s.path)
		return version, false, nil
	}

	var g Guest
	if err == nil {
		sctx, cancel := context.WithTimeout(ctx, TakeoverTimeout)
		g, err = h.kind.StartGuest(sctx, s.path, GuestOptions{Workers: s.workers, Env: s.env, Previous: old})
		cancel()
		if err == nil && g == nil {
			err = errors.New("the script's kind started nothing")
		}
	}
	if err != nil {
		le := asLoadError(err, s.path)
		s.mu.Lock()
		s.lastErr, s.lastSrc = le, src
		s.attempts++
		s.mu.Unlock()
		if old != nil {
			s.log.Error("script failed to reload; its running version keeps running", "err", le.Error(), "version", version)
		} else {
			s.log.Error("script failed to load", "err", le.Error())
		}
		return version, true, le
	}

	s.mu.Lock()
	s.cur = g
	s.version++
	version = s.version
	s.lastErr, s.lastSrc = nil, src
	s.attempts++
	s.mu.Unlock()
	if old == nil {
		s.log.Info("loaded script", "path", s.path, "version", version, "workers", s.workers, "capabilities", capsText(s.caps))
		return version, true, nil
	}
	s.log.Info("reloaded script; the previous version drains", "path", s.path, "version", version, "drain_timeout", h.drainTimeout)
	h.drain(ctx, s, old, version-1)
	return version, true, nil
}

// drain lets old drain on a goroutine of the host, bounded by the drain
// timeout and by the host's life.
func (h *Host) drain(ctx context.Context, s *script, old Guest, version int) {
	dctx, cancel := context.WithTimeout(ctx, h.drainTimeout)
	ok := h.tracker.Go(func() {
		defer cancel()
		start := time.Now()
		old.Drain(dctx)
		s.log.Info("previous version stopped", "version", version,
			"drained", dctx.Err() == nil, "after", time.Since(start).Round(time.Millisecond))
	})
	if !ok {
		cancel()
		old.Stop()
	}
}

// ScriptState says whether a script runs.
type ScriptState string

// The states of a script.
const (
	// ScriptPending: the script is known and not loaded yet.
	ScriptPending ScriptState = "pending"
	// ScriptRunning: a version runs. If the last load failed, that
	// version is an older one, and ScriptStatus.Err says why.
	ScriptRunning ScriptState = "running"
	// ScriptFailed: no version runs, because every load failed.
	ScriptFailed ScriptState = "failed"
	// ScriptStopped: the host has stopped the script.
	ScriptStopped ScriptState = "stopped"
)

// ScriptStatus describes one script.
type ScriptStatus struct {
	// Name is the script's task id: its file name without ".lua".
	Name string
	// Path is the script file, absolute.
	Path string
	// Version is the number of the running version: 1 for the first
	// load, one more for each successful reload; 0 if none ran yet.
	Version int
	// Workers is how many workers run each version.
	Workers int
	// Capabilities is what the script is granted.
	Capabilities isolation.Capabilities
	// State says whether a version runs.
	State ScriptState
	// Err is the last load's error, or nil if it succeeded.
	Err error
}

// Scripts returns the status of every script, by name.
func (h *Host) Scripts() []ScriptStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]ScriptStatus, 0, len(h.scripts))
	for _, s := range h.scripts {
		s.mu.Lock()
		st := ScriptStatus{Name: s.name, Path: s.path, Version: s.version, Workers: s.workers,
			Capabilities: s.caps, Err: s.lastErr}
		switch {
		case s.stopped:
			st.State = ScriptStopped
		case s.cur != nil:
			st.State = ScriptRunning
		case s.attempts > 0:
			st.State = ScriptFailed
		default:
			st.State = ScriptPending
		}
		s.mu.Unlock()
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b ScriptStatus) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// asLoadError returns err as a *LoadError, wrapping it for path if the
// kind returned another error.
func asLoadError(err error, path string) *LoadError {
	var le *LoadError
	if errors.As(err, &le) {
		return le
	}
	le = &LoadError{File: path, Err: err}
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == path {
		le.Message = pe.Op + ": " + pe.Err.Error()
	}
	return le
}

// capsText is a capability set for a log line.
func capsText(c isolation.Capabilities) string {
	if c == 0 {
		return "none"
	}
	return c.String()
}

// isScriptFile reports whether a file in a folder of scripts is one: a
// .lua file that is neither a test (*_test.lua) nor hidden (editors'
// temporary files often start with a dot).
func isScriptFile(path string) bool {
	base := filepath.Base(path)
	return strings.HasSuffix(base, ".lua") && !strings.HasSuffix(base, "_test.lua") &&
		!strings.HasPrefix(base, ".") && base != ".lua"
}

// scriptFiles lists the script files directly in dir, sorted.
func scriptFiles(log *slog.Logger, dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		log.Error("cannot read the folder of scripts", "folder", dir, "err", err)
		return nil
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && isScriptFile(e.Name()) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}
