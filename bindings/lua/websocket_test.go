package lua_test

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	cws "github.com/coder/websocket"

	"github.com/netrun/netrun/internal/testpeer"
)

// The WebSocket classes from Lua, against coder/websocket clients in Go
// (the interop tests with Node's ws and Python's websockets live in
// runtime/websocket and scripts_test.go).

func wsTestCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// dialWS connects a coder/websocket client to url.
func dialWS(t *testing.T, ctx context.Context, url string, opts *cws.DialOptions) *cws.Conn {
	t.Helper()
	c, _, err := cws.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	c.SetReadLimit(64 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func TestWSEchoScript(t *testing.T) {
	h := newHarness(t, 0)
	startDefault(t, h, "ws_echo.lua", nil, "listening ws://127.0.0.1:7081/")
	ctx := wsTestCtx(t)
	c := dialWS(t, ctx, "ws://127.0.0.1:7081/", nil)

	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB
	cases := []struct {
		typ  cws.MessageType
		data []byte
	}{
		{cws.MessageText, []byte("hello")},
		{cws.MessageBinary, []byte{0, 1, 2, 255}},
		{cws.MessageText, []byte("")},
		{cws.MessageText, []byte("héllo wörld")},
		{cws.MessageBinary, big},
	}
	// Send them all first: the echoes must come back in order and each
	// with its own type.
	for _, tc := range cases {
		if err := c.Write(ctx, tc.typ, tc.data); err != nil {
			t.Fatal(err)
		}
	}
	for i, tc := range cases {
		typ, got, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("echo %d: %v", i, err)
		}
		if typ != tc.typ || !bytes.Equal(got, tc.data) {
			t.Fatalf("echo %d: got %v of %d bytes, want %v of %d bytes", i, typ, len(got), tc.typ, len(tc.data))
		}
	}
	if err := c.Close(cws.StatusNormalClosure, "bye"); err != nil {
		t.Fatal(err)
	}

	// A plain HTTP request is refused with an HTTP error, and the
	// script goes on.
	conn, err := net.Dial("tcp", "127.0.0.1:7081")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	buf := make([]byte, 64)
	n, _ := conn.Read(buf)
	if !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 4") {
		t.Fatalf("plain GET got %q, want a 4xx response", buf[:n])
	}
	h.out.wait(t, "ws_echo: refused an upgrade")
	c2 := dialWS(t, ctx, "ws://127.0.0.1:7081/", nil)
	c2.Write(ctx, cws.MessageText, []byte("still here"))
	if _, got, err := c2.Read(ctx); err != nil || string(got) != "still here" {
		t.Fatalf("after a refused upgrade: %q, %v", got, err)
	}
}

func TestWSChatAndFeedScripts(t *testing.T) {
	h := newHarness(t, 0)
	startDefault(t, h, "ws_chat.lua", nil, "listening ws://127.0.0.1:7082/chat")
	startDefault(t, h, "ws_feed.lua", nil, "ws_feed: following ws://127.0.0.1:7082/chat")
	ctx := wsTestCtx(t)
	readUntil := func(c *cws.Conn, want string) {
		t.Helper()
		for {
			_, got, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("waiting for %q: %v", want, err)
			}
			if string(got) == want {
				return
			}
		}
	}
	// A newcomer hears its own join first, "* guestN joined": that is its
	// name. (The hub numbers guests in the order it finishes their
	// upgrades, which need not be the order the clients saw them finish.)
	join := func() (*cws.Conn, string) {
		t.Helper()
		c := dialWS(t, ctx, "ws://127.0.0.1:7082/chat", nil)
		_, got, err := c.Read(ctx)
		name, ok := strings.CutPrefix(string(got), "* ")
		name, ok2 := strings.CutSuffix(name, " joined")
		if err != nil || !ok || !ok2 || !strings.HasPrefix(name, "guest") {
			t.Fatalf("a newcomer's first message: %q, %v; want \"* guestN joined\"", got, err)
		}
		return c, name
	}
	a, nameA := join()
	b, nameB := join()
	readUntil(a, "* "+nameB+" joined")
	if err := a.Write(ctx, cws.MessageText, []byte("hi all")); err != nil {
		t.Fatal(err)
	}
	readUntil(b, nameA+": hi all")
	readUntil(a, nameA+": hi all")
	h.out.wait(t, "feed: "+nameA+": hi all")

	// Binary is refused with 1003, and the others hear of it.
	a.Write(ctx, cws.MessageBinary, []byte{1})
	if _, _, err := a.Read(ctx); cws.CloseStatus(err) != cws.StatusUnsupportedData {
		t.Fatalf("after binary: %v, want close 1003", err)
	}
	readUntil(b, "* "+nameA+" left (sent binary)")

	// A wrong path gets 404.
	if _, resp, err := cws.Dial(ctx, "ws://127.0.0.1:7082/other", nil); err == nil || resp == nil || resp.StatusCode != 404 {
		t.Fatalf("wrong path: %v, %v", resp, err)
	}
}

