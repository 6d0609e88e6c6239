package host_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netrun/netrun/bindings/lua"
	pluginhost "github.com/netrun/netrun/bindings/plugin/host"
	"github.com/netrun/netrun/internal/testpeer"
	rthost "github.com/netrun/netrun/runtime/host"
	"github.com/netrun/netrun/runtime/isolation"
	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/sockets"
	"github.com/netrun/netrun/runtime/trigger"
)

// lines collects a Lua engine's print output and wakes waiters on each
// line.
type lines struct {
	mu      sync.Mutex
	got     []string
	changed chan struct{}
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, strings.TrimRight(string(p), "\n"))
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

// wait returns the first line that starts with prefix, waiting for it.
func (l *lines) wait(t *testing.T, prefix string) string {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		l.mu.Lock()
		for _, s := range l.got {
			if strings.HasPrefix(s, prefix) {
				l.mu.Unlock()
				return s
			}
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			l.mu.Lock()
			defer l.mu.Unlock()
			t.Fatalf("timed out waiting for a line %q; got %q", prefix, l.got)
		}
	}
}

// scriptA accepts a connection, echoes its first line, and transfers it
// to the plugin's task "mover"; when the broker raises it back (the
// plugin transferred it to "a"), it reclaims it and echoes to the end.
const scriptA = `
local net = require("netrun")
net.SocketActivityTrigger:add(function(d)
	local s = d.SocketInformation.StreamSocket
	print("a: back " .. d.SocketInformation.Context.Data)
	pcall(function()
		while true do
			local data = s.InputStream:ReadAsync(4096):await()
			if data == "" then break end
			s.OutputStream:WriteAsync(data):await()
		end
	end)
	s:Close()
end)
local l = net.StreamSocketListener.new()
l.ConnectionReceived:add(function(sender, args)
	local s = args.Socket
	local first = s.InputStream:ReadAsync(6, net.InputStreamOptions.None):await()
	s.OutputStream:WriteAsync("a " .. first):await()
	s:EnableTransferOwnership("mover")
	s:TransferOwnership("conn", "from a")
end)
l:BindEndpointAsync("127.0.0.1", "0"):await()
print("listening " .. l.Information.LocalPort)
`

// A connection goes from a script to a plugin and back to the script
// through the one broker they share, by task id, while the client
// streams: a.lua echoes its first line and transfers it to the task
// "mover"; the plugin "mover", raised SocketActivity, reclaims it, echoes
// the next n bytes and transfers it to the task "a"; a.lua, raised in
// turn, reclaims it and echoes to the end. Every byte comes back once, in
// order.
func TestScriptPluginScriptTransfer(t *testing.T) {
	const n, total = 100_000, 300_000
	b := trigger.NewBroker(trigger.Options{})
	t.Cleanup(func() { b.Close() }) // last: after the plugin and the script stop
	engine, out := newScriptEngine(t, b)
	r, rec := newRunner(t, pluginhost.Options{Broker: b})
	startPlugin(t, r, "mover", isolation.Capabilities(isolation.Loopback), bins.broker, fmt.Sprint(n))
	rec.logged("ready", nil)

	c, rd := startScriptA(t, engine, out)
	testpeer.EchoPattern(t, c, rd, total)
	rec.logged("got", func(a map[string]any) bool { return a["context"] == "from a" })
	rec.logged("transferred", nil)
	out.wait(t, "a: back from plugin")
}

// A plugin whose transfer the broker refuses (the socket id is held for
// the task already) keeps the socket, and the bytes its read-ahead had
// received come back to its own reads: it echoes the rest, nothing lost
// or reordered.
func TestPluginTransferRefusedKeepsSocket(t *testing.T) {
	const n, total = 50_000, 200_000
	b := trigger.NewBroker(trigger.Options{})
	t.Cleanup(func() { b.Close() })
	occupyID(t, b, "a", "conn")
	engine, out := newScriptEngine(t, b)
	r, rec := newRunner(t, pluginhost.Options{Broker: b})
	startPlugin(t, r, "mover", isolation.Capabilities(isolation.Loopback), bins.broker, fmt.Sprint(n))
	rec.logged("ready", nil)
	c, rd := startScriptA(t, engine, out)
	dumpOnFailure(t, rec, out)
	testpeer.EchoPattern(t, c, rd, total)
	// Nothing more comes back: the plugin ends the echo at end of stream.
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if extra, err := io.ReadAll(rd); err != nil || len(extra) > 0 {
		t.Fatalf("after the pattern: %d more bytes, %v; want end of stream", len(extra), err)
	}
	rec.logged("transfer failed", nil)
}

