package lua_test

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	lua "github.com/netrun/netrun/bindings/lua"
	"github.com/netrun/netrun/internal/testpeer"
	"github.com/netrun/netrun/runtime/host"
	"github.com/netrun/netrun/runtime/trigger"
)

// newBrokerHarness is newHarness with a broker of the test's, closed at
// cleanup after the scripts.
func newBrokerHarness(t testing.TB) (*harness, *trigger.Broker) {
	b := trigger.NewBroker(trigger.Options{})
	t.Cleanup(func() { b.Close() })
	h := &harness{out: newOutput(), logs: &logSink{t: t}, dir: t.TempDir()}
	e, err := lua.NewEngine(lua.EngineOptions{
		Logger: slog.New(slog.NewTextHandler(h.logs, nil)),
		Stdout: h.out,
		Broker: b,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.engine = e
	return h, b
}

// tcpPeer listens on 127.0.0.1:0 and hands out its connections.
func tcpPeer(t testing.TB) (port string, conns <-chan net.Conn) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan net.Conn, 8)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ch <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for {
			select {
			case c := <-ch:
				c.Close()
			default:
				return
			}
		}
	})
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	return port, ch
}

func nextConn(t testing.TB, ch <-chan net.Conn) net.Conn {
	t.Helper()
	select {
	case c := <-ch:
		t.Cleanup(func() { c.Close() })
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no connection")
		return nil
	}
}

const cctScript = `
local net = require("netrun")
local cct = net.ControlChannelTrigger.new("test-channel", 0.005)
local s = net.StreamSocket.new()
cct:UsingTransport(s)
assert(cct.TransportObject == s)
print("before connect " .. cct:WaitForPushEnabled())
local n = 0
cct.KeepAliveTrigger:add(function(sender, args)
	assert(sender == cct and args.ControlChannelTrigger == cct)
	n = n + 1
	s.OutputStream:WriteAsync("ka" .. n .. "\n"):await()
	cct:FlushTransport():await()
end)
cct.PushNotificationTrigger:add(function() print("push") end)
cct.ResetTrigger:add(function(sender, args)
	print("reset " .. sender.Status .. " " .. tostring(args.SoftwareSlotReset) .. " " .. tostring(args.Error))
end)
s:ConnectAsync("127.0.0.1", "{{PORT}}"):await()
local st = cct:WaitForPushEnabled()
assert(st == net.ControlChannelTriggerStatus.SoftwareSlotAllocated, st)
print("armed " .. cct.CurrentKeepAliveIntervalInMinutes .. " " .. cct.ServerKeepAliveIntervalInMinutes)
while true do
	local data = s.InputStream:ReadAsync(100):await()
	if data == "" then break end
	print("data " .. data)
end
`

func TestLuaControlChannel(t *testing.T) {
	h, _ := newBrokerHarness(t)
	port, conns := tcpPeer(t)
	h.start(t, "cct.lua", strings.ReplaceAll(cctScript, "{{PORT}}", port), 1, nil)
	h.out.wait(t, "before connect 5")
	peer := nextConn(t, conns)
	h.out.wait(t, "armed 0.005 0.005")
	r := bufio.NewReader(peer)
	for i := 1; i <= 3; i++ {
		line, err := r.ReadString('\n')
		if err != nil || line != "ka"+string(rune('0'+i))+"\n" {
			t.Fatalf("keep-alive %d: %q, %v", i, line, err)
		}
	}
	peer.Write([]byte("hello"))
	h.out.wait(t, "data hello")
	h.out.wait(t, "push")
	peer.Close()
	h.out.wait(t, "reset 5 true nil")
}