// wsPort returns a free TCP port on 127.0.0.1 for a script to listen on.
func wsPort(t *testing.T) string {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

func TestWSLuaClientAndServer(t *testing.T) {
	h := newHarness(t, 0)
	port := wsPort(t)
	closedPort := wsPort(t)
	h.start(t, "ws.lua", `
local net = require("netrun")
local PORT = "`+port+`"

-- The server: a message echo on /msg with subprotocols, a stream echo on
-- /stream, chosen by trying the message accept's path first.
local listener = net.StreamSocketListener.new()
listener.ConnectionReceived:add(function(_, args)
	local ok, ws = pcall(function()
		return net.ServerMessageWebSocket.AcceptAsync(args.Socket, { path = "/msg", protocols = { "v2", "v1" } }):await()
	end)
	if not ok then
		print("server refused", net.WebSocketError.GetStatus(ws))
		return
	end
	print("server protocol", ws.Information.Protocol)
	local ok2, err2 = pcall(function() return args.Socket.InputStream:ReadAsync(10) end)
	print("upgraded socket", ok2, string.format("0x%08X", err2.HResult))
	ws.MessageReceived:add(function(sender, a)
		local r = a:GetDataReader()
		local s = r:ReadBytes(r.UnconsumedBufferLength)
		sender.Control.MessageType = a.MessageType
		sender.OutputStream:WriteAsync("echo:" .. s):await()
	end)
	ws.Closed:add(function(_, a) print("server closed", a.Code, a.Reason) end)
end)
listener:BindEndpointAsync("127.0.0.1", PORT):await()

local ws = net.MessageWebSocket.new()
ws.Control.SupportedProtocols:Append("v1")
ws.Control.SupportedProtocols:Append("v2")
ws.Control.MessageType = net.SocketMessageType.Utf8
local got = {}
local wake = net.sleepAsync(30)
ws.MessageReceived:add(function(_, a)
	local r = a:GetDataReader()
	got[#got + 1] = a.MessageType .. ":" .. r:ReadString(r.UnconsumedBufferLength)
	if #got == 4 then wake:Cancel() end
end)
local closed = net.sleepAsync(30)
ws.Closed:add(function(_, a) print("client closed", a.Code, a.Reason); closed:Cancel() end)
ws:ConnectAsync("ws://127.0.0.1:" .. PORT .. "/msg"):await()
print("client protocol", ws.Information.Protocol)
ws.OutputStream:WriteAsync("one")
ws.Control.MessageType = net.SocketMessageType.Binary
ws.OutputStream:WriteAsync("two")
ws.Control.MessageType = net.SocketMessageType.Utf8
ws:SendNonfinalFrameAsync("thr")
ws:SendFinalFrameAsync("ee"):await()
local w = net.DataWriter.new(ws.OutputStream)
w:WriteString("four")
w:StoreAsync():await()
pcall(function() wake:await() end)
print("got", table.concat(got, ","))

local ok, err = pcall(function() ws:Close(999, "nope") end)
print("bad close", ok, string.format("0x%08X", err.HResult))
ws:Close(4000, "done here")
pcall(function() closed:await() end)

-- Errors, caught with plain pcall around await.
local bad = net.MessageWebSocket.new()
local ok3, err3 = pcall(function() bad:ConnectAsync("ws://127.0.0.1:" .. PORT .. "/nothing"):await() end)
print("404", ok3, net.WebSocketError.GetStatus(err3) == net.WebErrorStatus.NotFound, net.WebSocketError.GetStatus(err3))
local refused = net.MessageWebSocket.new()
local ok4, err4 = pcall(function() refused:ConnectAsync("ws://127.0.0.1:`+closedPort+`/"):await() end)
print("refused", ok4, net.WebSocketError.GetStatus(err4) == net.WebErrorStatus.CannotConnect, net.SocketError.GetStatus(err4))
local ok5, err5 = pcall(function() net.MessageWebSocket.new():ConnectAsync(42) end)
print("badarg", ok5, err5.Message)
local ok6, err6 = pcall(function() net.ServerMessageWebSocket.AcceptAsync(listener, {}) end)
print("badsocket", ok6, err6.Message)
local ok7, err7 = pcall(function() net.ServerMessageWebSocket.AcceptAsync(net.StreamSocket.new(), { pth = "/" }) end)
print("badopt", ok7, err7.Message)
print("finished")
`, 1, nil)
	// Printed by the server's tasks, which may end after the main chunk.
	h.out.wait(t, "server refused")
	h.out.wait(t, "server closed")
	out := h.out.wait(t, "finished")
	for _, want := range []string{
		"server protocol\tv2",
		"client protocol\tv2",
		"upgraded socket\tfalse\t0x8000000E",
		"got\t1:echo:one,0:echo:two,1:echo:three,1:echo:four",
		"bad close\tfalse\t0x80070057",
		"server closed\t4000\tdone here",
		"client closed\t4000\tdone here",
		"server refused\t404",
		"404\tfalse\ttrue\t404",
		"refused\tfalse\ttrue\t12",
		"badarg\tfalse\tMessageWebSocket:ConnectAsync: argument #2 (uri): string expected, got number",
		"badsocket\tfalse\tServerMessageWebSocket.AcceptAsync: argument #1 (socket): StreamSocket expected, got StreamSocketListener",
		`badopt	false	ServerMessageWebSocket.AcceptAsync: argument #2 (options): unknown option "pth"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestWSLuaStreamSockets(t *testing.T) {
	h := newHarness(t, 0)
	port := wsPort(t)
	h.start(t, "wss.lua", `
local net = require("netrun")
local listener = net.StreamSocketListener.new()
listener.ConnectionReceived:add(function(_, args)
	local ws = net.ServerStreamWebSocket.AcceptAsync(args.Socket):await()
	while true do
		local data = ws.InputStream:ReadAsync(4096):await()
		if data == "" then break end
		ws.OutputStream:WriteAsync(data:upper()):await()
	end
	print("server saw the end")
	ws:Close(1000, "")
end)
listener:BindEndpointAsync("127.0.0.1", "`+port+`"):await()

local ws = net.StreamWebSocket.new()
ws.Control.NoDelay = true
ws:ConnectAsync("ws://127.0.0.1:`+port+`/"):await()
ws.OutputStream:WriteAsync("hello, "):await()
local r = net.DataReader.new(ws.InputStream)
local n = r:LoadAsync(7):await()
print("read", n, r:ReadString(7))
ws.OutputStream:WriteAsync("stream"):await()
print("read2", ws.InputStream:ReadAsync(100):await())
ws:Close()
print("done")
`, 1, nil)
	out := h.out.wait(t, "done")
	for _, want := range []string{"read\t7\tHELLO, ", "read2\tSTREAM"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	h.out.wait(t, "server saw the end")
}

// TestWSLuaSecureClient connects a Lua MessageWebSocket over wss to Node's
// ws serving a self-signed certificate: refused as untrusted, then
// accepted with Untrusted ignorable, through ServerCustomValidationRequested
// (a Reject, then a deferred accept).
func TestWSLuaSecureClient(t *testing.T) {
	node := testpeer.StartWSServer(t, testpeer.NodeWS, testpeer.WSPeerOptions{Leaf: testpeer.SelfSigned(t, testpeer.LeafOptions{})})
	h := newHarness(t, 0)
	h.start(t, "wss.lua", `
local net = require("netrun")
local URL = "`+node.URL+`"

local function attempt(ignore, decide)
	local ws = net.MessageWebSocket.new()
	if ignore then ws.Control.IgnorableServerCertificateErrors:Append(net.ChainValidationResult.Untrusted) end
	if decide then ws.ServerCustomValidationRequested:add(decide) end
	local got = net.sleepAsync(30)
	local reply
	ws.MessageReceived:add(function(_, a)
		local r = a:GetDataReader()
		reply = r:ReadString(r.UnconsumedBufferLength)
		got:Cancel()
	end)
	local ok, err = pcall(function() ws:ConnectAsync(URL):await() end)
	if not ok then return "failed " .. net.WebSocketError.GetStatus(err) end
	ws.Control.MessageType = net.SocketMessageType.Utf8
	ws.OutputStream:WriteAsync("over tls"):await()
	pcall(function() got:await() end)
	local severity = ws.Information.ServerCertificateErrorSeverity
	ws:Close(1000, "")
	return "echo " .. tostring(reply) .. " severity " .. severity
end

print("strict", attempt(false, nil))
print("rejected", attempt(true, function(_, args)
	print("offered", args.ServerCertificate.Subject, args.ServerCertificateErrors[1])
	args:Reject()
end))
print("deferred", attempt(true, function(_, args)
	local d = args:GetDeferral()
	net.sleep(0.01)
	d:Complete()
end))
print("finished")
`, 1, nil)
	out := h.out.wait(t, "finished")
	for _, want := range []string{
		"strict\tfailed 3",   // CertificateContainsErrors
		"rejected\tfailed 5", // a Reject: CertificateIsInvalid
		"offered\tCN=localhost,O=netrun testpeer\t1",
		"deferred\techo over tls severity 1", // Ignorable
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestWSLuaPartialMessages receives a 1 MiB message in PartialMessage mode:
// several MessageReceived events whose pieces add up to the message, the
// last with IsMessageComplete.
func TestWSLuaPartialMessages(t *testing.T) {
	h := newHarness(t, 0)
	port := wsPort(t)
	h.start(t, "partial.lua", `
local net = require("netrun")
local listener = net.StreamSocketListener.new()
listener.ConnectionReceived:add(function(_, args)
	local ws = net.ServerMessageWebSocket.AcceptAsync(args.Socket,
		{ receiveMode = net.MessageWebSocketReceiveMode.PartialMessage }):await()
	local pieces, bytes = 0, 0
	ws.MessageReceived:add(function(sender, a)
		local r = a:GetDataReader()
		bytes = bytes + r.UnconsumedBufferLength
		if r.UnconsumedBufferLength > 0 then pieces = pieces + 1 end
		if a.IsMessageComplete then
			print("message", bytes, pieces > 1, a.MessageType)
			sender.Control.MessageType = net.SocketMessageType.Utf8
			sender.OutputStream:WriteAsync("got " .. bytes):await()
			pieces, bytes = 0, 0
		end
	end)
end)
listener:BindEndpointAsync("127.0.0.1", "`+port+`"):await()
print("listening")
`, 1, nil)
	h.out.wait(t, "listening")
	ctx := wsTestCtx(t)
	c := dialWS(t, ctx, "ws://127.0.0.1:"+port+"/", nil)
	if err := c.Write(ctx, cws.MessageBinary, bytes.Repeat([]byte{7}, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if _, got, err := c.Read(ctx); err != nil || string(got) != "got 1048576" {
		t.Fatalf("reply %q, %v", got, err)
	}
	h.out.wait(t, "message\t1048576\ttrue\t0")
}