// occupyID makes the broker hold a connected socket under id for task.
func occupyID(t *testing.T, b *trigger.Broker, task, id string) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	local, err := networking.NewHostName("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	s := sockets.NewStreamSocket()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	if err := s.Connect(ctx, local, port, sockets.PlainSocket); err != nil {
		t.Fatal(err)
	}
	if peer := <-accepted; peer != nil {
		t.Cleanup(func() { peer.Close() })
	}
	if err := b.EnableTransferOwnership(s, task); err != nil {
		t.Fatal(err)
	}
	if err := b.TransferOwnership(ctx, s, id, nil, 0); err != nil {
		t.Fatal(err)
	}
}

// A lazy plugin that exits while the shared broker holds a socket for its
// task is started again by the socket's activity, and its new instance
// is raised the trigger: the connection goes a.lua → mover #1 → (broker,
// mover's own task) → mover #2 → a.lua, every byte once, in order.
func TestLazyPluginStartedBySocketActivity(t *testing.T) {
	const n, total = 50_000, 300_000
	b := trigger.NewBroker(trigger.Options{})
	t.Cleanup(func() { b.Close() })
	engine, out := newScriptEngine(t, b)
	r, rec := newRunner(t, pluginhost.Options{Broker: b})
	g, err := r.StartPlugin(context.Background(), rthost.PluginConfig{Name: "mover", Lazy: true,
		Command: []string{bins.broker, fmt.Sprint(n), "hop"}}, &sockets.Env{Guard: isolation.Capabilities(isolation.Loopback)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Stop)
	rec.logged("ready", nil)
	c, rd := startScriptA(t, engine, out)
	dumpOnFailure(t, rec, out)
	testpeer.EchoPattern(t, c, rd, total)
	rec.logged("hopped", nil)
	rec.logged("plugin waits for activity on a socket it transferred before starting again", nil)
	started(rec, "mover", 2)
	rec.logged("got", func(a map[string]any) bool { return a["context"] == "from mover" })
	out.wait(t, "a: back from plugin")
}

// newScriptEngine makes a Lua engine on broker b whose scripts print to
// the returned lines.
func newScriptEngine(t *testing.T, b *trigger.Broker) (*lua.Engine, *lines) {
	t.Helper()
	out := &lines{changed: make(chan struct{})}
	engine, err := lua.NewEngine(lua.EngineOptions{Logger: slog.New(slog.DiscardHandler), Stdout: out, Broker: b})
	if err != nil {
		t.Fatal(err)
	}
	return engine, out
}

// dumpOnFailure logs the plugin host's records and the script's output
// if t fails: what a lost or reordered byte needs to be understood.
func dumpOnFailure(t *testing.T, rec *recorder, out *lines) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		rec.mu.Lock()
		logs := strings.Join(rec.logs, "\n")
		rec.mu.Unlock()
		out.mu.Lock()
		script := strings.Join(out.got, "\n")
		out.mu.Unlock()
		t.Logf("plugin host records:\n%s\nscript output:\n%s", logs, script)
	})
}

// startScriptA runs scriptA in engine, connects to it and exchanges the
// first line, which a.lua echoes before it transfers the connection. The
// connection is closed at cleanup.
func startScriptA(t *testing.T, engine *lua.Engine, out *lines) (net.Conn, *bufio.Reader) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "a.lua")
	if err := os.WriteFile(path, []byte(scriptA), 0o644); err != nil {
		t.Fatal(err)
	}
	script, err := engine.Start(path, lua.ScriptOptions{})
	if err != nil {
		t.Fatal(lua.ErrorText(err))
	}
	t.Cleanup(script.Stop)
	port := strings.TrimPrefix(out.wait(t, "listening "), "listening ")

	c, err := net.Dial("tcp4", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(waitTimeout))
	rd := bufio.NewReader(c)
	c.Write([]byte("first\n"))
	if line, _ := rd.ReadString('\n'); line != "a first\n" {
		t.Fatalf("got %q", line)
	}
	return c, rd
}

