package host_test

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	pluginhost "github.com/netrun/netrun/bindings/plugin/host"
	"github.com/netrun/netrun/internal/testpeer"
	rthost "github.com/netrun/netrun/runtime/host"
	"github.com/netrun/netrun/runtime/isolation"
	"github.com/netrun/netrun/runtime/sockets"
)

// waitTimeout bounds every wait; waits end on events, not on time.
const waitTimeout = 30 * time.Second

// bins are the plugin binaries TestMain builds; set once, before any test.
var bins struct{ echo, raw, sdkcheck, broker, cct, ws, tls, udp string }

// binsDirEnv names the directory of plugin binaries TestMain built, for a
// copy of the test binary that a test re-executes (in a network namespace,
// testpeer.ExecTest): set, TestMain uses those binaries and builds none.
const binsDirEnv = "NETRUN_PLUGIN_TEST_BINS"

// binsDir is the directory of bins.
var binsDir string

func TestMain(m *testing.M) {
	flag.Parse()
	built := os.Getenv(binsDirEnv)
	binsDir = built
	if built == "" {
		dir, err := os.MkdirTemp("", "netrun-plugin-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		binsDir = dir
	}
	bins.echo = filepath.Join(binsDir, "netrun-echo")
	bins.raw = filepath.Join(binsDir, "rawplugin")
	bins.sdkcheck = filepath.Join(binsDir, "sdkcheck")
	bins.broker = filepath.Join(binsDir, "brokerplugin")
	bins.cct = filepath.Join(binsDir, "cctplugin")
	bins.ws = filepath.Join(binsDir, "wsplugin")
	bins.tls = filepath.Join(binsDir, "tlsplugin")
	bins.udp = filepath.Join(binsDir, "udpplugin")
	if built == "" {
		// Tests run the plugins with the race detector; benchmarks without.
		build := []string{"build", "-race"}
		if f := flag.Lookup("test.bench"); f != nil && f.Value.String() != "" {
			build = []string{"build"}
		}
		for out, pkg := range map[string]string{bins.echo: "../../../plugins/echo/cmd/netrun-echo", bins.raw: "./testdata/rawplugin",
			bins.sdkcheck: "./testdata/sdkcheck", bins.broker: "./testdata/brokerplugin",
			bins.cct: "./testdata/cctplugin", bins.ws: "./testdata/wsplugin", bins.tls: "./testdata/tlsplugin",
			bins.udp: "./testdata/udpplugin"} {
			if b, err := exec.Command("go", append(build, "-o", out, pkg)...).CombinedOutput(); err != nil {
				os.RemoveAll(binsDir)
				fmt.Fprintf(os.Stderr, "go build %s: %v\n%s", pkg, err, b)
				os.Exit(1)
			}
		}
	}
	code := m.Run()
	if built == "" {
		os.RemoveAll(binsDir)
	}
	if err := testpeer.CheckLeaks(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
		code = max(code, 1)
	}
	os.Exit(code)
}

// recorder collects a runner's events and log records, and wakes waiters
// on each.
type recorder struct {
	mu      sync.Mutex
	events  []pluginhost.Event
	logs    []string
	attrs   []map[string]any
	changed chan struct{}
	t       *testing.T
}

func newRecorder(t *testing.T) *recorder { return &recorder{changed: make(chan struct{}), t: t} }

func (r *recorder) observe(e pluginhost.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	close(r.changed)
	r.changed = make(chan struct{})
}

// waitFor waits until cond, evaluated under the lock, holds.
func (r *recorder) waitFor(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.After(waitTimeout)
	for {
		r.mu.Lock()
		ok := cond()
		ch := r.changed
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			r.mu.Lock()
			defer r.mu.Unlock()
			r.t.Fatalf("timed out waiting for %s; events %+v\nlogs:\n%s", what, r.events, strings.Join(r.logs, "\n"))
		}
	}
}

// event waits for the first event that matches.
func (r *recorder) event(what string, match func(pluginhost.Event) bool) pluginhost.Event {
	r.t.Helper()
	var found pluginhost.Event
	r.waitFor(what, func() bool {
		for _, e := range r.events {
			if match(e) {
				found = e
				return true
			}
		}
		return false
	})
	return found
}

// Handle etc. make the recorder a slog.Handler.
func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithGroup(string) slog.Handler            { return r }
func (r *recorder) WithAttrs(as []slog.Attr) slog.Handler {
	return &attrHandler{r: r, attrs: as}
}
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	return (&attrHandler{r: r}).Handle(context.Background(), rec)
}

