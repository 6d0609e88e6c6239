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
	out := &lines{changed: make(chan struct{})}
	engine, err := lua.NewEngine(lua.EngineOptions{Logger: slog.New(slog.DiscardHandler), Stdout: out, Broker: b})
	if err != nil {
		t.Fatal(err)
	}
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
	out := &lines{changed: make(chan struct{})}
	engine, err := lua.NewEngine(lua.EngineOptions{Logger: slog.New(slog.DiscardHandler), Stdout: out, Broker: b})
	if err != nil {
		t.Fatal(err)
	}
	r, rec := newRunner(t, pluginhost.Options{Broker: b})
	startPlugin(t, r, "mover", isolation.Capabilities(isolation.Loopback), bins.broker, fmt.Sprint(n))
	rec.logged("ready", nil)
	c, rd := startScriptA(t, engine, out)
	data := make([]byte, total)
	for i := range data {
		data[i] = byte(i*7 + i/256)
	}
	wrote := make(chan error, 1)
	go func() {
		for p := data; len(p) > 0; p = p[min(len(p), 1000):] {
			if _, err := c.Write(p[:min(len(p), 1000)]); err != nil {
				wrote <- err
				return
			}
		}
		wrote <- c.(*net.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(rd)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if len(got) != total {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		t.Fatalf("%d bytes came back, want %d; logs:\n%s", len(got), total, strings.Join(rec.logs, "\n"))
	}
	for i := range got {
		if got[i] != data[i] {
			t.Fatalf("byte %d came back as %d, want %d: lost or reordered", i, got[i], data[i])
		}
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
	out := &lines{changed: make(chan struct{})}
	engine, err := lua.NewEngine(lua.EngineOptions{Logger: slog.New(slog.DiscardHandler), Stdout: out, Broker: b})
	if err != nil {
		t.Fatal(err)
	}
	r, rec := newRunner(t, pluginhost.Options{Broker: b})
	g, err := r.StartPlugin(context.Background(), rthost.PluginConfig{Name: "mover", Lazy: true,
		Command: []string{bins.broker, fmt.Sprint(n), "hop"}}, &sockets.Env{Guard: isolation.Capabilities(isolation.Loopback)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Stop)
	rec.logged("ready", nil)
	c, rd := startScriptA(t, engine, out)
	data := make([]byte, total)
	for i := range data {
		data[i] = byte(i*11 + i/256)
	}
	wrote := make(chan error, 1)
	go func() {
		for p := data; len(p) > 0; p = p[min(len(p), 1000):] {
			if _, err := c.Write(p[:min(len(p), 1000)]); err != nil {
				wrote <- err
				return
			}
		}
		wrote <- nil
	}()
	got := make([]byte, total)
	if _, err := io.ReadFull(rd, got); err != nil {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		t.Fatalf("%v; logs:\n%s\nscript: %q", err, strings.Join(rec.logs, "\n"), out.got)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if got[i] != data[i] {
			t.Fatalf("byte %d came back as %d, want %d: lost or reordered", i, got[i], data[i])
		}
	}
	rec.logged("hopped", nil)
	rec.logged("plugin waits for activity on a socket it transferred before starting again", nil)
	started(rec, "mover", 2)
	rec.logged("got", func(a map[string]any) bool { return a["context"] == "from mover" })
	out.wait(t, "a: back from plugin")
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
