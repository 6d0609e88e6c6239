package lua_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	lua "github.com/netrun/netrun/bindings/lua"
	"github.com/netrun/netrun/runtime/host"
	"github.com/netrun/netrun/runtime/isolation"
)

// reloadScript is a line echo server whose replies start with its
// version: "v7 " .. line. {{VERSION}} and {{PORT}} are filled in.
const reloadScript = `
local net = require("netrun")
local prefix = "v{{VERSION}} "
net.state.loads = (net.state.loads or 0) + 1
local listener = net.StreamSocketListener.new()
listener.ConnectionReceived:add(function(sender, args)
	local s = args.Socket
	local pending = ""
	while true do
		local data = s.InputStream:ReadAsync(4096):await()
		if data == "" then break end
		pending = pending .. data
		local replies = {}
		for line in string.gmatch(pending, "[^\n]*\n") do
			replies[#replies + 1] = prefix .. line
		end
		pending = string.match(pending, "[^\n]*$")
		if #replies > 0 then
			s.OutputStream:WriteAsync(table.concat(replies)):await()
		end
	end
	s:Close()
end)
listener:BindEndpointAsync("127.0.0.1", "{{PORT}}"):await()
print("v{{VERSION}} loads " .. net.state.loads)
`

const (
	reloadClients  = 32
	reloadRewrites = 20
	// reloadBroken is the rewrite that has a syntax error.
	reloadBroken = 11
	// freshPerVersion is how many connections each good version must
	// have answered before the next rewrite.
	freshPerVersion = 8
)

func reloadSource(version int, port string) string {
	src := strings.NewReplacer("{{VERSION}}", strconv.Itoa(version), "{{PORT}}", port).Replace(reloadScript)
	if version == reloadBroken {
		src += "local broken = = 1\n"
	}
	return src
}

// reloadEvent is one OnReload call.
type reloadEvent struct {
	name    string
	version int
	err     error
}

// reloadLoad counts what the clients saw.
type reloadLoad struct {
	live      atomic.Int64 // the newest good version whose reload has been reported
	requests  atomic.Int64
	fresh     [reloadRewrites + 1]atomic.Int64 // connections whose first reply came from each version
	oldServed atomic.Int64                     // replies from a version older than the live one
	progress  chan struct{}                    // signalled after each first reply
}

