-- lib/lines.lua: read a StreamSocket line by line.
--
-- A module for the scripts in this folder (require("lib.lines")). Files in
-- subfolders are not run as scripts; they are only loaded by require.
--
--   local lines = require("lib.lines")
--   local nextLine = lines.reader(socket)
--   while true do
--       local line = nextLine()   -- awaits a read when it needs more bytes
--       if line == nil then break end
--       ...
--   end
--
-- Call nextLine in a loop like this one, not as the iterator of a generic
-- `for line in ...` loop: gopher-lua cannot suspend a task inside a for
-- iterator, and nextLine suspends while it waits for data.

local lines = {}

-- lines.reader(socket [, maxLine]) returns a function that returns the
-- socket's next line without its "\n" or "\r\n", or nil at the end of the
-- stream. A line longer than maxLine bytes (default 4096) comes in pieces
-- of maxLine bytes, so a client cannot make the script buffer without
-- end. The function raises the read's error (wrap it in pcall).
function lines.reader(socket, maxLine)
	maxLine = maxLine or 4096
	local input = socket.InputStream
	local buffered = ""
	local ended = false
	return function()
		while true do
			local nl = buffered:find("\n", 1, true)
			if nl and nl <= maxLine + 1 then
				local line = buffered:sub(1, nl - 1)
				buffered = buffered:sub(nl + 1)
				return (line:gsub("\r$", ""))
			end
			if #buffered >= maxLine then
				local piece = buffered:sub(1, maxLine)
				buffered = buffered:sub(maxLine + 1)
				return piece
			end
			if ended then
				if buffered == "" then return nil end
				local last = buffered
				buffered = ""
				return last
			end
			-- ReadAsync completes with whatever has arrived (up to 4096
			-- bytes), or "" once the peer has closed its side.
			local data = input:ReadAsync(4096):await()
			if data == "" then
				ended = true
			else
				buffered = buffered .. data
			end
		end
	end
end

-- lines.hostPort splits "host:port" or "[v6 address]:port" into host and
-- port, or returns nil.
function lines.hostPort(s)
	local host, port = s:match("^%[([%x:.]+)%]:(%w[%w-]*)$")
	if host then return host, port end
	host, port = s:match("^([^:]+):(%w[%w-]*)$")
	return host, port
end

-- lines.endpoint formats host and port back for display: "[::1]:7007".
function lines.endpoint(host, port)
	if host:find(":", 1, true) then
		return "[" .. host .. "]:" .. port
	end
	return host .. ":" .. port
end

return lines
