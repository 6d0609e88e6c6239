-- cct_client.lua: a long-lived client kept alive through a control channel.
--
-- It connects to tcp_echo.lua (another default script) and keeps the
-- connection up with a ControlChannelTrigger: every keep-alive interval
-- the channel raises KeepAliveTrigger, and the script sends a line, which
-- the echo server sends back; the reply raises PushNotificationTrigger.
-- When the connection drops, ResetTrigger fires and the script connects
-- again, retrying every 5 seconds until the server is back.
--
-- Try it: run netrun with the default scripts and watch its output; stop
-- and start tcp_echo.lua (move it out of scripts/ and back) to see the
-- reset and the reconnect.
--
-- Connects to: 127.0.0.1:7007 (tcp_echo.lua). Listens on: nothing.
-- Capabilities: loopback.

local net = require("netrun")

local HOST, PORT = "127.0.0.1", "7007"
-- Minutes between keep-alives. WinRT's least is 15; netrun takes
-- fractions of a minute, so this demo can show one every 30 seconds.
local INTERVAL = 0.5
local RETRY = 5 -- seconds between connection attempts

local cct = net.ControlChannelTrigger.new("cct_client", INTERVAL)
local Status = net.ControlChannelTriggerStatus
local socket -- the connection the channel keeps alive, while it is up
local sent = 0

-- readLoop keeps a read posted on the connection, as WinRT asks of a
-- control channel's owner, and prints what comes back. It ends with the
-- connection; the ResetTrigger handler reconnects.
local function readLoop(s)
	pcall(function()
		while true do
			local data = s.InputStream:ReadAsync(4096):await()
			if data == "" then break end
			for line in string.gmatch(data, "[^\n]+") do
				print("cct_client: echoed " .. line)
			end
		end
	end)
end

-- connect connects a new socket through the channel, until it works.
local function connect()
	while true do
		local s = net.StreamSocket.new()
		cct:UsingTransport(s) -- before the connect, as WinRT asks
		local ok, err = pcall(function() s:ConnectAsync(HOST, PORT):await() end)
		local status = ok and cct:WaitForPushEnabled() or Status.TransportDisconnected
		if status == Status.SoftwareSlotAllocated then
			socket = s
			print(string.format("cct_client: connected to %s:%s; a keep-alive every %g s",
				HOST, PORT, cct.CurrentKeepAliveIntervalInMinutes * 60))
			net.spawn(readLoop, s)
			return
		end
		s:Close()
		print("cct_client: cannot connect to " .. HOST .. ":" .. PORT .. " (" .. tostring(err or status) ..
			"); retrying in " .. RETRY .. " s")
		net.sleep(RETRY)
	end
end

cct.KeepAliveTrigger:add(function(sender, args)
	if not socket then return end
	sent = sent + 1
	pcall(function()
		socket.OutputStream:WriteAsync("keep-alive " .. sent .. "\n"):await()
		cct:FlushTransport():await()
	end)
end)

cct.PushNotificationTrigger:add(function(sender, args)
	print("cct_client: push")
end)

cct.ResetTrigger:add(function(sender, args)
	print("cct_client: connection lost (" .. tostring(args.Error or "closed by the server") .. "); reconnecting")
	if args.Error then
		-- Dropped rather than closed: a middlebox may have timed it out,
		-- so ask for keep-alives more often.
		cct:DecreaseNetworkKeepAliveInterval()
	end
	if socket then socket:Close() end
	socket = nil
	connect()
end)

connect()
