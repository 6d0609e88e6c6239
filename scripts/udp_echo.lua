-- udp_echo.lua: a UDP echo server.
--
-- Every datagram received is sent back, whole, to the address and port
-- it came from.
--
-- Try it:
--   socat - UDP:127.0.0.1:7007        (each line you type is one datagram)
--   socat - UDP6:[::1]:7007
--
-- Listens on: 127.0.0.1:7007 and [::1]:7007 (UDP; tcp_echo.lua has the
-- same port number for TCP).
-- Capabilities: loopback.

local net = require("netrun")
local lines = require("lib.lines") -- only for lines.endpoint

local PORT = "7007"

-- listen binds a DatagramSocket on host:PORT and prints "listening ...".
local function listen(host)
	local socket = net.DatagramSocket.new()

	-- MessageReceived runs once per datagram, each time as a task of its
	-- own. args:GetDataReader() holds the whole datagram; args.RemoteAddress
	-- and args.RemotePort say who sent it.
	socket.MessageReceived:add(function(sender, args)
		local ok, err = pcall(function()
			local reader = args:GetDataReader()
			local data = reader:ReadBytes(reader.UnconsumedBufferLength)
			-- GetOutputStreamAsync gives a stream to one remote endpoint
			-- (the socket keeps it for the next datagram from the same
			-- peer); each write on it is one datagram. WriteAsync on it
			-- is a netrun extension: in WinRT, a DataWriter does it
			-- (DataWriter.new(out), WriteBytes, StoreAsync).
			local out = sender:GetOutputStreamAsync(args.RemoteAddress, args.RemotePort):await()
			out:WriteAsync(data):await()
		end)
		if not ok then
			print("udp_echo: cannot answer " .. tostring(args.RemoteAddress) .. ": " .. tostring(err))
		end
	end)

	local ok, err = pcall(function()
		socket:BindEndpointAsync(host, PORT):await()
	end)
	if ok then
		print("listening udp " .. lines.endpoint(host, PORT) .. " (udp_echo)")
	else
		print("udp_echo: cannot listen on " .. lines.endpoint(host, PORT) .. ": " .. tostring(err))
		socket:Close()
	end
end

listen("127.0.0.1")
listen("::1")
