-- ws_feed.lua: follow a WebSocket feed and log it.
--
-- Connects to FEED (by default the ws_chat.lua hub on this host), prints
-- every text message it receives as "feed: <message>", and reconnects
-- with a growing delay (1 s, doubling up to 30 s) whenever the
-- connection fails or closes, so it can start before the feed does.
--
-- Try it: run netrun with the default scripts and chat through ws_chat
-- (python3 -m websockets ws://127.0.0.1:7082/chat); each line shows up in
-- netrun's output.
--
-- Connects to: ws://127.0.0.1:7082/chat.
-- Capabilities: loopback.

local net = require("netrun")
local errname = require("lib.errname")

local FEED = "ws://127.0.0.1:7082/chat"

-- follow holds one connection to the feed and returns when it ends.
local function follow()
	local ws = net.MessageWebSocket.new()
	ws.Control.MessageType = net.SocketMessageType.Utf8
	-- Every message arrives whole (FullMessage is the default mode).
	ws.MessageReceived:add(function(_, args)
		local reader = args:GetDataReader()
		print("feed: " .. reader:ReadString(reader.UnconsumedBufferLength))
	end)
	local closed = net.sleepAsync(365 * 24 * 3600) -- cancelled when the feed closes
	ws.Closed:add(function(_, args)
		print("ws_feed: feed closed (" .. args.Code .. (args.Reason ~= "" and " " .. args.Reason or "") .. ")")
		closed:Cancel()
	end)
	ws:ConnectAsync(FEED):await()
	print("ws_feed: following " .. FEED)
	pcall(function() closed:await() end)
	return true
end

local delay = 1
while true do
	local ok, err = pcall(follow)
	if ok then
		delay = 1
	else
		print("ws_feed: cannot follow " .. FEED .. ": " .. errname(err) .. "; retrying in " .. delay .. " s")
	end
	net.sleep(delay)
	delay = math.min(delay * 2, 30)
end
