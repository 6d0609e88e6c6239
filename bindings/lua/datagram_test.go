package lua_test

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	lua "github.com/netrun/netrun/bindings/lua"
	"github.com/netrun/netrun/internal/testpeer"
)

// udpEchoScript answers each datagram with its payload through
// GetOutputStreamAsync and a DataWriter, prefixed with TAG.
const udpEchoScript = `
local net = require("netrun")
local sock = net.DatagramSocket.new()
sock.MessageReceived:add(function(sender, args)
	local reader = args:GetDataReader()
	local data = reader:ReadBytes(reader.UnconsumedBufferLength)
	local out = sender:GetOutputStreamAsync(args.RemoteAddress, args.RemotePort):await()
	local w = net.DataWriter.new(out)
	w:WriteBytes(TAG .. data)
	w:StoreAsync():await()
end)
sock:BindEndpointAsync("127.0.0.1", "0"):await()
print("listening " .. sock.Information.LocalPort)
`

// udpEcho returns the echo script with replies prefixed by tag; the
// tag "@worker" prefixes each worker's identity and a bar.
func udpEcho(tag string) string {
	t := strconv.Quote(tag)
	if tag == "@worker" {
		t = `tostring(require("netrun").state) .. "|"`
	}
	return "TAG = " + t + "\n" + udpEchoScript
}

// udpExchange sends msg from c and returns the reply, failing after a
// few retries (UDP may drop; loopback rarely does).
func udpExchange(t testing.TB, c *net.UDPConn, msg []byte) string {
	t.Helper()
	buf := make([]byte, 70000)
	for attempt := 0; attempt < 3; attempt++ {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, err := c.Read(buf)
		if err == nil {
			return string(buf[:n])
		}
		if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
			t.Fatal(err)
		}
	}
	t.Fatalf("no reply to %q", msg)
	return ""
}

func dialUDP(t testing.TB, port string) *net.UDPConn {
	t.Helper()
	c, err := net.Dial("udp4", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.UDPConn)
}

func TestDatagramEchoSocat(t *testing.T) {
	for _, workers := range []int{1, 2} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			h := newHarness(t, 0)
			h.start(t, "udpecho.lua", udpEcho(""), workers, nil)
			port := listeningPort(t, h.out.wait(t, "listening "))
			for i := 0; i < 4; i++ {
				sc := testpeer.StartSocat(t, "-", "UDP4:127.0.0.1:"+port)
				msg := fmt.Sprintf("datagram %d from socat", i)
				io.WriteString(sc.Stdin(), msg+"\n")
				sc.WaitOutput(t, msg)
				sc.Kill()
			}
		})
	}
}

func TestDatagramEchoGoClients(t *testing.T) {
	for _, workers := range []int{1, 2} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			h := newHarness(t, 0)
			h.start(t, "udpecho.lua", udpEcho(""), workers, nil)
			port := listeningPort(t, h.out.wait(t, "listening "))
			var wg sync.WaitGroup
			for i := 0; i < 16; i++ {
				c := dialUDP(t, port)
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := 0; j < 50; j++ {
						msg := fmt.Sprintf("client %d datagram %d", i, j)
						if got := udpExchange(t, c, []byte(msg)); got != msg {
							t.Errorf("got %q, want %q", got, msg)
							return
						}
					}
				}()
			}
			wg.Wait()
		})
	}
}

