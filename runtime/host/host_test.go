package host_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netrun/netrun/runtime/host"
	"github.com/netrun/netrun/runtime/isolation"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/trigger"
)

// waitTimeout bounds every wait on the host; waits end on events.
const waitTimeout = 10 * time.Second

// fakeKind starts fakeGuests: a file whose content starts with "error"
// fails to load, as a syntax error would.
type fakeKind struct {
	mu     sync.Mutex
	guests []*fakeGuest
}

func (k *fakeKind) StartGuest(ctx context.Context, path string, opts host.GuestOptions) (host.Guest, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if bytes.HasPrefix(src, []byte("error")) {
		return nil, &host.LoadError{File: path, Line: 1, Column: 1, Message: "syntax error", Err: errors.New("bad")}
	}
	g := &fakeGuest{src: string(src), opts: opts, stopped: make(chan struct{}), release: make(chan struct{})}
	k.mu.Lock()
	k.guests = append(k.guests, g)
	k.mu.Unlock()
	return g, nil
}

// all returns the guests started so far.
func (k *fakeKind) all() []*fakeGuest {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]*fakeGuest(nil), k.guests...)
}

// fakeGuest is a version whose connections stay open until the test
// releases them.
type fakeGuest struct {
	src      string
	opts     host.GuestOptions
	once     sync.Once
	stopped  chan struct{}
	release  chan struct{}
	mu       sync.Mutex
	draining bool
}

func (g *fakeGuest) Stop() { g.once.Do(func() { close(g.stopped) }) }

func (g *fakeGuest) Drain(ctx context.Context) {
	g.mu.Lock()
	g.draining = true
	g.mu.Unlock()
	select {
	case <-g.release:
	case <-ctx.Done():
	}
	g.Stop()
}

func (g *fakeGuest) isStopped() bool {
	select {
	case <-g.stopped:
		return true
	default:
		return false
	}
}

func (g *fakeGuest) waitStopped(t testing.TB) {
	t.Helper()
	select {
	case <-g.stopped:
	case <-time.After(waitTimeout):
		t.Fatalf("version %q was not stopped", g.src)
	}
}

// reload is one OnReload call.
type reload struct {
	name    string
	version int
	err     error
}

// logSink sends logs to the test and lets it wait for a line.
type logSink struct {
	t       testing.TB
	mu      sync.Mutex
	b       strings.Builder
	changed chan struct{}
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.b.Write(p)
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
	l.t.Logf("%s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logSink) wait(t testing.TB, substr string) {
	t.Helper()
	timeout := time.After(waitTimeout)
	for {
		l.mu.Lock()
		s, ch := l.b.String(), l.changed
		l.mu.Unlock()
		if strings.Contains(s, substr) {
			return
		}
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("timed out waiting for %q in the log:\n%s", substr, s)
		}
	}
}

// running is a Host under Run.
type running struct {
	h       *host.Host
	kind    *fakeKind
	logs    *logSink
	reloads chan reload
}

// run starts a host with opts (its Scripts, Logger and OnReload set here)
// and stops it at cleanup, failing if Run does not return nil.
func run(t *testing.T, opts host.Options) *running {
	t.Helper()
	r := &running{kind: &fakeKind{}, logs: &logSink{t: t, changed: make(chan struct{})}, reloads: make(chan reload, 100)}
	opts.Scripts = r.kind
	opts.Logger = slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.OnReload = func(name string, version int, err error) { r.reloads <- reload{name, version, err} }
	h, err := host.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	r.h = h
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(waitTimeout):
			t.Errorf("Run did not return after its context ended")
		}
		for _, g := range r.kind.all() {
			if !g.isStopped() {
				t.Errorf("version %q still runs after Run returned", g.src)
			}
		}
	})
	return r
}

// next waits for the next OnReload call.
func (r *running) next(t testing.TB) reload {
	t.Helper()
	select {
	case rl := <-r.reloads:
		return rl
	case <-time.After(waitTimeout):
		t.Fatalf("no reload within %v", waitTimeout)
		return reload{}
	}
}

// expect waits for the next OnReload call and checks it.
func (r *running) expect(t testing.TB, name string, version int, wantErr bool) reload {
	t.Helper()
	rl := r.next(t)
	if rl.name != name || rl.version != version || (rl.err != nil) != wantErr {
		t.Fatalf("reload = %q version %d err %v; want %q version %d, error %v", rl.name, rl.version, rl.err, name, version, wantErr)
	}
	return rl
}

