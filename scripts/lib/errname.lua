-- lib/errname.lua: a short name for an error value, for messages.
--
--   local errname = require("lib.errname")
--   local ok, err = pcall(function() socket:ConnectAsync(host, port):await() end)
--   if not ok then print(errname(err)) end   -- "ConnectionRefused"
--
-- Errors raised by operations carry err.Status (a SocketErrorStatus),
-- err.HResult and err.Message. Errors that are not about the network (a
-- missing capability, a bad argument, a closed object) have Status
-- Unknown; they are named by their HRESULT instead. A plain Lua error (a
-- string) is "Unknown".

local net = require("netrun")

-- statusNames maps SocketErrorStatus numbers back to their names.
local statusNames = {}
for name, value in pairs(net.SocketErrorStatus) do
	statusNames[value] = name
end

local hresultNames = {
	[0x80070005] = "AccessDenied", -- E_ACCESSDENIED: a capability is missing
	[0x80070057] = "InvalidArgument", -- E_INVALIDARG
	[0x8000000E] = "IllegalMethodCall", -- E_ILLEGAL_METHOD_CALL
	[0x80000013] = "Closed", -- RO_E_CLOSED
}

return function(err)
	if type(err) ~= "userdata" then return "Unknown" end
	local status = net.SocketError.GetStatus(err)
	if status ~= net.SocketErrorStatus.Unknown then
		return statusNames[status] or ("SocketErrorStatus " .. status)
	end
	return hresultNames[err.HResult] or "Unknown"
end