// TestDatagramWorkersShareOnePort checks that two workers bind one port,
// that both get datagrams, and that each sender stays on one worker.
func TestDatagramWorkersShareOnePort(t *testing.T) {
	h := newHarness(t, 0)
	h.start(t, "udpecho.lua", udpEcho("@worker"), 2, nil)
	out := h.out.wait(t, "listening ")
	port := listeningPort(t, out)
	for deadline := time.Now().Add(5 * time.Second); strings.Count(h.out.String(), "listening ") < 2; {
		if time.Now().After(deadline) {
			t.Fatalf("the second worker did not bind:\n%s", h.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if strings.Count(h.out.String(), "listening "+port+"\n") != 2 {
		t.Fatalf("the workers did not bind the same port:\n%s", h.out.String())
	}
	workers := map[string]int{}
	for i := 0; i < 32; i++ {
		c := dialUDP(t, port)
		first := ""
		for j := 0; j < 5; j++ {
			msg := fmt.Sprintf("%d/%d", i, j)
			got := udpExchange(t, c, []byte(msg))
			id, payload, _ := strings.Cut(got, "|")
			if payload != msg {
				t.Fatalf("got %q, want payload %q", got, msg)
			}
			if first == "" {
				first = id
				workers[id]++
			} else if id != first {
				t.Fatalf("client %d was answered by %s, then by %s", i, first, id)
			}
		}
	}
	if len(workers) != 2 {
		t.Fatalf("clients were answered by %d workers, want 2: %v", len(workers), workers)
	}
}

// TestDatagramReloadTakesOver starts a second version of a script that
// binds the same port: it takes the datagrams over while the first still
// runs, and keeps them once the first stops, with none lost.
func TestDatagramReloadTakesOver(t *testing.T) {
	h := newHarness(t, 0)
	v1 := h.start(t, "udpecho.lua", udpEcho("v1:"), 1, nil)
	port := listeningPort(t, h.out.wait(t, "listening "))
	c := dialUDP(t, port)
	if got := udpExchange(t, c, []byte("a")); got != "v1:a" {
		t.Fatalf("got %q", got)
	}
	v2 := h.start(t, "udpecho.lua", udpEcho("v2:"), 1, nil)
	for deadline := time.Now().Add(5 * time.Second); strings.Count(h.out.String(), "listening ") < 2; {
		if time.Now().After(deadline) {
			t.Fatalf("the new version did not bind:\n%s", h.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(h.out.String(), "listening "+port+"\n"+"listening "+port+"\n") {
		t.Fatalf("the new version bound another port:\n%s", h.out.String())
	}
	if !lua.DatagramsTakenOver(v1, v2) {
		t.Error("the hub does not report the socket taken over")
	}
	if got := udpExchange(t, c, []byte("b")); got != "v2:b" {
		t.Fatalf("after the reload got %q, want v2:b", got)
	}
	v1.Stop()
	for i := 0; i < 20; i++ {
		msg := "c" + strconv.Itoa(i)
		if got := udpExchange(t, c, []byte(msg)); got != "v2:"+msg {
			t.Fatalf("after the old version stopped got %q", got)
		}
	}
}

// TestDatagramStopReleasesPort checks that a stopped worker closes the
// socket it bound.
func TestDatagramStopReleasesPort(t *testing.T) {
	h := newHarness(t, 0)
	s := h.start(t, "udpecho.lua", udpEcho(""), 2, nil)
	port := listeningPort(t, h.out.wait(t, "listening "))
	if got := udpExchange(t, dialUDP(t, port), []byte("x")); got != "x" {
		t.Fatalf("got %q", got)
	}
	s.Stop()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:"+port)
	if err != nil {
		t.Fatalf("the port is still bound after Stop: %v", err)
	}
	pc.Close()
}

func TestDatagramDataReaderWholeDatagram(t *testing.T) {
	h := newHarness(t, 0)
	h.start(t, "reader.lua", `
local net = require("netrun")
local sock = net.DatagramSocket.new()
sock.MessageReceived:add(function(sender, args)
	local r = args:GetDataReader()
	local total = r.UnconsumedBufferLength
	local n = r:ReadUInt32()
	local s = r:ReadString(n)
	r.ByteOrder = net.ByteOrder.LittleEndian
	local le = r:ReadUInt16()
	print("reader", total, n, s, le, r.UnconsumedBufferLength, tostring(args.RemoteAddress), args.LocalAddress.CanonicalName)
	local ok, err = pcall(function() return r:ReadByte() end)
	print("past end", ok, string.format("0x%08X", err.HResult), err.Message)
	-- the same datagram through GetDataStream and a DataReader of its own
	local r2 = net.DataReader.new(args:GetDataStream())
	print("stream", r2.UnconsumedBufferLength, r2:LoadAsync(1000):await(), r2.UnconsumedBufferLength, r2:LoadAsync(10):await())
	print("done")
end)
sock:BindServiceNameAsync(""):await()
print("listening " .. sock.Information.LocalPort)
`, 1, nil)
	port := listeningPort(t, h.out.wait(t, "listening "))
	c := dialUDP(t, port)
	msg := binary.BigEndian.AppendUint32(nil, 5)
	msg = append(msg, "hello"...)
	msg = binary.LittleEndian.AppendUint16(msg, 0xBEEF)
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	out := h.out.wait(t, "done")
	for _, want := range []string{
		"reader\t11\t5\thello\t48879\t0\t127.0.0.1\t127.0.0.1",
		"past end\tfalse\t0x8000000B\tDataReader:ReadByte: 1 bytes needed, 0 available",
		"stream\t0\t11\t11\t0",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestDatagramClientConnected exercises a connected socket of the
// worker's own against socat's UDP echo server: OutputStream with a
// DataWriter and with WriteAsync, replies through MessageReceived.
func TestDatagramClientConnected(t *testing.T) {
	addr := testpeer.UDPEchoServer(t, "udp4", "127.0.0.1")
	host, port, _ := net.SplitHostPort(addr)
	h := newHarness(t, 0)
	h.start(t, "client.lua", `
local net = require("netrun")
local sock = net.DatagramSocket.new()
local got = 0
sock.MessageReceived:add(function(sender, args)
	local r = args:GetDataReader()
	print("reply", r:ReadString(r.UnconsumedBufferLength), args.RemotePort == "`+port+`")
	got = got + 1
	if got == 2 then print("done") end
end)
sock:ConnectAsync("`+host+`", "`+port+`"):await()
print("info", sock.Information.RemoteAddress.CanonicalName, sock.Information.RemotePort, sock.Information.LocalPort ~= "")
local w = net.DataWriter.new(sock.OutputStream)
print("measured", w:WriteString("first"), w.UnstoredBufferLength)
print("stored", w:StoreAsync():await(), w.UnstoredBufferLength)
net.sleep(0.2) -- keep the replies in order
print("written", sock.OutputStream:WriteAsync("second"):await())
`, 1, nil)
	out := h.out.wait(t, "done")
	for _, want := range []string{
		"info\t" + host + "\t" + port + "\ttrue",
		"measured\t5\t5",
		"stored\t5\t0",
		"written\t6",
		"reply\tfirst\ttrue",
		"reply\tsecond\ttrue",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestDatagramMessageTooLong(t *testing.T) {
	h := newHarness(t, 0)
	h.start(t, "toolong.lua", `
local net = require("netrun")
local sock = net.DatagramSocket.new()
local out = sock:GetOutputStreamAsync("127.0.0.1", "9"):await()
local w = net.DataWriter.new(out)
w:WriteBytes(string.rep("x", 70000))
local ok, err = pcall(function() return w:StoreAsync():await() end)
print("store", ok, err.Status, err.Status == net.SocketErrorStatus.MessageTooLong, net.SocketError.GetStatus(err))
local ok2, err2 = pcall(function() return out:WriteAsync(string.rep("y", 70000)):await() end)
print("write", ok2, err2.Status)
print("done")
`, 1, nil)
	out := h.out.wait(t, "done")
	for _, want := range []string{"store\tfalse\t22\ttrue\t22", "write\tfalse\t22"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestDatagramArgumentErrors(t *testing.T) {
	h := newHarness(t, 0)
	h.start(t, "args.lua", `
local net = require("netrun")
local sock = net.DatagramSocket.new()
local function try(label, f)
	local ok, err = pcall(f)
	if ok then
		print(label, "no error")
	else
		print(label, string.format("0x%08X", err.HResult), err.Message)
	end
end
try("notbound", function() sock:JoinMulticastGroup("224.0.0.251") end)
sock:BindServiceNameAsync(""):await()
try("unicast", function() sock:JoinMulticastGroup("127.0.0.1") end)
try("name", function() sock:JoinMulticastGroup("example.com") end)
try("number", function() sock:JoinMulticastGroup(42) end)
try("nil", function() sock:JoinMulticastGroup() end)
try("badhost", function() sock:JoinMulticastGroup("not a host!") end)
try("join", function() sock:JoinMulticastGroup("224.0.0.251") end)
try("twice", function() sock:JoinMulticastGroup("224.0.0.251") end)
try("rebind", function() sock:BindServiceNameAsync("") end)
try("hoplimit", function() sock.Control.OutboundUnicastHopLimit = 0 end)
try("dontfragment", function() sock.Control.DontFragment = true end)
try("connect", function() sock:ConnectAsync(nil, "53") end)
try("service", function() sock:GetOutputStreamAsync("127.0.0.1", 53) end)
sock:Close()
try("closed", function() sock:JoinMulticastGroup("224.0.0.251") end)
print("done")
`, 1, nil)
	out := h.out.wait(t, "done")
	for _, want := range []string{
		"notbound\t0x8000000E\tDatagramSocket.JoinMulticastGroup",
		"unicast\t0x80070057\tDatagramSocket:JoinMulticastGroup: argument #2 (host): 127.0.0.1 is not a multicast address",
		"name\t0x80070057\tDatagramSocket:JoinMulticastGroup: argument #2 (host): an IP address expected",
		"number\t0x80070057\tDatagramSocket:JoinMulticastGroup: argument #2 (host): HostName or string expected, got number",
		"nil\t0x80070057\tDatagramSocket:JoinMulticastGroup: argument #2 (host): HostName or string expected, got nil",
		"badhost\t0x80070057\tDatagramSocket:JoinMulticastGroup: argument #2 (host)",
		"join\tno error",
		"twice\tno error",
		"rebind\t0x8000000E\tDatagramSocket:BindServiceNameAsync: the socket is already bound",
		"hoplimit\t0x80070057\tDatagramSocketControl.OutboundUnicastHopLimit: argument #1 (value)",
		"dontfragment\t0x8000000E\tDatagramSocketControl.DontFragment",
		"connect\t0x80070057\tDatagramSocket:ConnectAsync: argument #2 (remoteHostName)",
		"service\t0x80070057\tDatagramSocket:GetOutputStreamAsync: argument #3 (remoteServiceName): string expected, got number",
		"closed\t0x80000013\t",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestDatagramOutputStreamCache checks that GetOutputStreamAsync gives
// the same stream for the same peer without resolving again, and that
// the cache is bounded (1024 peers, least recently used evicted).
func TestDatagramOutputStreamCache(t *testing.T) {
	h := newHarness(t, 0)
	h.start(t, "cache.lua", `
local net = require("netrun")
local sock = net.DatagramSocket.new()
local first = sock:GetOutputStreamAsync("127.0.0.1", "9"):await()
local op = sock:GetOutputStreamAsync("127.0.0.1", "9")
print("hit", op.Status == net.AsyncStatus.Completed, op:await() == first)
print("hostname", sock:GetOutputStreamAsync(net.HostName.new("127.0.0.1"), "9"):await() == first)
local recent = sock:GetOutputStreamAsync("127.0.0.1", "10"):await()
for port = 11, 11 + 1022 do
	sock:GetOutputStreamAsync("127.0.0.1", tostring(port)):await()
	if port == 600 then sock:GetOutputStreamAsync("127.0.0.1", "10"):await() end
end
print("evicted", sock:GetOutputStreamAsync("127.0.0.1", "9"):await() ~= first)
print("kept", sock:GetOutputStreamAsync("127.0.0.1", "10"):await() == recent)
print("done")
`, 1, nil)
	out := h.out.wait(t, "done")
	for _, want := range []string{"hit\ttrue\ttrue", "hostname\ttrue", "evicted\ttrue", "kept\ttrue"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