// guest returns the i-th version started.
func (r *running) guest(t testing.TB, i int) *fakeGuest {
	t.Helper()
	all := r.kind.all()
	if i >= len(all) {
		t.Fatalf("only %d versions started, want #%d", len(all), i)
	}
	return all[i]
}

func write(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// saveByRename saves as editors do: a temporary file in the same folder,
// renamed over path.
func saveByRename(t testing.TB, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".swp")
	write(t, tmp, content)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestReloadOnWriteAndRename(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "echo.lua")
	write(t, path, "v1")
	r := run(t, host.Options{Paths: []string{path}, Allow: isolation.Capabilities(isolation.Loopback)})
	r.expect(t, "echo", 1, false)
	r.logs.wait(t, "capabilities=loopback")

	write(t, path, "v2")
	r.expect(t, "echo", 2, false)
	v1, v2 := r.guest(t, 0), r.guest(t, 1)
	if v2.src != "v2" || v2.opts.Previous != v1 {
		t.Fatalf("version 2 = %q with previous %v; want \"v2\" replacing version 1", v2.src, v2.opts.Previous)
	}
	if v1.isStopped() {
		t.Fatal("version 1 stopped before its connections closed")
	}
	close(v1.release) // its last connection closes
	v1.waitStopped(t)

	saveByRename(t, path, "v3")
	r.expect(t, "echo", 3, false)
	if v3 := r.guest(t, 2); v3.src != "v3" || v3.opts.Previous != v2 {
		t.Fatalf("version 3 = %q; want \"v3\" replacing version 2", v3.src)
	}
	if got := r.h.Scripts(); len(got) != 1 || got[0].Version != 3 || got[0].State != host.ScriptRunning {
		t.Fatalf("Scripts() = %+v", got)
	}
}

func TestGuestOptions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := filepath.Join(dir, "a.lua")
	b := filepath.Join(dir, "b.lua")
	write(t, a, "a")
	write(t, b, "b")
	cfg := &host.Config{Host: host.HostConfig{Workers: 3, CPUBudget: host.Duration{Duration: time.Second}}, Scripts: []host.ScriptConfig{
		{Path: a, Allow: []string{"internetClient", "loopback"}, Workers: 2},
	}}
	r := run(t, host.Options{Config: cfg, Paths: []string{b}, Allow: isolation.Capabilities(isolation.PrivateNetworkClientServer)})
	r.expect(t, "a", 1, false)
	r.expect(t, "b", 1, false)
	for _, tc := range []struct {
		src     string
		workers int
		caps    isolation.Capabilities
	}{
		{"a", 2, isolation.Capabilities(isolation.InternetClient | isolation.Loopback)},
		{"b", 3, isolation.Capabilities(isolation.PrivateNetworkClientServer)},
	} {
		var g *fakeGuest
		for _, x := range r.kind.all() {
			if x.src == tc.src {
				g = x
			}
		}
		if g == nil {
			t.Fatalf("%s did not start", tc.src)
		}
		if g.opts.Workers != tc.workers || g.opts.Env == nil || g.opts.Env.Guard != tc.caps || g.opts.Previous != nil {
			t.Errorf("%s started with workers %d, env %+v; want %d workers and guard %v", tc.src, g.opts.Workers, g.opts.Env, tc.workers, tc.caps)
		}
	}
}

// TestDebounce checks that a burst of events is one reload of the last
// content, and that an event that changes nothing reloads nothing. Each
// step ends on a later reload: OnReload calls come in order, so an extra
// reload would show before it.
func TestDebounce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "s.lua")
	write(t, path, "v1")
	r := run(t, host.Options{Paths: []string{path}})
	r.expect(t, "s", 1, false)

	for _, c := range []string{"v2a", "v2b", "v2c"} {
		write(t, path, c)
	}
	saveByRename(t, path, "v2")
	r.expect(t, "s", 2, false)
	if g := r.guest(t, 1); g.src != "v2" {
		t.Fatalf("version 2 = %q, want the last content \"v2\"", g.src)
	}

	write(t, path, "v2") // same content
	r.logs.wait(t, "content unchanged; nothing to reload")
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "notes.txt"), "not a script")
	write(t, path, "v3")
	r.expect(t, "s", 3, false)
	if n := len(r.kind.all()); n != 3 {
		t.Fatalf("%d versions started, want 3", n)
	}
}

