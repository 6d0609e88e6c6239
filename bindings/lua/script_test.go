package lua_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netrun/netrun/internal/testpeer"
)

const echoScript = `
local net = require("netrun")
local listener = net.StreamSocketListener.new()
listener.ConnectionReceived:add(function(sender, args)
	local s = args.Socket
	while true do
		local data = s.InputStream:ReadAsync(4096):await()
		if data == "" then break end
		s.OutputStream:WriteAsync(data):await()
	end
	s:Close()
end)
listener:BindEndpointAsync("127.0.0.1", "0"):await()
print("listening " .. listener.Information.LocalPort)
`

func listeningPort(t testing.TB, out string) string {
	t.Helper()
	i := strings.Index(out, "listening ")
	if i < 0 {
		t.Fatalf("no port in output %q", out)
	}
	f := strings.Fields(out[i+len("listening "):])
	return f[0]
}

func TestEchoScriptSocat(t *testing.T) {
	for _, workers := range []int{1, 2} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			h := newHarness(t, 0)
			h.start(t, "echo.lua", echoScript, workers, nil)
			port := listeningPort(t, h.out.wait(t, "listening "))
			for i := 0; i < 4; i++ {
				sc := testpeer.StartSocat(t, "-", "TCP:127.0.0.1:"+port)
				msg := fmt.Sprintf("hello %d from socat", i)
				io.WriteString(sc.Stdin(), msg+"\n")
				sc.WaitOutput(t, msg)
				sc.Stdin().Close()
				if err := sc.Wait(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestEchoScriptManyClients(t *testing.T) {
	h := newHarness(t, 0)
	h.start(t, "echo.lua", echoScript, 2, nil)
	port := listeningPort(t, h.out.wait(t, "listening "))
	errc := make(chan error, 32)
	for i := 0; i < 32; i++ {
		go func() {
			c, err := net.Dial("tcp4", "127.0.0.1:"+port)
			if err != nil {
				errc <- err
				return
			}
			defer c.Close()
			r := bufio.NewReader(c)
			for j := 0; j < 50; j++ {
				msg := "msg " + strconv.Itoa(i) + " " + strconv.Itoa(j) + "\n"
				if _, err := io.WriteString(c, msg); err != nil {
					errc <- err
					return
				}
				line, err := r.ReadString('\n')
				if err != nil || line != msg {
					errc <- fmt.Errorf("got %q, %v; want %q", line, err, msg)
					return
				}
			}
			errc <- nil
		}()
	}
	for i := 0; i < 32; i++ {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

func TestErrorsCaughtByPcall(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	h := newHarness(t, 0)
	h.start(t, "errors.lua", `
local net = require("netrun")
local s = net.StreamSocket.new()
local ok, err = pcall(function()
	s:ConnectAsync("127.0.0.1", "`+port+`"):await()
end)
print("refused", ok, err.Status, string.format("0x%08X", err.HResult), net.SocketError.GetStatus(err) == net.SocketErrorStatus.ConnectionRefused)
local ok2, err2 = pcall(function() return s:ConnectAsync(42, "80") end)
print("badarg", ok2, string.format("0x%08X", err2.HResult), err2.Message)
local ok3, err3 = xpcall(function() net.sleep(0.01); error("boom") end, function(e) return "handled: " .. tostring(e) end)
print("xpcall", ok3, err3)
print("done")
`, 1, nil)
	out := h.out.wait(t, "done")
	for _, want := range []string{
		"refused\tfalse\t12\t0x8007274D\ttrue",
		"badarg\tfalse\t0x80070057\tStreamSocket:ConnectAsync: argument #2 (remoteHostName): HostName or string expected, got number",
		"xpcall\tfalse\thandled: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestRunawayHandlerStopped(t *testing.T) {
	h := newHarness(t, 200*time.Millisecond)
	h.start(t, "spin.lua", `
local net = require("netrun")
net.spawn(function() while true do end end)
net.spawn(function() net.sleep(0.05); print("still serving") end)
`, 1, nil)
	h.out.wait(t, "still serving")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(h.logs.String(), "CPU budget") {
		if time.Now().After(deadline) {
			t.Fatalf("the runaway handler was not reported:\n%s", h.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPcallOfGoFunctions(t *testing.T) {
	h := newHarness(t, 0)
	h.start(t, "pcall.lua", `
print("len", pcall(string.len, "abc"))
print("err", pcall(error, "x"))
print("xp", xpcall(string.rep, function(e) return "h" end, "ab", 2))
print("done")
`, 1, nil)
	out := h.out.wait(t, "done")
	// error() adds the position of the Lua code that called it; here that
	// is inside the pcall wrapper, as plain gopher-lua shows the caller's.
	for _, want := range []string{"len\ttrue\t3", "err\tfalse\t", ": x\n", "xp\ttrue\tabab"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestWritesKeepIssueOrder issues a write too large for the socket
// buffers and a small one before awaiting either: the small one must not
// overtake the rest of the large one.
func TestWritesKeepIssueOrder(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	h := newHarness(t, 0)
	h.start(t, "order.lua", fmt.Sprintf(`
local net = require("netrun")
local s = net.StreamSocket.new()
s.Control.OutboundBufferSizeInBytes = 16384 -- the big write cannot complete at once
s:ConnectAsync("127.0.0.1", "%d"):await()
for i = 1, 5 do
	local big = s.OutputStream:WriteAsync(string.rep("a", 300000))
	local small = s.OutputStream:WriteAsync(string.rep("b", 1000))
	big:await()
	small:await()
end
s.OutputStream:FlushAsync():await()
s:Close()
print("sent")
`, ln.Addr().(*net.TCPAddr).Port), 1, nil)
	readInterleaved(t, ln)
	h.out.wait(t, "sent")
}

// TestRunawayInsideCoroutines stops loops that never yield inside pcall,
// coroutine.create and coroutine.wrap, and keeps serving afterwards.
func TestRunawayInsideCoroutines(t *testing.T) {
	h := newHarness(t, 100*time.Millisecond)
	h.start(t, "spin2.lua", `
local net = require("netrun")
net.spawn(function() pcall(function() while true do end end) end)
net.spawn(function() coroutine.resume(coroutine.create(function() while true do end end)) end)
net.spawn(function() coroutine.wrap(function() while true do end end)() end)
net.spawn(function() net.sleep(0.01); print("after", coroutine.wrap(function(a) return a * 2 end)(21)) end)
`, 1, nil)
	h.out.wait(t, "after\t42")
	eventually(t, "three handlers stopped", func() bool {
		return strings.Count(h.logs.String(), "CPU budget") >= 3
	})
}

// TestDataWriterAndWriteAsyncShareOneQueue stores through a DataWriter and
// writes with WriteAsync on the same socket without awaiting: the bytes
// leave in issue order, as the socket has one write queue.
func TestDataWriterAndWriteAsyncShareOneQueue(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	h := newHarness(t, 0)
	h.start(t, "mixed.lua", fmt.Sprintf(`
local net = require("netrun")
local s = net.StreamSocket.new()
s.Control.OutboundBufferSizeInBytes = 16384 -- big stores cannot complete at once
s:ConnectAsync("127.0.0.1", "%d"):await()
local w = net.DataWriter.new(s.OutputStream)
local ops = {}
for i = 1, 5 do
	w:WriteString(string.rep("a", 300000))
	ops[#ops + 1] = w:StoreAsync()
	ops[#ops + 1] = s.OutputStream:WriteAsync(string.rep("b", 1000))
end
ops[#ops + 1] = w:FlushAsync()
for _, op in ipairs(ops) do op:await() end
s:Close()
print("sent")
`, ln.Addr().(*net.TCPAddr).Port), 1, nil)
	readInterleaved(t, ln)
	h.out.wait(t, "sent")
}

// readInterleaved accepts the script's connection on ln and checks that
// it sent five rounds of 300,000 "a" then 1,000 "b", in that order, and
// closed.
func readInterleaved(t *testing.T, ln net.Listener) {
	t.Helper()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Repeat(strings.Repeat("a", 300000)+strings.Repeat("b", 1000), 5)
	if string(got) != want {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("received %d bytes, first difference at byte %d of %d", len(got), i, len(want))
	}
}