// TestReloadUnderLoad is the reload test issue 3 asks for: 32 connections
// in a request/response loop while the script file is rewritten 20 times
// (in place and by rename, one rewrite with a syntax error), driven
// through runtime/host's watcher. No request fails, no connect is refused,
// a connection keeps the version that accepted it until it closes, and a
// connection opened after a version is live is served by it or a newer one.
func TestReloadUnderLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "reload.lua")
	port := freeTCPPort(t)
	addr := "127.0.0.1:" + port
	if err := os.WriteFile(path, []byte(reloadSource(0, port)), 0o644); err != nil {
		t.Fatal(err)
	}

	logs := &logSink{t: t}
	log := slog.New(slog.NewTextHandler(logs, nil))
	out := newOutput()
	engine, err := lua.NewEngine(lua.EngineOptions{Logger: log, Stdout: out})
	if err != nil {
		t.Fatal(err)
	}
	reloads := make(chan reloadEvent, reloadRewrites+1)
	h, err := host.New(host.Options{
		Paths:   []string{path},
		Allow:   isolation.Capabilities(isolation.Loopback),
		Scripts: engine,
		Logger:  log,
		OnReload: func(name string, version int, err error) {
			reloads <- reloadEvent{name, version, err}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- h.Run(ctx) }()
	var hostStopped sync.Once
	stopHost := func() {
		hostStopped.Do(func() {
			cancel()
			select {
			case err := <-runDone:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("Run did not return after its context ended")
			}
		})
	}
	defer stopHost()

	nextReload := func() reloadEvent {
		t.Helper()
		select {
		case ev := <-reloads:
			return ev
		case <-time.After(10 * time.Second):
			t.Fatal("no reload reported within 10s")
			return reloadEvent{}
		}
	}
	if ev := nextReload(); ev.err != nil || ev.version != 1 {
		t.Fatalf("first load: version %d, %v", ev.version, ev.err)
	}
	// A first load has no listener to take over: the script prints once
	// it has bound.
	out.wait(t, "v0 loads 1")

	load := &reloadLoad{progress: make(chan struct{}, 1)}
	stop := make(chan struct{})
	errs := make(chan error, reloadClients)
	var wg sync.WaitGroup
	for i := range reloadClients {
		wg.Go(func() { errs <- reloadClient(i, addr, load, stop) })
	}
	clientsDone := false
	stopClients := func() {
		if clientsDone {
			return
		}
		clientsDone = true
		close(stop)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
	}
	defer stopClients()
	waitFresh(t, load, 0)

	hostVersion := 1
	for v := 1; v <= reloadRewrites; v++ {
		src := reloadSource(v, port)
		if v%2 == 0 {
			if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
		} else {
			tmp := filepath.Join(dir, fmt.Sprintf(".reload.lua.%d.tmp", v))
			if err := os.WriteFile(tmp, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		}
		ev := nextReload()
		if v == reloadBroken {
			var le *host.LoadError
			if !errors.As(ev.err, &le) || le.Line == 0 || ev.version != hostVersion {
				t.Fatalf("rewrite %d (syntax error): reload reported version %d, %v; want a *host.LoadError with a line, version %d kept",
					v, ev.version, ev.err, hostVersion)
			}
			// The kept version goes on serving, new connections too.
			before := load.fresh[v-1].Load()
			waitFreshAbove(t, load, v-1, before+freshPerVersion)
			continue
		}
		hostVersion++
		if ev.err != nil || ev.version != hostVersion {
			t.Fatalf("rewrite %d: reload reported version %d, %v; want version %d", v, ev.version, ev.err, hostVersion)
		}
		load.live.Store(int64(v))
		waitFresh(t, load, v)
	}

	// A fresh connection is answered by the last version.
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "last\n")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if want := fmt.Sprintf("v%d last\n", reloadRewrites); err != nil || line != want {
		t.Fatalf("fresh connection after the last reload: %q, %v; want %q", line, err, want)
	}
	c.Close()

	stopClients()
	t.Logf("%d requests; %d replies from a version older than the live one", load.requests.Load(), load.oldServed.Load())
	if load.oldServed.Load() == 0 {
		t.Error("no connection outlived a reload: the test did not show old versions serving their connections")
	}
	if st := h.Scripts(); len(st) != 1 || st[0].Version != reloadRewrites || st[0].State != host.ScriptRunning {
		t.Errorf("Scripts() = %+v; want one script running version %d", st, reloadRewrites)
	}
	// netrun.state carried over: each good version counted its load.
	out.wait(t, fmt.Sprintf("v%d loads %d", reloadRewrites, reloadRewrites))
	stopHost()
}

// reloadClient connects, sends numbered lines and checks each reply until
// stop closes, reconnecting every few requests. A connection's replies
// must all come from the version that answered its first, which must be
// at least the version live when it connected.
func reloadClient(id int, addr string, load *reloadLoad, stop <-chan struct{}) error {
	for conn := 0; ; conn++ {
		select {
		case <-stop:
			return nil
		default:
		}
		live := int(load.live.Load())
		c, err := net.Dial("tcp4", addr)
		if err != nil {
			return fmt.Errorf("client %d: connect #%d: %w", id, conn, err)
		}
		err = reloadConn(c, id, conn, live, load, stop)
		c.Close()
		if err != nil {
			return err
		}
	}
}

func reloadConn(c net.Conn, id, conn, live int, load *reloadLoad, stop <-chan struct{}) error {
	r := bufio.NewReader(c)
	version := -1
	n := 4 + (id*7+conn)%17 // requests on this connection
	for j := range n {
		if j > 0 {
			select {
			case <-stop:
				return nil
			default:
			}
		}
		msg := fmt.Sprintf("client %d conn %d request %d\n", id, conn, j)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, msg); err != nil {
			return fmt.Errorf("client %d conn %d: write: %w", id, conn, err)
		}
		reply, err := r.ReadString('\n')
		if err != nil {
			return fmt.Errorf("client %d conn %d request %d: read: %w (after %q)", id, conn, j, err, reply)
		}
		prefix, rest, ok := strings.Cut(reply, " ")
		got, perr := strconv.Atoi(strings.TrimPrefix(prefix, "v"))
		if !ok || rest != msg || perr != nil || !strings.HasPrefix(prefix, "v") {
			return fmt.Errorf("client %d conn %d: sent %q, got %q", id, conn, msg, reply)
		}
		load.requests.Add(1)
		if version < 0 {
			version = got
			if got < live {
				return fmt.Errorf("client %d conn %d: a connection made while v%d was live was served by v%d", id, conn, live, got)
			}
			load.fresh[got].Add(1)
			select {
			case load.progress <- struct{}{}:
			default:
			}
		} else if got != version {
			return fmt.Errorf("client %d conn %d: served by v%d, then by v%d", id, conn, version, got)
		}
		if int64(got) < load.live.Load() {
			load.oldServed.Add(1)
		}
	}
	return nil
}

// waitFresh waits until version has answered freshPerVersion connections.
func waitFresh(t *testing.T, load *reloadLoad, version int) {
	t.Helper()
	waitFreshAbove(t, load, version, freshPerVersion)
}

// waitFreshAbove waits until version has answered n connections.
func waitFreshAbove(t *testing.T, load *reloadLoad, version int, n int64) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for load.fresh[version].Load() < n {
		select {
		case <-load.progress:
		case <-timeout:
			t.Fatalf("v%d answered %d new connections in 10s, want %d", version, load.fresh[version].Load(), n)
		}
	}
}

// freeTCPPort returns a loopback port that was free a moment ago; the
// script binds it by number, as a real one would.
func freeTCPPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}