// adoptScript accepts connections, answers the first line of each, and
// transfers the connection to the broker for its task, "adopt". Each
// version adopts, as it starts, the connections an earlier one
// transferred, and echoes them. {{V}} and {{PORT}} are filled in.
const adoptScript = `
local net = require("netrun")
local V = "{{V}}"
local function echo(s)
	pcall(function()
		while true do
			local data = s.InputStream:ReadAsync(4096):await()
			if data == "" then break end
			s.OutputStream:WriteAsync(data):await()
		end
	end)
	s:Close()
end
for id, info in pairs(net.SocketActivityInformation.AllSockets) do
	local s = info.StreamSocket
	assert(info.StreamSocket == s, "a second read returns the same socket")
	print(V .. " adopted " .. id .. " " .. info.Context.Data .. " " .. info.TaskId)
	net.spawn(echo, s)
end
local l = net.StreamSocketListener.new()
local n = 0
l.ConnectionReceived:add(function(sender, args)
	local s = args.Socket
	n = n + 1
	local first = s.InputStream:ReadAsync(4096):await()
	s.OutputStream:WriteAsync(V .. " got " .. first):await()
	s:EnableTransferOwnership("adopt")
	s:TransferOwnership("conn-" .. n, net.SocketActivityContext.new("ctx-" .. n))
	local ok, err = pcall(function() return s.InputStream:ReadAsync(1) end)
	print(V .. " transferred conn-" .. n .. " " .. tostring(not ok and string.find(tostring(err), "transferred") ~= nil))
end)
l:BindEndpointAsync("127.0.0.1", "{{PORT}}"):await()
print(V .. " listening")
`

// TestLuaReloadAdoptsTransferred checks that the connections a version of
// a script transferred are adopted by the next version on reload, with the
// bytes that arrived in between first, in order, and nothing lost.
func TestLuaReloadAdoptsTransferred(t *testing.T) {
	h, b := newBrokerHarness(t)
	port := freeTCPPort(t)
	src := func(v string) string {
		return strings.NewReplacer("{{V}}", v, "{{PORT}}", port).Replace(adoptScript)
	}
	path := h.write(t, "adopt.lua", src("v1"))
	v1, err := h.engine.StartGuest(wsTestCtx(t), path, host.GuestOptions{Workers: 1})
	if err != nil {
		t.Fatal(lua.ErrorText(err))
	}
	defer v1.Stop()
	h.out.wait(t, "v1 listening")

	c, err := net.Dial("tcp4", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	c.Write([]byte("first\n"))
	if line, _ := r.ReadString('\n'); line != "v1 got first\n" {
		t.Fatalf("got %q", line)
	}
	h.out.wait(t, "v1 transferred conn-1 true")

	// Held by the broker: these bytes wait for the next version.
	var sent strings.Builder
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&sent, "line %d while held\n", i)
	}
	c.Write([]byte(sent.String()))
	eventually(t, "the broker to read what was sent", func() bool {
		info := b.AllSockets("adopt")["conn-1"]
		return info != nil && info.Buffered() == sent.Len()
	})

	h.write(t, "adopt.lua", src("v2"))
	v2, err := h.engine.StartGuest(wsTestCtx(t), path, host.GuestOptions{Workers: 1, Previous: v1})
	if err != nil {
		t.Fatal(lua.ErrorText(err))
	}
	defer v2.Stop()
	h.out.wait(t, "v2 adopted conn-1 ctx-1 adopt")
	v1.Drain(wsTestCtx(t)) // the adopted connection is not v1's: the drain ends at once

	for i := 0; i < 100; i++ {
		fmt.Fprintf(&sent, "line %d after\n", i)
		fmt.Fprintf(c, "line %d after\n", i)
	}
	got := make([]byte, sent.Len())
	if _, err := io.ReadFull(r, got); err != nil {
		t.Fatalf("read %q: %v", got, err)
	}
	if string(got) != sent.String() {
		t.Fatalf("the echo differs from what was sent:\n got %q\nwant %q", got, sent.String())
	}
	if len(b.AllSockets("adopt")) != 0 {
		t.Fatal("the broker still lists the adopted connection")
	}
}