type attrHandler struct {
	r     *recorder
	attrs []slog.Attr
}

func (h *attrHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *attrHandler) WithGroup(string) slog.Handler            { return h }
func (h *attrHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &attrHandler{r: h.r, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}
func (h *attrHandler) Handle(_ context.Context, rec slog.Record) error {
	m := map[string]any{"msg": rec.Message, "level": rec.Level.String()}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", rec.Level, rec.Message)
	add := func(a slog.Attr) bool {
		m[a.Key] = a.Value.Any()
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value.Any())
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	rec.Attrs(add)
	h.r.mu.Lock()
	defer h.r.mu.Unlock()
	h.r.logs = append(h.r.logs, b.String())
	h.r.attrs = append(h.r.attrs, m)
	close(h.r.changed)
	h.r.changed = make(chan struct{})
	return nil
}

// logged waits for a log record with msg and returns its attributes.
func (r *recorder) logged(msg string, match func(map[string]any) bool) map[string]any {
	r.t.Helper()
	var found map[string]any
	r.waitFor("log "+msg, func() bool {
		for _, a := range r.attrs {
			if a["msg"] == msg && (match == nil || match(a)) {
				found = a
				return true
			}
		}
		return false
	})
	return found
}

// newRunner returns a runner that reports to a new recorder.
func newRunner(t *testing.T, opts pluginhost.Options) (*pluginhost.Runner, *recorder) {
	rec := newRecorder(t)
	opts.Logger = slog.New(rec)
	opts.Observe = rec.observe
	return pluginhost.New(opts), rec
}

// startPlugin starts a plugin and stops it when the test ends.
func startPlugin(t *testing.T, r *pluginhost.Runner, name string, caps isolation.Capabilities, argv ...string) rthost.Guest {
	t.Helper()
	return startPluginEnv(t, r, name, &sockets.Env{Guard: caps}, argv...)
}

// startPluginEnv is startPlugin with the plugin's whole Env.
func startPluginEnv(t *testing.T, r *pluginhost.Runner, name string, env *sockets.Env, argv ...string) rthost.Guest {
	t.Helper()
	g, err := r.StartPlugin(context.Background(), rthost.PluginConfig{Name: name, Command: argv}, env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Stop)
	return g
}

// bound waits for plugin's first bound socket of an instance.
func bound(rec *recorder, plugin string, instance int) pluginhost.Event {
	return rec.event(plugin+" bound", func(e pluginhost.Event) bool {
		return e.Kind == pluginhost.Bound && e.Plugin == plugin && e.Instance == instance
	})
}

func started(rec *recorder, plugin string, instance int) pluginhost.Event {
	return rec.event(fmt.Sprintf("%s instance %d started", plugin, instance), func(e pluginhost.Event) bool {
		return e.Kind == pluginhost.Started && e.Plugin == plugin && e.Instance == instance
	})
}

// echoOnce checks one round trip through the echo at addr.
func echoOnce(t *testing.T, addr, msg string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitTimeout))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("echo of %q: %v", msg, err)
	}
	if string(got) != msg {
		t.Fatalf("echo of %q came back as %q", msg, got)
	}
}

