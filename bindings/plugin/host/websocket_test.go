package host_test

import (
	"fmt"
	"strings"
	"testing"

	pluginhost "github.com/netrun/netrun/bindings/plugin/host"
	"github.com/netrun/netrun/runtime/isolation"
)

// TestWebSocketMalformed drives the host with malformed WebSocket
// commands (rawplugin wsmalformed): each gets an error that names what
// was wrong, and the host and the plugin go on.
func TestWebSocketMalformed(t *testing.T) {
	r, rec := newRunner(t, pluginhost.Options{})
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