// TestBrokerListenerScript drives scripts/broker_listener.lua with real
// clients: each connection wakes the script, which serves it and parks
// the listener again; a reload finds the listener in the broker.
func TestBrokerListenerScript(t *testing.T) {
	h, b := newBrokerHarness(t)
	v1 := startDefault(t, h, "broker_listener.lua", nil, "broker_listener: listening on 127.0.0.1:7100, parked in the broker")
	serveOne := func(n int) {
		t.Helper()
		c, err := net.Dial("tcp4", "127.0.0.1:7100")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		r := bufio.NewReader(c)
		if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "hello, connection ") {
			t.Fatalf("greeting %q, %v", line, err)
		}
		fmt.Fprintf(c, "abc %d\n", n)
		if line, err := r.ReadString('\n'); err != nil || line != fmt.Sprintf("ABC %d\n", n) {
			t.Fatalf("reply %q, %v", line, err)
		}
	}
	for i := 1; i <= 3; i++ {
		serveOne(i)
		h.out.wait(t, fmt.Sprintf("broker_listener: woke for connection %d", i))
	}
	if b.AllSockets("broker_listener")["listener-7100"] == nil {
		t.Fatal("the listener is not parked in the broker")
	}

	// A reload: the new version finds the listener, the old one stops.
	v2, err := h.engine.StartGuest(wsTestCtx(t), scriptsDir+"broker_listener.lua", host.GuestOptions{Workers: 1, Env: loopbackEnv(t), Previous: v1})
	if err != nil {
		t.Fatal(lua.ErrorText(err))
	}
	defer v2.Stop()
	h.out.wait(t, "broker_listener: the broker still holds 127.0.0.1:7100")
	v1.Stop()
	serveOne(4)
}

// TestCCTClientScript drives scripts/cct_client.lua against
// scripts/tcp_echo.lua, with its keep-alive interval made short: the
// keep-alives come back as pushes, and when the echo server goes away and
// comes back, the channel resets and the client connects again.
func TestCCTClientScript(t *testing.T) {
	h, _ := newBrokerHarness(t)
	src, err := os.ReadFile(scriptsDir + "cct_client.lua")
	if err != nil {
		t.Fatal(err)
	}
	fast := strings.NewReplacer("local INTERVAL = 0.5", "local INTERVAL = 0.005", "local RETRY = 5", "local RETRY = 0.05").Replace(string(src))
	if fast == string(src) {
		t.Fatal("cct_client.lua no longer sets INTERVAL and RETRY as this test expects")
	}
	echo := startDefault(t, h, "tcp_echo.lua", nil, "7007")
	client, err := h.engine.Start(h.write(t, "cct_client.lua", fast), lua.ScriptOptions{Env: loopbackEnv(t)})
	if err != nil {
		t.Fatal(lua.ErrorText(err))
	}
	defer client.Stop()
	h.out.wait(t, "cct_client: connected to 127.0.0.1:7007; a keep-alive every 0.3 s")
	h.out.wait(t, "cct_client: echoed keep-alive 3")
	h.out.wait(t, "cct_client: push")

	echo.Stop()
	h.out.wait(t, "cct_client: connection lost (closed by the server); reconnecting")
	h.out.wait(t, "cct_client: cannot connect to 127.0.0.1:7007")
	startDefault(t, h, "tcp_echo.lua", nil)
	waitCount(t, h.out, "cct_client: connected to 127.0.0.1:7007", 2)
	// The counter goes on: the keep-alives after the reconnect are echoed.
	before := strings.Count(h.out.String(), "cct_client: echoed keep-alive")
	waitCount(t, h.out, "cct_client: echoed keep-alive", before+2)
}

