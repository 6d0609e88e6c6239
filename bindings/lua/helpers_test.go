package lua_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	lua "github.com/netrun/netrun/bindings/lua"
	"github.com/netrun/netrun/runtime/sockets"
)

// output collects what scripts print and lets a test wait for a line.
type output struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newOutput() *output { return &output{changed: make(chan struct{})} }

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(p)
	close(o.changed)
	o.changed = make(chan struct{})
	return len(p), nil
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// wait waits until the output contains substr and returns the output.
func (o *output) wait(t testing.TB, substr string) string {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		o.mu.Lock()
		s, ch := o.buf.String(), o.changed
		o.mu.Unlock()
		if strings.Contains(s, substr) {
			return s
		}
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("timed out waiting for %q in the script's output:\n%s", substr, s)
		}
	}
}

// logSink sends logs to the test and records them for assertions.
type logSink struct {
	t  testing.TB
	mu sync.Mutex
	b  strings.Builder
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.b.Write(p)
	l.mu.Unlock()
	l.t.Logf("%s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type harness struct {
	engine *lua.Engine
	out    *output
	logs   *logSink
	dir    string
}

func newHarness(t testing.TB, budget time.Duration) *harness {
	h := &harness{out: newOutput(), logs: &logSink{t: t}, dir: t.TempDir()}
	e, err := lua.NewEngine(lua.EngineOptions{
		Logger:    slog.New(slog.NewTextHandler(h.logs, nil)),
		Stdout:    h.out,
		CPUBudget: budget,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.engine = e
	return h
}

// write puts a script file in the harness's folder and returns its path.
func (h *harness) write(t testing.TB, name, src string) string {
	p := filepath.Join(h.dir, name)
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// start writes and starts a script, stopped at cleanup.
func (h *harness) start(t testing.TB, name, src string, workers int, env *sockets.Env) *lua.Script {
	t.Helper()
	s, err := h.engine.Start(h.write(t, name, src), lua.ScriptOptions{Workers: workers, Env: env})
	if err != nil {
		t.Fatalf("Start %s: %v", name, lua.ErrorText(err))
	}
	t.Cleanup(s.Stop)
	return s
}