func TestGoPluginEcho(t *testing.T) {
	r, rec := newRunner(t, pluginhost.Options{})
	startPlugin(t, r, "echo", isolation.Capabilities(isolation.Loopback), bins.echo, "-addr", "127.0.0.1:0")
	addr := bound(rec, "echo", 1).Addr
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(waitTimeout))
			for j := range 100 {
				msg := fmt.Sprintf("conn %d message %d", i, j)
				io.WriteString(c, msg)
				got := make([]byte, len(msg))
				if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
					t.Errorf("echo of %q: got %q, %v", msg, got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	// A large write crosses several reads and batches.
	big := strings.Repeat("0123456789abcdef", 1<<14)
	echoOnce(t, addr, big)
}

func TestCapabilityRefused(t *testing.T) {
	r, rec := newRunner(t, pluginhost.Options{MinBackoff: time.Hour})
	startPlugin(t, r, "nocaps", 0, bins.echo, "-addr", "127.0.0.1:0")
	a := rec.logged("plugin stopped with an error", nil)
	if err := fmt.Sprint(a["err"]); !strings.Contains(err, "loopback capability is required") || !strings.Contains(err, "access denied") {
		t.Fatalf("the refusal is %q, want E_ACCESSDENIED naming the loopback capability", err)
	}
}

// pinger keeps one 16-byte message in flight on c, each carrying the
// connection's number and a sequence number, and checks every echo.
type pinger struct {
	c    net.Conn
	id   uint32
	tick chan<- struct{} // told after every message, never blocking
	sent atomic.Uint64
	err  error
}

func (p *pinger) run(stop <-chan struct{}) {
	msg := make([]byte, 16)
	got := make([]byte, 16)
	for seq := uint64(1); ; seq++ {
		select {
		case <-stop:
			return
		default:
		}
		binary.BigEndian.PutUint32(msg, p.id)
		binary.BigEndian.PutUint64(msg[4:], seq)
		copy(msg[12:], "ECHO")
		p.c.SetDeadline(time.Now().Add(waitTimeout))
		if _, err := p.c.Write(msg); err != nil {
			p.err = fmt.Errorf("conn %d message %d: write: %w", p.id, seq, err)
			return
		}
		if _, err := io.ReadFull(p.c, got); err != nil {
			p.err = fmt.Errorf("conn %d message %d: read: %w", p.id, seq, err)
			return
		}
		if string(got) != string(msg) {
			p.err = fmt.Errorf("conn %d message %d: sent %x, got back %x (a byte lost or repeated)", p.id, seq, msg, got)
			return
		}
		p.sent.Store(seq)
		select {
		case p.tick <- struct{}{}:
		default:
		}
	}
}

// waitSent waits until every pinger has sent at least its min, or one
// has failed.
func waitSent(t *testing.T, pingers []*pinger, tick <-chan struct{}, min []uint64) {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		done := true
		for i, p := range pingers {
			if p.sent.Load() < min[i] {
				done = false
			}
		}
		if done {
			return
		}
		select {
		case <-tick:
		case <-deadline:
			for _, p := range pingers {
				t.Logf("conn %d: %d messages, err %v", p.id, p.sent.Load(), p.err)
			}
			t.Fatal("timed out waiting for the connections to make progress")
		}
	}
}

// TestKill9UnderLoad kills a plugin with SIGKILL while connections to it
// ping-pong: the host and its other plugin keep serving, the plugin comes
// back, the connections it transferred carry on with every byte echoed
// exactly once, and a connection it had not transferred is closed with
// FIN.
func TestKill9UnderLoad(t *testing.T) {
	r, rec := newRunner(t, pluginhost.Options{})
	loop := isolation.Capabilities(isolation.Loopback)
	startPlugin(t, r, "kept", loop, bins.echo, "-addr", "127.0.0.1:0", "-transfer")
	startPlugin(t, r, "plain", loop, bins.echo, "-addr", "127.0.0.1:0")
	startPlugin(t, r, "other", loop, bins.echo, "-addr", "127.0.0.1:0")
	kb := bound(rec, "kept", 1)
	kept, plain, other := kb.Addr, bound(rec, "plain", 1).Addr, bound(rec, "other", 1).Addr
	rec.event("kept's listener transferred", func(e pluginhost.Event) bool {
		return e.Kind == pluginhost.Transferred && e.Socket == kb.Socket
	})
	keptPID, plainPID := started(rec, "kept", 1).PID, started(rec, "plain", 1).PID

	const conns = 8
	stop := make(chan struct{})
	tick := make(chan struct{}, 1)
	var wg sync.WaitGroup
	pingers := make([]*pinger, conns)
	for i := range pingers {
		c, err := net.Dial("tcp", kept)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		pingers[i] = &pinger{c: c, id: uint32(i), tick: tick}
		wg.Add(1)
		go func() {
			defer wg.Done()
			pingers[i].run(stop)
		}()
	}
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()
	plainConn, err := net.Dial("tcp", plain)
	if err != nil {
		t.Fatal(err)
	}
	defer plainConn.Close()
	echoConn(t, plainConn, "before")

	fifty := make([]uint64, conns)
	for i := range fifty {
		fifty[i] = 50
	}
	waitSent(t, pingers, tick, fifty)
	if err := syscall.Kill(keptPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(plainPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	rec.event("kept exited", func(e pluginhost.Event) bool { return e.Kind == pluginhost.Exited && e.Plugin == "kept" })
	// The host and its other plugin serve on while kept is down.
	echoOnce(t, other, "still serving")
	// The connection plain had not transferred is closed cleanly: FIN,
	// so the peer reads end of stream, not a reset.
	plainConn.SetReadDeadline(time.Now().Add(waitTimeout))
	if n, err := plainConn.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("a non-transferred connection of a killed plugin: read %d, %v; want EOF (FIN)", n, err)
	}
	started(rec, "kept", 2)
	rec.waitFor("kept reclaims its listener and connections", func() bool {
		n := 0
		for _, e := range rec.events {
			if e.Kind == pluginhost.Reclaimed && e.Plugin == "kept" && e.Instance == 2 {
				n++
			}
		}
		return n == conns+1
	})
	more := make([]uint64, conns)
	for i, p := range pingers {
		more[i] = p.sent.Load() + 50
	}
	waitSent(t, pingers, tick, more)
	close(stop)
	wg.Wait()
	for _, p := range pingers {
		if p.err != nil {
			t.Error(p.err)
		}
	}
	// The listener survived too: same address, new connections served.
	echoOnce(t, kept, "after the restart")
	started(rec, "plain", 2)
	echoOnce(t, bound(rec, "plain", 2).Addr, "plain is back")
}

// echoConn checks one round trip on c.
func echoConn(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(waitTimeout))
	io.WriteString(c, msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
		t.Fatalf("echo of %q: got %q, %v", msg, got, err)
	}
	c.SetDeadline(time.Time{})
}

