-- broker_listener.lua: a listener parked in the socket broker.
--
-- The script binds a listener, hands it to the broker with
-- TransferOwnership, and sleeps: the broker accepts connections. Each one
-- wakes the script through its SocketActivityTrigger handler (reason
-- ConnectionAccepted), which reclaims the listener, takes the connection
-- through ConnectionReceived, parks the listener again and serves the
-- client: a greeting, then every line back in capitals, until the client
-- closes. The listener survives a reload of this script in the broker:
-- the new version finds it in SocketActivityInformation.AllSockets
-- instead of binding again.
--
-- Try it:
--   socat - TCP:127.0.0.1:7100        (type lines; they come back in capitals)
--
-- Listens on: 127.0.0.1:7100 (TCP), through the broker.
-- Capabilities: loopback.

local net = require("netrun")

local PORT = "7100"
local TASK = "broker_listener" -- this script's task id: its file name without .lua
local ID = "listener-" .. PORT -- the listener's socket id in the broker

local served = 0

-- serve greets a client and echoes its lines in capitals until it closes.
local function serve(s, n)
	pcall(function()
		s.OutputStream:WriteAsync("hello, connection " .. n .. "\n"):await()
		while true do
			local data = s.InputStream:ReadAsync(4096):await()
			if data == "" then break end
			s.OutputStream:WriteAsync(string.upper(data)):await()
		end
	end)
	s:Close()
end

net.SocketActivityTrigger:add(function(details)
	local info = details.SocketInformation
	if details.Reason ~= net.SocketActivityTriggerReason.ConnectionAccepted or info.Id ~= ID then
		return
	end
	-- Reading the property reclaims the listener. The connections the
	-- broker accepted come through ConnectionReceived once a handler is
	-- added, even after the listener is parked again.
	local listener = info.StreamSocketListener
	listener.ConnectionReceived:add(function(sender, args)
		served = served + 1
		print("broker_listener: woke for connection " .. served)
		serve(args.Socket, served)
	end)
	listener:TransferOwnership(ID, info.Context)
end)

if net.SocketActivityInformation.AllSockets[ID] then
	print("broker_listener: the broker still holds 127.0.0.1:" .. PORT)
else
	local listener = net.StreamSocketListener.new()
	listener:EnableTransferOwnership(TASK)
	listener:BindEndpointAsync("127.0.0.1", PORT):await()
	listener:TransferOwnership(ID, net.SocketActivityContext.new("127.0.0.1:" .. PORT))
	print("broker_listener: listening on 127.0.0.1:" .. PORT .. ", parked in the broker")
end