// datagramScript parks a bound datagram socket in the broker and, woken
// by its first datagram, reclaims it and answers every datagram in
// capitals: the held ones first, in order.
const datagramScript = `
local net = require("netrun")
local d = net.DatagramSocket.new()
d:BindEndpointAsync("127.0.0.1", ""):await()
d:EnableTransferOwnership("udp")
d:TransferOwnership("udp-1", "datagrams", 60)
local ok, err = pcall(function() return d:ConnectAsync("127.0.0.1", "9") end)
assert(not ok and string.find(tostring(err), "transferred"), tostring(err))
net.SocketActivityTrigger:add(function(details)
	assert(details.Reason == net.SocketActivityTriggerReason.SocketActivity)
	local info = details.SocketInformation
	assert(info.SocketKind == net.SocketActivityKind.DatagramSocket)
	local ok, err = pcall(function() return info.StreamSocket end)
	assert(not ok and string.find(tostring(err), "DatagramSocket"), tostring(err))
	local sock = info.DatagramSocket
	sock.MessageReceived:add(function(sender, args)
		local data = args:GetDataReader():ReadString(args:GetDataReader().UnconsumedBufferLength)
		sender:GetOutputStreamAsync(args.RemoteAddress, args.RemotePort):await():WriteAsync(string.upper(data)):await()
	end)
	print("reclaimed " .. info.Id .. " " .. info.Context.Data)
end)
print("port " .. d.Information.LocalPort)
`

func TestLuaDatagramTransfer(t *testing.T) {
	h, _ := newBrokerHarness(t)
	h.start(t, "udp.lua", datagramScript, 1, nil)
	out := h.out.wait(t, "port ")
	port := strings.Fields(out[strings.Index(out, "port ")+5:])[0]
	c, err := net.Dial("udp4", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	words := []string{"one", "two", "three", "four", "five"}
	for _, w := range words {
		c.Write([]byte(w))
	}
	h.out.wait(t, "reclaimed udp-1 datagrams")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64)
	for _, w := range words {
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != strings.ToUpper(w) {
			t.Fatalf("got %q, %v; want %q", buf[:n], err, strings.ToUpper(w))
		}
	}
}

// transferErrorsScript checks the argument and state errors of the
// transfer methods.
const transferErrorsScript = `
local net = require("netrun")
local function fails(pattern, f, ...)
	local ok, err = pcall(f, ...)
	assert(not ok, "no error, want " .. pattern)
	assert(string.find(tostring(err), pattern, 1, true), tostring(err) .. " does not name " .. pattern)
end
local s = net.StreamSocket.new()
fails("StreamSocket:EnableTransferOwnership", function() s:EnableTransferOwnership("") end)
fails("StreamSocket:EnableTransferOwnership", function() s:EnableTransferOwnership(7) end)
fails("call EnableTransferOwnership first", function() s:TransferOwnership("x") end)
s:EnableTransferOwnership("errors")
fails("not connected", function() s:TransferOwnership("x") end)
fails("socketId", function() s:TransferOwnership("") end)
fails("context", function() s:TransferOwnership("x", 5) end)
fails("keepAliveSeconds", function() s:TransferOwnership("x", nil, -1) end)
local l = net.StreamSocketListener.new()
l:EnableTransferOwnership("errors")
fails("not bound", function() l:TransferOwnership("l") end)
fails("keepAliveSeconds", function() l:TransferOwnership("l", nil, 5) end)
fails("ControlChannelTrigger.new", function() net.ControlChannelTrigger.new("c", 0) end)
fails("ControlChannelTrigger.new", function() net.ControlChannelTrigger.new("c", 15, 2) end)
fails("channelId", function() net.ControlChannelTrigger.new(string.rep("c", 65), 15) end)
local cct = net.ControlChannelTrigger.new("c", 15, net.ControlChannelTriggerResourceType.RequestHardwareSlot)
fails("ControlChannelTrigger:UsingTransport", function() cct:UsingTransport(l) end)
fails("UsingTransport first", function() cct:WaitForPushEnabled() end)
cct.ServerKeepAliveIntervalInMinutes = 0.5
assert(cct.ServerKeepAliveIntervalInMinutes == 0.5 and cct.CurrentKeepAliveIntervalInMinutes == 0.5)
cct:DecreaseNetworkKeepAliveInterval()
assert(cct.CurrentKeepAliveIntervalInMinutes == 0.25)
fails("ServerKeepAliveIntervalInMinutes", function() cct.ServerKeepAliveIntervalInMinutes = "x" end)
assert(cct.IsWakeFromLowPowerSupported == false and cct.ControlChannelTriggerId == "c" and cct.TransportObject == nil)
cct:Close()
fails("closed", function() cct:UsingTransport(s) end)
fails("SocketActivityContext.new", function() net.SocketActivityContext.new() end)
assert(net.SocketActivityContext.new("abc").Data == "abc")
fails("AllSockets", function() return net.SocketActivityInformation.Nothing end)
assert(next(net.SocketActivityInformation.AllSockets) == nil)
assert(net.SocketActivityTriggerReason.KeepAliveTimerExpired == 3 and net.ControlChannelTriggerStatus.TransportDisconnected == 5)
print("errors ok")
`