// TestMalformedCommands drives the host with commands the SDK never
// sends: each gets an error that names what was wrong, and the host and
// the plugin go on.
func TestMalformedCommands(t *testing.T) {
	r, rec := newRunner(t, pluginhost.Options{})
	startPlugin(t, r, "raw", isolation.Capabilities(isolation.Loopback), bins.raw, "malformed")
	a := rec.logged("results", nil)
	res, _ := a["results"].(map[string]any)
	want := map[string][]string{
		"1":    {"0x80070057", "socket 999999 is not open"},
		"2":    {"0x80070057", "socket id 0 names no socket"},
		"1000": {"protocol error", "op id 0 is reserved"},
		"1003": {"protocol error", "carries no operation"},
		"4":    {"created"},
		"5":    {"0x80070057", "is a StreamSocketListener", "needs a StreamSocket"},
		"6":    {"0x80070057", "not waiting to be reclaimed"},
		"7":    {"created"},
		"8":    {"0x80070057", "over max_payload"},
		"10":   {"0x80070057", "count 0"},
		"1009": {"protocol error", "op id 9 is already in flight"},
		"11":   {"ok"},
		"9":    {"error"},
		"12":   {"0x80070057", "is not open"},
		"13":   {"0x80070057", "is a StreamSocketListener"},
		"14":   {"0x80070057", "validationHostName"},
		"15":   {"0x80070057", "IgnorableServerCertificateErrors", "Revoked cannot be ignored"},
		"16":   {"0x80070057", "MinProtectionLevel"},
		"17":   {"0x80070057", "PlainSocket is not a TLS level"},
		"18":   {"0x80070057", "StreamSocketControl.OutboundUnicastHopLimit", "300: must be 1 to 255"},
		"19":   {"0x80070057", "StreamSocketControl.QualityOfService"},
		"20":   {"0x80070057", "SerializeConnectionAttempts"},
		"21":   {"0x80070057", "DatagramSocketControl.OutboundUnicastHopLimit"},
		"22":   {"0x80070057", "DatagramSocketControl.QualityOfService"},
		"23":   {"0x80070057", "StreamSocketControl.ClientCertificate", "client_certificate_pem"},
		"24":   {"0x80070057", "client_key_pem", "send both or neither"},
		"25":   {"0x80070057", "StreamSocketListenerControl", "ClientCertificate"},
	}
	for op, subs := range want {
		got := fmt.Sprint(res[op])
		for _, s := range subs {
			if !strings.Contains(got, s) {
				t.Errorf("op %s: got %q, want it to contain %q", op, got, s)
			}
		}
	}
	rec.mu.Lock()
	for _, e := range rec.events {
		if e.Kind == pluginhost.Exited {
			t.Errorf("the plugin was stopped for its bad commands: %+v", e)
		}
	}
	rec.mu.Unlock()
}