func TestLoadErrorKeepsRunningVersion(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "s.lua")
	write(t, path, "v1")
	r := run(t, host.Options{Paths: []string{path}})
	r.expect(t, "s", 1, false)

	write(t, path, "error here")
	rl := r.expect(t, "s", 1, true)
	var le *host.LoadError
	if !errors.As(rl.err, &le) || le.Error() != path+":1:1: syntax error" {
		t.Fatalf("error %v; want a *LoadError %q", rl.err, path+":1:1: syntax error")
	}
	r.logs.wait(t, "level=ERROR msg=\"script failed to reload; its running version keeps running\" script=s err=\""+path+":1:1: syntax error\" version=1")
	if r.guest(t, 0).isStopped() {
		t.Fatal("the running version was stopped by a failed reload")
	}
	st := r.h.Scripts()[0]
	if st.State != host.ScriptRunning || st.Version != 1 || st.Err == nil {
		t.Fatalf("status %+v; want version 1 running, with the error", st)
	}

	write(t, path, "v2")
	r.expect(t, "s", 2, false)
	if g := r.guest(t, 1); g.opts.Previous != r.guest(t, 0) {
		t.Fatal("version 2 does not replace version 1")
	}
	if st := r.h.Scripts()[0]; st.Err != nil {
		t.Fatalf("the error outlived a good load: %v", st.Err)
	}
}

func TestFirstLoadFails(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.lua")
	good := filepath.Join(dir, "good.lua")
	write(t, bad, "error")
	write(t, good, "good")
	r := run(t, host.Options{Paths: []string{dir}})
	r.expect(t, "bad", 0, true)
	r.expect(t, "good", 1, false)
	r.logs.wait(t, "level=ERROR msg=\"script failed to load\" script=bad err=\""+bad+":1:1: syntax error\"")
	if st := r.h.Scripts(); st[0].State != host.ScriptFailed || st[1].State != host.ScriptRunning {
		t.Fatalf("states %v and %v; want failed and running", st[0].State, st[1].State)
	}
	write(t, bad, "fixed")
	r.expect(t, "bad", 1, false)
}

func TestDeletedFileKeepsRunning(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "s.lua")
	write(t, path, "v1")
	r := run(t, host.Options{Paths: []string{path}})
	r.expect(t, "s", 1, false)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	r.logs.wait(t, "script file is gone; its running version keeps running")
	if r.guest(t, 0).isStopped() {
		t.Fatal("deleting the file stopped the script")
	}
	write(t, path, "v2")
	r.expect(t, "s", 2, false)
}

func TestFolderPicksUpNewScripts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.lua"), "a")
	write(t, filepath.Join(dir, "a_test.lua"), "a test")
	write(t, filepath.Join(dir, ".hidden.lua"), "hidden")
	write(t, filepath.Join(dir, "readme.txt"), "text")
	if err := os.Mkdir(filepath.Join(dir, "sub.lua"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := run(t, host.Options{Paths: []string{dir}})
	r.expect(t, "a", 1, false)

	saveByRename(t, filepath.Join(dir, "b.lua"), "b")
	r.expect(t, "b", 1, false)
	write(t, filepath.Join(dir, "b_test.lua"), "b test")
	write(t, filepath.Join(dir, "c.lua"), "c")
	r.expect(t, "c", 1, false)
	var names []string
	for _, st := range r.h.Scripts() {
		names = append(names, st.Name)
	}
	if got := strings.Join(names, " "); got != "a b c" {
		t.Fatalf("scripts %q, want \"a b c\"", got)
	}
}

func TestSameNameRefused(t *testing.T) {
	t.Parallel()
	d1, d2 := t.TempDir(), t.TempDir()
	write(t, filepath.Join(d1, "echo.lua"), "one")
	write(t, filepath.Join(d2, "echo.lua"), "two")
	r := run(t, host.Options{Paths: []string{d1, d2}})
	r.expect(t, "echo", 1, false)
	r.logs.wait(t, "another script has its name")
	if n := len(r.h.Scripts()); n != 1 {
		t.Fatalf("%d scripts, want 1", n)
	}
}

func TestDrainTimeout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "s.lua")
	write(t, path, "v1")
	cfg := &host.Config{Host: host.HostConfig{DrainTimeout: host.Duration{Duration: 50 * time.Millisecond},
		CPUBudget: host.Duration{Duration: time.Second}}, Scripts: []host.ScriptConfig{{Path: path}}}
	r := run(t, host.Options{Config: cfg})
	r.expect(t, "s", 1, false)
	write(t, path, "v2")
	r.expect(t, "s", 2, false)
	r.guest(t, 0).waitStopped(t) // never released: the timeout stops it
	r.logs.wait(t, "msg=\"previous version stopped\" script=s version=1 drained=false")
}

