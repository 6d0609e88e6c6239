package host_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	pluginhost "github.com/netrun/netrun/bindings/plugin/host"
	"github.com/netrun/netrun/internal/testpeer"
	"github.com/netrun/netrun/runtime/isolation"
	"github.com/netrun/netrun/runtime/trigger"
	"github.com/netrun/netrun/runtime/websocket"
)

// debianPython is the interpreter with Debian's python3-websockets.
const debianPython = "/usr/bin/python3"

// needPythonWebsockets skips (fails in CI) without python3-websockets.
func needPythonWebsockets(t *testing.T) {
	t.Helper()
	if out, err := exec.Command(debianPython, "-c", "import websockets").CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s cannot import websockets (make deps installs python3-websockets): %v\n%s", debianPython, err, out)
		}
		t.Skipf("%s cannot import websockets: apt-get install python3-websockets (make deps does)", debianPython)
	}
}

// wsServer starts wsplugin's echo server and returns its two URLs.
func wsServer(t *testing.T) (rec *recorder, msgURL, streamURL string, pid int) {
	t.Helper()
	r, rec := newRunner(t, pluginhost.Options{MinBackoff: 50 * time.Millisecond})
	startPlugin(t, r, "ws", isolation.Capabilities(isolation.Loopback), bins.ws, "server")
	a := rec.logged("listening", nil)
	return rec, fmt.Sprintf("ws://127.0.0.1:%v/", a["message_port"]), fmt.Sprintf("ws://127.0.0.1:%v/", a["stream_port"]), started(rec, "ws", 1).PID
}

// TestWebSocketServer drives a plugin's WebSocket echo servers (message
// and stream, made with AcceptMessage and AcceptStream on its
// listeners' connections) with Python's websockets: text and binary
// echoed with their types, 3 MiB both ways (more than max_payload, so in
// pieces), a fragmented message, close codes both ways.
func TestWebSocketServer(t *testing.T) {
	needPythonWebsockets(t)
	rec, msgURL, streamURL, _ := wsServer(t)
	driver, err := filepath.Abs("testdata/wsdriver/driver.py")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, debianPython, "-u", driver, msgURL, streamURL).CombinedOutput()
	if err != nil {
		t.Fatalf("driver: %v\n%s", err, out)
	}
	want := []string{
		"proto chat",
		"text str héllo, wörld",
		"binary bytes 000102ff",
		fmt.Sprintf("big bytes %d True", 3<<20),
		"fragmented str fragmented é",
		"client close answered 4001 bye",
		"server close 4002 done",
		"stream stream bytes",
		"done",
	}
	if got := strings.Split(strings.TrimSpace(string(out)), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("the driver printed\n%s\nwant\n%s", out, strings.Join(want, "\n"))
	}
	// The plugin saw both close codes.
	for _, c := range []struct{ code, reason string }{{"4001", "bye"}, {"4002", "done"}} {
		rec.logged("ws closed", func(a map[string]any) bool {
			return fmt.Sprint(a["code"]) == c.code && a["reason"] == c.reason
		})
	}
}

// TestWebSocketClient runs a plugin's MessageWebSocket and
// StreamWebSocket against Node's ws echo server, and checks the errors
// the SDK reports (see testdata/wsplugin).
func TestWebSocketClient(t *testing.T) {
	peer := testpeer.StartWSServer(t, testpeer.NodeWS, testpeer.WSPeerOptions{Protocols: []string{"chat"}})
	r, rec := newRunner(t, pluginhost.Options{})
	startPlugin(t, r, "wsclient", isolation.Capabilities(isolation.Loopback), bins.ws, "client", peer.URL)
	wantChecks(t, rec, 25)
	if !strings.Contains(peer.Output(), "closed 4003 bye now") {
		t.Errorf("the peer did not see the close code it sent echoed:\n%s", peer.Output())
	}
}

// TestWebSocketCapability: a plugin without the loopback capability
// cannot connect a WebSocket to 127.0.0.1; the error is E_ACCESSDENIED.
func TestWebSocketCapability(t *testing.T) {
	peer := testpeer.StartWSServer(t, testpeer.NodeWS, testpeer.WSPeerOptions{})
	r, rec := newRunner(t, pluginhost.Options{})
	startPlugin(t, r, "wsdenied", 0, bins.ws, "denied", peer.URL)
	a := rec.logged("denied", nil)
	if a["hresult"] != "0x80070005" || !strings.Contains(fmt.Sprint(a["err"]), "loopback") {
		t.Fatalf("a connect without the capability: %v, want E_ACCESSDENIED (0x80070005) naming loopback", a)
	}
}