// TestUnresponsivePluginIsKilled: a plugin that stops answering pings is
// killed and started again; the host does not wait on it.
func TestUnresponsivePluginIsKilled(t *testing.T) {
	r, rec := newRunner(t, pluginhost.Options{PingInterval: 50 * time.Millisecond, PingTimeout: 300 * time.Millisecond, ShutdownTimeout: 100 * time.Millisecond})
	startPlugin(t, r, "hang", 0, bins.raw, "hang")
	e := rec.event("hang exited", func(e pluginhost.Event) bool { return e.Kind == pluginhost.Exited && e.Plugin == "hang" })
	if e.Err == nil || !strings.Contains(e.Err.Error(), "no answer to pings") {
		t.Fatalf("the plugin ended with %v, want no answer to pings", e.Err)
	}
	started(rec, "hang", 2)
	rec.logged("plugin exited; restarting it", func(a map[string]any) bool {
		return strings.Contains(fmt.Sprint(a["status"]), "no answer to pings") && a["retry_in"] != nil
	})
}

// TestPythonPluginEcho runs plugins/python/echo_plugin.py, which speaks
// the protocol with Debian's python3-grpcio alone (AutoMTLS included), and
// checks its echo. `make deps` installs python3-grpcio; in CI a missing
// one fails the test rather than skipping it.
func TestPythonPluginEcho(t *testing.T) {
	const python = "/usr/bin/python3" // Debian's, which has python3-grpcio; not a pyenv shim
	if out, err := exec.Command(python, "-c", "import grpc, google.protobuf").CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s cannot import grpc (make deps installs python3-grpcio and python3-protobuf): %v\n%s", python, err, out)
		}
		t.Skipf("%s cannot import grpc: apt-get install python3-grpcio python3-protobuf (make deps does)", python)
	}
	script, err := filepath.Abs("../../../plugins/python/echo_plugin.py")
	if err != nil {
		t.Fatal(err)
	}
	r, rec := newRunner(t, pluginhost.Options{})
	startPlugin(t, r, "pyecho", isolation.Capabilities(isolation.Loopback), python, script, "127.0.0.1", "0")
	addr := bound(rec, "pyecho", 1).Addr
	echoOnce(t, addr, "hello from Go, through Python")
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			for j := range 50 {
				msg := fmt.Sprintf("conn %d message %d", i, j)
				c.SetDeadline(time.Now().Add(waitTimeout))
				io.WriteString(c, msg)
				got := make([]byte, len(msg))
				if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
					t.Errorf("echo of %q: got %q, %v", msg, got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	rec.logged("python echo plugin listening", nil)
}

// TestLazyRestart: a lazy plugin that dies holding a transferred listener
// is started again only by the next connection to it, which it then
// serves.
func TestLazyRestart(t *testing.T) {
	r, rec := newRunner(t, pluginhost.Options{})
	g, err := r.StartPlugin(context.Background(), rthost.PluginConfig{Name: "lazy", Lazy: true,
		Command: []string{bins.echo, "-addr", "127.0.0.1:0", "-transfer"}}, &sockets.Env{Guard: isolation.Capabilities(isolation.Loopback)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Stop)
	b := bound(rec, "lazy", 1)
	addr := b.Addr
	rec.event("the listener transferred", func(e pluginhost.Event) bool {
		return e.Kind == pluginhost.Transferred && e.Socket == b.Socket
	})
	if err := syscall.Kill(started(rec, "lazy", 1).PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	rec.logged("plugin waits for activity on a socket it transferred before starting again", nil)
	rec.mu.Lock()
	for _, e := range rec.events {
		if e.Kind == pluginhost.Started && e.Instance == 2 {
			t.Errorf("the lazy plugin started again with no activity: %+v", e)
		}
	}
	rec.mu.Unlock()
	echoOnce(t, addr, "wake up")
	started(rec, "lazy", 2)
}

// TestSDK runs a Go plugin that drives every SDK class through the host
// and checks the errors it gets: statuses, HRESULTs, io.EOF,
// net.ErrClosed, a timed-out read that loses nothing, datagrams.
func TestSDK(t *testing.T) {
	r, rec := newRunner(t, pluginhost.Options{})
	startPlugin(t, r, "sdkcheck", isolation.Capabilities(isolation.Loopback), bins.sdkcheck)
	wantChecks(t, rec, 15)
}

// wantChecks waits for a checking plugin's "checks done" and fails the
// test for each "check" record that is not ok, or if fewer than min ran.
func wantChecks(t *testing.T, rec *recorder, min int) {
	t.Helper()
	rec.logged("checks done", nil)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	n := 0
	for _, a := range rec.attrs {
		if a["msg"] != "check" {
			continue
		}
		n++
		if a["ok"] != true {
			t.Errorf("check %v failed: %v", a["name"], a["detail"])
		}
	}
	if n < min {
		t.Errorf("only %d checks ran", n)
	}
}