func TestReloadMethod(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "s.lua")
	write(t, path, "v1")
	r := run(t, host.Options{Paths: []string{dir}})
	r.expect(t, "s", 1, false)
	if err := r.h.Reload(path); err != nil { // same content: a forced reload
		t.Fatal(err)
	}
	r.expect(t, "s", 2, false)
	write(t, path, "error")
	var le *host.LoadError
	if err := r.h.Reload(path); !errors.As(err, &le) {
		t.Fatalf("Reload of a broken file = %v, want a *LoadError", err)
	}
	// The watcher also saw the write: if its load came after Reload's,
	// it skipped the same content; if before, it reported the error too.
	r.expect(t, "s", 2, true)
	write(t, path, "v3")
	for rl := r.next(t); rl.err != nil; rl = r.next(t) {
		if rl.version != 2 {
			t.Fatalf("reload %+v, want version 2 kept", rl)
		}
	}
	if st := r.h.Scripts()[0]; st.Version != 3 {
		t.Fatalf("version %d after a good write, want 3", st.Version)
	}
	if err := r.h.Reload(filepath.Join(t.TempDir(), "x.lua")); err == nil {
		t.Fatal("Reload of a file outside the host's folders succeeded")
	}
}

func TestShutdownStopsDraining(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.lua")
	write(t, path, "v1")
	r := run(t, host.Options{Paths: []string{path}}) // cleanup checks that every version stopped
	r.expect(t, "s", 1, false)
	write(t, path, "v2")
	r.expect(t, "s", 2, false)
	// Version 1 drains with its connections open; Run's end stops it.
}

func TestReloadNotRunning(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "s.lua")
	write(t, path, "v1")
	logs := &logSink{t: t, changed: make(chan struct{})}
	h, err := host.New(host.Options{Paths: []string{path}, Scripts: &fakeKind{}, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Reload(path); !errors.Is(err, host.ErrNotRunning) {
		t.Fatalf("Reload before Run = %v, want ErrNotRunning", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.Run(ctx); err == nil {
		t.Fatal("a second Run succeeded")
	}
	if err := h.Reload(path); !errors.Is(err, host.ErrNotRunning) {
		t.Fatalf("Reload after Run = %v, want ErrNotRunning", err)
	}
	if st := h.Scripts(); len(st) != 1 || st[0].State != host.ScriptStopped {
		t.Fatalf("Scripts() after Run = %+v, want one stopped", st)
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "s.lua")
	write(t, path, "v1")
	kind := &fakeKind{}
	for _, tc := range []struct {
		name string
		opts host.Options
		want string
	}{
		{"no kind", host.Options{Paths: []string{path}}, "Options.Scripts is nil"},
		{"nothing", host.Options{Scripts: kind}, "no script to run"},
		{"missing", host.Options{Scripts: kind, Paths: []string{filepath.Join(dir, "missing.lua")}}, "no such file"},
		{"twice", host.Options{Scripts: kind, Paths: []string{path, path}}, "named twice"},
		{"invalid config", host.Options{Scripts: kind, Config: &host.Config{Scripts: []host.ScriptConfig{{Path: path, Allow: []string{"bogus"}}}}}, "bogus"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := host.New(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestLoadErrorText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  *host.LoadError
		want string
	}{
		{&host.LoadError{File: "a.lua", Line: 3, Column: 7, Message: "near '=': syntax error"}, "a.lua:3:7: near '=': syntax error"},
		{&host.LoadError{File: "a.lua", Line: 3, Message: "boom"}, "a.lua:3: boom"},
		{&host.LoadError{File: "a.lua", Err: errors.New("open: gone")}, "a.lua: open: gone"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

// TestShutdownClosesBroker checks that the host closes its broker when
// it stops, after its guests.
func TestShutdownClosesBroker(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "s.lua")
	write(t, path, "v1")
	b := trigger.NewBroker(trigger.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	h, err := host.New(host.Options{Paths: []string{path}, Scripts: &fakeKind{}, Broker: b,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := b.NewControlChannelTrigger("after", 15, trigger.RequestSoftwareSlot); socketerror.HResultOf(err) != socketerror.EClosed {
		t.Fatalf("the broker is open after the host stopped: %v", err)
	}
}
