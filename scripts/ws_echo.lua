-- ws_echo.lua: a WebSocket echo server.
--
-- Every message a client sends comes back to it whole, with the same
-- message type (text stays text, binary stays binary).
--
-- Try it:
--   node -e 'const W=require("ws");const w=new W("ws://127.0.0.1:7081/");w.on("open",()=>w.send("hi"));w.on("message",m=>{console.log(String(m));w.close()})'
--   python3 -m websockets ws://127.0.0.1:7081/      (Debian's python3-websockets)
--
-- Listens on: 127.0.0.1:7081 (WebSocket over TCP, any path).
-- Capabilities: loopback.

local net = require("netrun")

local PORT = "7081"
local MAX_MESSAGE = 16 * 1024 * 1024 -- larger messages close the connection with 1009

-- serve echoes one WebSocket connection. ServerMessageWebSocket.AcceptAsync
-- runs the HTTP upgrade on the accepted socket; a request that is not a
-- WebSocket upgrade gets an HTTP error response and AcceptAsync fails.
local function serve(socket)
	local ok, ws = pcall(function()
		return net.ServerMessageWebSocket.AcceptAsync(socket, { maxMessageSize = MAX_MESSAGE }):await()
	end)
	if not ok then
		print("ws_echo: refused an upgrade: " .. tostring(ws))
		return
	end
	-- MessageReceived runs once per message, each time as a task of its
	-- own; the socket keeps the order of writes, so echoes go back in the
	-- order the messages came.
	ws.MessageReceived:add(function(sender, args)
		local reader = args:GetDataReader()
		local data = reader:ReadBytes(reader.UnconsumedBufferLength)
		-- Control.MessageType decides the type of the messages sent
		-- next; each OutputStream:WriteAsync is one whole message.
		sender.Control.MessageType = args.MessageType
		local sent, err = pcall(function() sender.OutputStream:WriteAsync(data):await() end)
		if not sent then
			print("ws_echo: cannot echo: " .. tostring(err))
		end
	end)
	ws.Closed:add(function(_, args)
		if args.Code ~= 1000 and args.Code ~= 1001 and args.Code ~= 1005 then
			print("ws_echo: connection closed with " .. args.Code .. " " .. args.Reason)
		end
	end)
end

local listener = net.StreamSocketListener.new()
listener.ConnectionReceived:add(function(_, args)
	serve(args.Socket)
end)
local ok, err = pcall(function()
	listener:BindEndpointAsync("127.0.0.1", PORT):await()
end)
if ok then
	print("listening ws://127.0.0.1:" .. PORT .. "/ (ws_echo)")
else
	print("ws_echo: cannot listen on 127.0.0.1:" .. PORT .. ": " .. tostring(err))
	listener:Close()
end
