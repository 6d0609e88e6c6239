-- tcp_echo.lua: a TCP echo server.
--
-- Whatever a client sends comes back to it unchanged. Each connection is
-- its own task: the ConnectionReceived handler runs in a coroutine of its
-- own, so while it awaits a read, other connections go on.
--
-- Try it:
--   socat - TCP:127.0.0.1:7007        (type lines; each comes back)
--   socat - TCP6:[::1]:7007
--
-- Listens on: 127.0.0.1:7007 and [::1]:7007 (TCP).
-- Capabilities: loopback.

local net = require("netrun")
local lines = require("lib.lines") -- only for lines.endpoint

local PORT = "7007"

-- serve echoes one connection until the client closes its side or an
-- error ends it, then closes the socket.
local function serve(socket)
	local ok, err = pcall(function()
		while true do
			-- Up to 64 KB, as soon as anything has arrived; "" means the
			-- client has closed its side.
			local data = socket.InputStream:ReadAsync(64 * 1024):await()
			if data == "" then break end
			socket.OutputStream:WriteAsync(data):await()
		end
	end)
	if not ok then
		-- err is an error value: err.Status is a SocketErrorStatus,
		-- err.HResult the WinRT HRESULT, tostring(err) names both.
		print("tcp_echo: connection from " .. tostring(socket.Information.RemoteAddress) .. " ended: " .. tostring(err))
	end
	socket:Close()
end

-- listen binds a listener on host:PORT and prints "listening ...".
local function listen(host)
	local listener = net.StreamSocketListener.new()
	listener.ConnectionReceived:add(function(_, args)
		serve(args.Socket)
	end)
	local ok, err = pcall(function()
		listener:BindEndpointAsync(host, PORT):await()
	end)
	if ok then
		print("listening tcp " .. lines.endpoint(host, PORT) .. " (tcp_echo)")
	else
		print("tcp_echo: cannot listen on " .. lines.endpoint(host, PORT) .. ": " .. tostring(err))
		listener:Close()
	end
end

listen("127.0.0.1")
listen("::1")