// A lazy plugin transfers a bound listener and a bound datagram socket to
// the shared broker for its own task and exits (brokerplugin park). Two
// datagrams and a connection that arrive while no instance runs are held
// by the broker and start the plugin again; its new instance reclaims
// both by their broker ids (ReclaimHeldStreamSocketListener,
// ReclaimHeldDatagramSocket) and gets the datagrams, in order, and the
// connection, which it answers.
func TestPluginListenerDatagramThroughBroker(t *testing.T) {
	b := trigger.NewBroker(trigger.Options{})
	t.Cleanup(func() { b.Close() })
	r, rec := newRunner(t, pluginhost.Options{Broker: b})
	g, err := r.StartPlugin(context.Background(), rthost.PluginConfig{Name: "park", Lazy: true,
		Command: []string{bins.broker, "park"}}, &sockets.Env{Guard: isolation.Capabilities(isolation.Loopback)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Stop)
	a := rec.logged("parked", nil)
	rec.logged("plugin waits for activity on a socket it transferred before starting again", nil)
	if held := b.AllSockets("park"); len(held) != 2 || held["lst"] == nil || held["udp"] == nil {
		t.Fatalf("the broker holds %v for the task park; want lst and udp", held)
	}

	u, err := net.Dial("udp4", fmt.Sprintf("127.0.0.1:%v", a["datagram"]))
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	for _, m := range []string{"d1", "d2"} {
		if _, err := u.Write([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	c, err := net.Dial("tcp4", fmt.Sprintf("127.0.0.1:%v", a["listener"]))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitTimeout))
	if _, err := c.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "got hello\n" {
		t.Fatalf("the connection got %q, %v; want the plugin's answer %q", line, err, "got hello\n")
	}
	started(rec, "park", 2)
	if a := rec.logged("reclaimed", func(a map[string]any) bool {
		return a["kind"] == "StreamSocketListener" && a["context"] == "the listener"
	}); fmt.Sprint(a["buffered"]) == "0" {
		t.Errorf("the listener was reclaimed with nothing held: %v", a)
	}
	if a := rec.logged("reclaimed", func(a map[string]any) bool {
		return a["kind"] == "DatagramSocket" && a["context"] == "the datagram socket"
	}); fmt.Sprint(a["buffered"]) == "0" {
		t.Errorf("the datagram socket was reclaimed with nothing held: %v", a)
	}
	rec.logged("datagram", func(a map[string]any) bool { return a["data"] == "d2" })
	rec.mu.Lock()
	var got []string
	for _, a := range rec.attrs {
		if a["msg"] == "datagram" {
			got = append(got, fmt.Sprint(a["data"]))
		}
	}
	rec.mu.Unlock()
	if strings.Join(got, ",") != "d1,d2" {
		t.Errorf("the plugin got the datagrams %v; want d1, d2 in order", got)
	}
}

// scriptPark binds a listener and a datagram socket on 127.0.0.1 and
// transfers both to the broker for the plugin's task "adopt", then prints
// their ports.
const scriptPark = `
local net = require("netrun")
local l = net.StreamSocketListener.new()
l:BindEndpointAsync("127.0.0.1", "0"):await()
local d = net.DatagramSocket.new()
d:BindEndpointAsync("127.0.0.1", "0"):await()
local lport, dport = l.Information.LocalPort, d.Information.LocalPort
l:EnableTransferOwnership("adopt")
l:TransferOwnership("lst", "from park")
d:EnableTransferOwnership("adopt")
d:TransferOwnership("udp", "from park")
print("parked " .. lport .. " " .. dport)
`

// A script parks a bound listener and a bound datagram socket in the
// shared broker for a plugin's task; two connections, each with a line
// sent, and three datagrams arrive while the broker holds them (the
// plugin is not running yet); then the plugin "adopt" starts, reclaims
// both from Hello.held, is raised the connections and the datagrams in
// the order they came, and echoes them, and then what the clients send
// once it serves the sockets itself.
func TestScriptListenerDatagramToPlugin(t *testing.T) {
	b := trigger.NewBroker(trigger.Options{})
	t.Cleanup(func() { b.Close() })
	engine, out := newScriptEngine(t, b)
	path := filepath.Join(t.TempDir(), "park.lua")
	if err := os.WriteFile(path, []byte(scriptPark), 0o644); err != nil {
		t.Fatal(err)
	}
	script, err := engine.Start(path, lua.ScriptOptions{})
	if err != nil {
		t.Fatal(lua.ErrorText(err))
	}
	t.Cleanup(script.Stop)
	var lport, dport string
	if _, err := fmt.Sscan(strings.TrimPrefix(out.wait(t, "parked "), "parked "), &lport, &dport); err != nil {
		t.Fatal(err)
	}
	held := watchHeld(t, b, "adopt")

	// Traffic while the broker holds both: each connection is held before
	// the next is made, so the order is the one they were made in.
	var conns []net.Conn
	var rds []*bufio.Reader
	for i, line := range []string{"one\n", "two\n"} {
		c, err := net.Dial("tcp4", "127.0.0.1:"+lport)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(waitTimeout))
		if _, err := io.WriteString(c, line); err != nil {
			t.Fatal(err)
		}
		conns, rds = append(conns, c), append(rds, bufio.NewReader(c))
		held.wait(t, "lst", i+1)
	}
	u, err := net.Dial("udp4", "127.0.0.1:"+dport)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	u.SetDeadline(time.Now().Add(waitTimeout))
	for i, m := range []string{"d1", "d2", "d3"} {
		if _, err := u.Write([]byte(m)); err != nil {
			t.Fatal(err)
		}
		held.wait(t, "udp", i+1)
	}
	held.stop()

	r, rec := newRunner(t, pluginhost.Options{Broker: b})
	startPlugin(t, r, "adopt", isolation.Capabilities(isolation.Loopback), bins.broker, "adopt")
	for _, kind := range []string{"StreamSocketListener", "DatagramSocket"} {
		a := rec.logged("reclaimed", func(a map[string]any) bool { return a["kind"] == kind })
		if a["context"] != "from park" {
			t.Errorf("the %s was reclaimed with the context %q, want the script's %q", kind, a["context"], "from park")
		}
	}

	// The datagrams come back in order, then a live one.
	buf := make([]byte, 64)
	for _, want := range []string{"d1", "d2", "d3"} {
		n, err := u.Read(buf)
		if err != nil {
			t.Fatalf("waiting for the echo of %s: %v", want, err)
		}
		if string(buf[:n]) != want {
			t.Fatalf("the datagram echo came back as %q, want %q: lost or reordered", buf[:n], want)
		}
	}
	if _, err := u.Write([]byte("d4")); err != nil {
		t.Fatal(err)
	}
	if n, err := u.Read(buf); err != nil || string(buf[:n]) != "d4" {
		t.Fatalf("the echo of d4: %q, %v", buf[:n], err)
	}

	// The connections were raised in order, and each echoes what it sent
	// while held, then a line sent now.
	rec.waitFor("two connections", func() bool { return countMsg(rec, "connection") == 2 })
	var ports []string
	rec.mu.Lock()
	for _, a := range rec.attrs {
		if a["msg"] == "connection" {
			ports = append(ports, fmt.Sprint(a["port"]))
		}
	}
	rec.mu.Unlock()
	for i, c := range conns {
		_, want, _ := net.SplitHostPort(c.LocalAddr().String())
		if ports[i] != want {
			t.Fatalf("the plugin was raised the connections from the ports %v, want %s first", ports, want)
		}
	}
	for i, first := range []string{"one\n", "two\n"} {
		for _, want := range []string{first, "again\n"} {
			if want == "again\n" {
				if _, err := io.WriteString(conns[i], want); err != nil {
					t.Fatal(err)
				}
			}
			if line, err := rds[i].ReadString('\n'); line != want {
				t.Fatalf("connection %d: got %q, %v; want the echo %q", i+1, line, err, want)
			}
		}
	}
	if held := b.AllSockets("adopt"); len(held) != 0 {
		t.Errorf("the broker still holds %v for adopt", held)
	}
}

// countMsg counts rec's log records with msg; rec.mu must be held.
func countMsg(rec *recorder, msg string) int {
	n := 0
	for _, a := range rec.attrs {
		if a["msg"] == msg {
			n++
		}
	}
	return n
}

// heldWatch waits on what the broker holds for a task, woken by the task's
// triggers, which it leaves pending for the task's next registration.
type heldWatch struct {
	b     *trigger.Broker
	task  string
	woken chan struct{}
	stop  func()
}

// watchHeld registers a heldWatch for task; call stop before the task's
// guest registers, or the watch gets its triggers.
func watchHeld(t *testing.T, b *trigger.Broker, task string) *heldWatch {
	w := &heldWatch{b: b, task: task, woken: make(chan struct{}, 1)}
	w.stop = b.RegisterTask(task, func(*trigger.SocketActivityTriggerDetails) bool {
		select {
		case w.woken <- struct{}{}:
		default:
		}
		return false // not taken: pending for the next registration
	})
	t.Cleanup(w.stop)
	return w
}

// wait waits until the broker holds at least n connections or datagrams
// on the socket id.
func (w *heldWatch) wait(t *testing.T, id string, n int) {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		h := w.b.AllSockets(w.task)[id]
		if h == nil {
			t.Fatalf("the broker holds no %s for %s", id, w.task)
		}
		if h.Buffered() >= n {
			return
		}
		select {
		case <-w.woken:
		case <-deadline:
			t.Fatalf("the broker holds %d on %s, want %d", h.Buffered(), id, n)
		}
	}
}
