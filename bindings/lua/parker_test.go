package lua_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestIdleReadsPark opens connections that stay quiet past the idle time,
// checks that their reads are parked (no goroutine each), then sends on
// each and checks every one is still served.
func TestIdleReadsPark(t *testing.T) {
	h := newHarness(t, 0)
	h.start(t, "echo.lua", echoScript, 1, nil)
	port := listeningPort(t, h.out.wait(t, "listening "))
	const n = 50
	var conns []net.Conn
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp4", "127.0.0.1:"+port)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	eventually(t, "all reads parked", func() bool { return h.engine.ParkedReads() == n })
	for i, c := range conns {
		msg := fmt.Sprintf("wake %d\n", i)
		if _, err := io.WriteString(c, msg); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || line != msg {
			t.Fatalf("connection %d after parking: %q, %v", i, line, err)
		}
	}
	// Quiet again: they park again.
	eventually(t, "reads parked again", func() bool { return h.engine.ParkedReads() == n })
	for _, c := range conns {
		c.Close()
	}
	eventually(t, "hung-up connections released", func() bool { return h.engine.ParkedReads() == 0 })
}

// TestParkedReadCloseAndCancel closes a socket and cancels a read while
// the reads are parked: each await must end, with the errors WinRT gives.
// The script learns that both reads are parked from a connection the test
// opens once it has seen them parked.
func TestParkedReadCloseAndCancel(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	h := newHarness(t, 0)
	h.start(t, "parked.lua", fmt.Sprintf(`
local net = require("netrun")
local function connect()
	local s = net.StreamSocket.new()
	s:ConnectAsync("127.0.0.1", "%d"):await()
	return s
end
local a, b = connect(), connect()
local readA = a.InputStream:ReadAsync(10)
local readB = b.InputStream:ReadAsync(10)
net.spawn(function()
	local ok, err = pcall(function() return readA:await() end)
	print("A", ok, err.Status, string.format("0x%%08X", err.HResult))
end)
net.spawn(function()
	local ok, err = pcall(function() return readB:await() end)
	print("B", ok, readB.Status, err.Status)
end)
local signal = net.StreamSocketListener.new()
signal.ConnectionReceived:add(function(_, args)
	a:Close()
	readB:Cancel()
	args.Socket:Close()
end)
signal:BindEndpointAsync("127.0.0.1", "0"):await()
print("signal " .. signal.Information.LocalPort)
`, ln.Addr().(*net.TCPAddr).Port), 1, nil)
	out := h.out.wait(t, "signal ")
	port := strings.Fields(out[strings.Index(out, "signal ")+7:])[0]
	eventually(t, "both reads parked", func() bool { return h.engine.ParkedReads() == 2 })
	c, err := net.Dial("tcp4", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out = h.out.wait(t, "B\t")
	out = h.out.wait(t, "A\t")
	// A closed socket's pending read ends with OperationAborted (1); a
	// cancelled one ends Canceled (AsyncStatus 2), also OperationAborted.
	for _, want := range []string{"A\tfalse\t1\t", "B\tfalse\t2\t1"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	eventually(t, "nothing parked", func() bool { return h.engine.ParkedReads() == 0 })
}

// eventually polls cond until it holds, failing after 10 s. It waits on a
// condition of the system under test, never a fixed time.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
