package host_test

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	pluginhost "github.com/netrun/netrun/bindings/plugin/host"
	"github.com/netrun/netrun/internal/testpeer"
	"github.com/netrun/netrun/runtime/isolation"
	"github.com/netrun/netrun/runtime/trigger"
)

// line is a line the peer read, with when it arrived.
type line struct {
	text string
	at   time.Time
}

// A plugin keeps a loopback connection alive with a control channel on
// the shared broker: a channel with a zero interval fails naming the
// interval; the armed channel's keep-alives come every 300 ms (within
// 20%, averaged over 6); data from the peer raises a push, whose handler
// reads it and answers; DecreaseNetworkKeepAliveInterval halves the
// interval; the peer's close raises the reset, after which the plugin
// closes the channel.
func TestPluginControlChannel(t *testing.T) {
	b := trigger.NewBroker(trigger.Options{})
	t.Cleanup(func() { b.Close() }) // last: after the plugin stops
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	r, rec := newRunner(t, pluginhost.Options{Broker: b})
	startPlugin(t, r, "cct", isolation.Capabilities(isolation.Loopback), bins.cct, port)

	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	lines := make(chan line, 1024)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		sc := bufio.NewScanner(conn)
		for sc.Scan() {
			lines <- line{sc.Text(), time.Now()}
		}
	}()
	defer func() { conn.Close(); <-readerDone }()
	next := func(prefix string) line {
		t.Helper()
		deadline := time.After(waitTimeout)
		for {
			select {
			case l := <-lines:
				if strings.HasPrefix(l.text, prefix) {
					return l
				}
				if !strings.HasPrefix(l.text, "ka ") {
					t.Fatalf("waiting for %q, got %q", prefix, l.text)
				}
			case <-deadline:
				t.Fatalf("timed out waiting for %q", prefix)
			}
		}
	}

	if l := next("bad "); !strings.Contains(l.text, "serverKeepAliveIntervalInMinutes") {
		t.Errorf("a zero interval failed with %q; want it named", l.text)
	}
	if l := next("armed "); l.text != "armed 1" {
		t.Fatalf("WaitForPushEnabled: %q, want SoftwareSlotAllocated (1)", l.text)
	}
	const n, want = 6, 300 * time.Millisecond
	var first, last time.Time
	for k := 0; k <= n; k++ {
		l := next("ka ")
		if l.text != "ka 0.005" {
			t.Errorf("keep-alive %q; want the interval 0.005 minutes", l.text)
		}
		if k == 0 {
			first = l.at
		}
		last = l.at
	}
	if avg := last.Sub(first) / n; avg < want*8/10 || avg > want*12/10 {
		t.Errorf("keep-alives came every %v on average; want %v within 20%%", avg, want)
	} else {
		t.Logf("keep-alives every %v on average", avg)
	}

	if _, err := conn.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	if l := next("push "); l.text != "push ping" {
		t.Errorf("push: %q", l.text)
	}
	if _, err := conn.Write([]byte("dec\n")); err != nil {
		t.Fatal(err)
	}
	if l := next("dec "); l.text != "dec 0.0025" {
		t.Errorf("DecreaseNetworkKeepAliveInterval: %q, want 0.0025 minutes", l.text)
	}
	conn.Close()
	rec.logged("reset", nil)
	rec.logged("closed", nil)
}

// A plugin keeps a client WebSocket alive with a control channel, against
// Node's ws and Python's websockets (cctplugin ws and wsstream). For a
// MessageWebSocket: the channel arms, keep-alives come with the 0.005
// minute interval, and the peer counts at least three unsolicited pongs
// (the host sends the keep-alive); the peer's answer
// raises a push; the peer's close raises the reset. For a StreamWebSocket:
// the echo of what the plugin wrote raises a push whose handler reads it,
// and closing the WebSocket raises the reset.
func TestPluginControlChannelWebSocket(t *testing.T) {
	for _, kind := range testpeer.WSPeerKinds() {
		t.Run(string(kind), func(t *testing.T) {
			if kind == testpeer.PythonWebsockets {
				needPythonWebsockets(t)
			}
			t.Run("message", func(t *testing.T) {
				b := trigger.NewBroker(trigger.Options{})
				t.Cleanup(func() { b.Close() }) // last: after the plugin stops
				peer := testpeer.StartWSServer(t, kind, testpeer.WSPeerOptions{})
				r, rec := newRunner(t, pluginhost.Options{Broker: b})
				startPlugin(t, r, "cct", isolation.Capabilities(isolation.Loopback), bins.cct, "ws", peer.URL)
				if a := rec.logged("armed", nil); a["status"] != "1" {
					t.Fatalf("WaitForPushEnabled: %v, want SoftwareSlotAllocated (1)", a["status"])
				}
				if a := rec.logged("ka", func(a map[string]any) bool { return a["n"] == "3" }); a["minutes"] != "0.005" {
					t.Errorf("keep-alive interval %v; want 0.005 minutes", a["minutes"])
				}
				// The plugin asks the peer at each keep-alive from the
				// third on; the peer counts three pongs before it closes.
				rec.logged("message", func(a map[string]any) bool {
					n, ok := strings.CutPrefix(fmt.Sprint(a["data"]), "pongs:")
					k, err := strconv.Atoi(n)
					return ok && err == nil && k >= 3
				})
				rec.logged("push", nil)
				rec.logged("reset", nil)
				rec.logged("closed", nil)
				peer.WaitOutput(t, "closed 1000 bye")
			})
			t.Run("stream", func(t *testing.T) {
				b := trigger.NewBroker(trigger.Options{})
				t.Cleanup(func() { b.Close() })
				peer := testpeer.StartWSServer(t, kind, testpeer.WSPeerOptions{})
				r, rec := newRunner(t, pluginhost.Options{Broker: b})
				startPlugin(t, r, "cct", isolation.Capabilities(isolation.Loopback), bins.cct, "wsstream", peer.URL)
				if a := rec.logged("armed", nil); a["status"] != "1" {
					t.Fatalf("WaitForPushEnabled: %v, want SoftwareSlotAllocated (1)", a["status"])
				}
				rec.logged("ka", func(a map[string]any) bool { return a["n"] == "2" })
				rec.logged("push", nil)
				if a := rec.logged("echo", nil); a["data"] != "hello" {
					t.Errorf("the push's read got %q; want the echo of hello", a["data"])
				}
				rec.logged("reset", nil)
				rec.logged("closed", nil)
			})
		})
	}
}
