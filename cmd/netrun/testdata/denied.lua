-- denied.lua: binds and connects on loopback, and prints the errors a
-- script without the loopback capability gets.
local net = require("netrun")

local listener = net.StreamSocketListener.new()
local ok, err = pcall(function() listener:BindEndpointAsync("127.0.0.1", "0"):await() end)
print("bind", ok, ok or string.format("0x%08X", err.HResult), ok or err.Message)

local socket = net.StreamSocket.new()
ok, err = pcall(function() socket:ConnectAsync("127.0.0.1", "9"):await() end)
print("connect", ok, ok or string.format("0x%08X", err.HResult), ok or err.Message)
print("done")
