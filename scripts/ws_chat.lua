-- ws_chat.lua: a WebSocket broadcast hub.
--
-- Each text message a client sends goes to every connected client,
-- sender included, prefixed by the sender's name: "guest3: hello".
-- Joins and leaves are announced as "* guest3 joined". Binary messages
-- are refused with close code 1003.
--
-- A slow client never holds up the others: each client may have at most
-- MAX_PENDING messages not yet taken by the kernel; one more and it is
-- closed with code 1008.
--
-- Try it, in two or more terminals:
--   python3 -m websockets ws://127.0.0.1:7082/chat  (Debian's python3-websockets)
-- ws_feed.lua follows this hub and logs what it says.
--
-- Listens on: 127.0.0.1:7082, path /chat (WebSocket over TCP).
-- Capabilities: loopback.
--
-- Workers: the hub lives in one Lua state; run it with one worker.

local net = require("netrun")

local PORT = "7082"
local MAX_PENDING = 256
local MAX_MESSAGE = 64 * 1024

local clients = {} -- in order of arrival
local guests = 0

local broadcast

-- leave takes c out of the hub (once) and tells the others.
local function leave(c, why)
	if c.gone then return end
	c.gone = true
	for i, other in ipairs(clients) do
		if other == c then
			table.remove(clients, i)
			break
		end
	end
	broadcast("* " .. c.name .. " " .. why)
end

-- send queues one text message to c. The socket keeps writes in order;
-- op.Completed counts them down as the kernel takes them.
local function send(c, text)
	if c.gone then return end
	if c.pending >= MAX_PENDING then
		leave(c, "was dropped: not reading")
		c.ws:Close(1008, "too slow")
		return
	end
	c.pending = c.pending + 1
	local op = c.ws.OutputStream:WriteAsync(text)
	op.Completed = function(_, status)
		c.pending = c.pending - 1
		if status ~= net.AsyncStatus.Completed then
			leave(c, "left (send failed)")
		end
	end
end

broadcast = function(text)
	-- Copy first: a send may drop a client and change the list.
	local targets = {}
	for i, c in ipairs(clients) do targets[i] = c end
	for _, c in ipairs(targets) do send(c, text) end
end

local function serve(socket)
	local ok, ws = pcall(function()
		return net.ServerMessageWebSocket.AcceptAsync(socket, { path = "/chat", maxMessageSize = MAX_MESSAGE }):await()
	end)
	if not ok then
		print("ws_chat: refused an upgrade: " .. tostring(ws))
		return
	end
	guests = guests + 1
	local c = { ws = ws, name = "guest" .. guests, pending = 0 }
	ws.Control.MessageType = net.SocketMessageType.Utf8
	ws.MessageReceived:add(function(_, args)
		if args.MessageType ~= net.SocketMessageType.Utf8 then
			leave(c, "left (sent binary)")
			ws:Close(1003, "text only")
			return
		end
		local reader = args:GetDataReader()
		broadcast(c.name .. ": " .. reader:ReadString(reader.UnconsumedBufferLength))
	end)
	ws.Closed:add(function()
		leave(c, "left")
	end)
	clients[#clients + 1] = c
	broadcast("* " .. c.name .. " joined")
end

local listener = net.StreamSocketListener.new()
listener.ConnectionReceived:add(function(_, args)
	serve(args.Socket)
end)
local ok, err = pcall(function()
	listener:BindEndpointAsync("127.0.0.1", PORT):await()
end)
if ok then
	print("listening ws://127.0.0.1:" .. PORT .. "/chat (ws_chat)")
else
	print("ws_chat: cannot listen on 127.0.0.1:" .. PORT .. ": " .. tostring(err))
	listener:Close()
end
