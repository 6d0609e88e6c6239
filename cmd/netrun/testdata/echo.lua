-- echo.lua: a TCP echo server on an ephemeral port of 127.0.0.1. Each
-- worker prints "listening PORT" once the listener is bound (the workers
-- share one listening socket).
local net = require("netrun")

local listener = net.StreamSocketListener.new()
listener.ConnectionReceived:add(function(sender, args)
	local s = args.Socket
	while true do
		local data = s.InputStream:ReadAsync(4096):await()
		if data == "" then break end
		s.OutputStream:WriteAsync(data):await()
	end
	s:Close()
end)
listener:BindEndpointAsync("127.0.0.1", "0"):await()
print("listening " .. listener.Information.LocalPort)