// TestWebSocketPluginEnds: the WebSockets of a plugin that is killed are
// closed by the host with 1011, and the restarted plugin serves again.
func TestWebSocketPluginEnds(t *testing.T) {
	rec, msgURL, _, pid := wsServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c := websocket.NewMessageWebSocket(nil)
	defer c.Close()
	closed := make(chan *websocket.ClosedEventArgs, 1)
	c.Closed().Add(func(a *websocket.ClosedEventArgs) { closed <- a })
	echoed := make(chan []byte, 1)
	c.MessageReceived().Add(func(a *websocket.MessageReceivedEventArgs) { echoed <- bytes.Clone(a.Data()) })
	if err := c.Connect(ctx, msgURL); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(ctx, []byte("before")); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-echoed:
		if string(got) != "before" {
			t.Fatalf("echo %q", got)
		}
	case <-ctx.Done():
		t.Fatal("no echo")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-closed:
		if a.Code() != 1011 {
			t.Fatalf("the killed plugin's WebSocket closed with %d %q (%v), want 1011", a.Code(), a.Reason(), a.Err())
		}
	case <-ctx.Done():
		t.Fatal("the killed plugin's WebSocket was not closed")
	}
	started(rec, "ws", 2)
	rec.waitFor("the second instance listens", func() bool {
		n := 0
		for _, a := range rec.attrs {
			if a["msg"] == "listening" {
				n++
			}
		}
		return n == 2
	})
}

// TestWebSocketMalformed drives the host with malformed WebSocket
// commands (rawplugin wsmalformed): each gets an error that names what
// was wrong, and the host and the plugin go on.
func TestWebSocketMalformed(t *testing.T) {
	b := trigger.NewBroker(trigger.Options{})
	t.Cleanup(func() { b.Close() }) // last: after the plugin stops
	r, rec := newRunner(t, pluginhost.Options{Broker: b})
	startPlugin(t, r, "raw", isolation.Capabilities(isolation.Loopback), bins.raw, "wsmalformed")
	a := rec.logged("results", nil)
	res, _ := a["results"].(map[string]any)
	want := map[string][]string{
		"1":    {"0x80070057", "socket 999999 is not open"},
		"2":    {"created"},
		"3":    {"0x80070057", "kind 3 is not a WebSocket kind"},
		"4":    {"0x80070057", "socket 424242 is not open"},
		"5":    {"0x80070057", "is a StreamSocketListener", "needs a StreamSocket"},
		"6":    {"created"},
		"7":    {"0x80070057", "is a StreamSocket", "needs a MessageWebSocket or a StreamWebSocket"},
		"8":    {"0x80070057", "is a StreamSocket", "needs a MessageWebSocket or a StreamWebSocket"},
		"9":    {"0x80070057", "receive_mode 5"},
		"10":   {"created"},
		"11":   {"created"},
		"12":   {"0x80070057", "999 is not a close code"},
		"13":   {"0x80070057", "code 70000 is not a close code"},
		"14":   {"0x80070057", "frame 7 is not a WebSocketFrame"},
		"15":   {"0x80070057", "over max_payload"},
		"16":   {"0x80070057", "is a MessageWebSocket", "needs a StreamWebSocket"},
		"17":   {"0x8000000E", "WebSockets cannot be transferred"},
		"1000": {"protocol error", "socket 31337 is not open"},
		"18":   {"0x80070057", "UTF-8"},
		"19":   {"ok"},
		"20":   {"ok"},
		"21":   {"ok"},
		"22":   {"0x80070057", "is a server MessageWebSocket", "UsingTransport"},
		"23":   {"0x80070057", "is a StreamSocketListener", "needs a StreamSocket, a MessageWebSocket or a StreamWebSocket"},
		"24":   {"ok"},
	}
	for op, subs := range want {
		got := fmt.Sprint(res[op])
		for _, s := range subs {
			if !strings.Contains(got, s) {
				t.Errorf("op %s: got %q, want it to contain %q", op, got, s)
			}
		}
	}
	ws := fmt.Sprint(a["ws"])
	for _, s := range []string{`message WEB_SOCKET_MESSAGE_TYPE_UTF8 "still here"`, "closed 4000 done"} {
		if !strings.Contains(ws, s) {
			t.Errorf("the WebSocket events %s lack %q", ws, s)
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, e := range rec.events {
		if e.Kind == pluginhost.Exited {
			t.Errorf("the plugin was stopped for its bad commands: %+v", e)
		}
	}
}