func TestLuaTransferErrors(t *testing.T) {
	h, _ := newBrokerHarness(t)
	h.start(t, "errors.lua", transferErrorsScript, 1, nil)
	h.out.wait(t, "errors ok")
}

// Two scripts hand one connection to each other by task id: a.lua
// accepts it and transfers it to task "b"; b.lua, woken by the data that
// arrives, echoes a fixed number of bytes and transfers it back to "a",
// which echoes the rest. The client streams all along.
const handA = `
local net = require("netrun")
local function echo(s)
	pcall(function()
		while true do
			local data = s.InputStream:ReadAsync(4096):await()
			if data == "" then break end
			s.OutputStream:WriteAsync(data):await()
		end
	end)
	s:Close()
end
net.SocketActivityTrigger:add(function(d)
	local s = d.SocketInformation.StreamSocket
	print("a: back " .. d.SocketInformation.Context.Data)
	echo(s)
end)
local l = net.StreamSocketListener.new()
l.ConnectionReceived:add(function(sender, args)
	local s = args.Socket
	local first = s.InputStream:ReadAsync(6, net.InputStreamOptions.None):await()
	s.OutputStream:WriteAsync("a " .. first):await()
	s:EnableTransferOwnership("b")
	s:TransferOwnership("conn", "from a")
end)
l:BindEndpointAsync("127.0.0.1", "0"):await()
print("listening " .. l.Information.LocalPort)
`

const handB = `
local net = require("netrun")
local N = {{N}}
net.SocketActivityTrigger:add(function(d)
	local s = d.SocketInformation.StreamSocket
	print("b: got " .. d.SocketInformation.Context.Data)
	local got = 0
	while got < N do
		local data = s.InputStream:ReadAsync(N - got):await()
		if data == "" then return end
		got = got + #data
		s.OutputStream:WriteAsync(data):await()
	end
	s:EnableTransferOwnership("a")
	s:TransferOwnership("conn", "from b")
end)
print("b ready")
`

func TestLuaTransferBetweenScripts(t *testing.T) {
	h, _ := newBrokerHarness(t)
	const n, total = 100_000, 300_000
	h.start(t, "b.lua", strings.ReplaceAll(handB, "{{N}}", fmt.Sprint(n)), 1, nil)
	h.out.wait(t, "b ready")
	h.start(t, "a.lua", handA, 1, nil)
	port := listeningPort(t, h.out.wait(t, "listening "))
	c, err := net.Dial("tcp4", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	c.Write([]byte("first\n"))
	if line, _ := r.ReadString('\n'); line != "a first\n" {
		t.Fatalf("got %q", line)
	}
	testpeer.EchoPattern(t, c, r, total)
	h.out.wait(t, "b: got from a")
	h.out.wait(t, "a: back from b")
}
