-- port_check.lua: is a TCP port open?
--
-- A client sends lines of targets, "host:port" (or "[v6 address]:port"),
-- several on one line separated by spaces. For each target the script
-- tries a TCP connect and answers one line:
--   host:port open                   the connect succeeded
--   host:port closed                 ConnectionRefused
--   host:port error STATUSNAME       anything else: ConnectionTimedOut
--                                    (no answer within 3 seconds),
--                                    HostNotFound, AccessDenied, ...
-- Checks run concurrently, each in a task of its own, so answers come in
-- the order the checks finish, not the order asked.
--
-- Try it:
--   echo '127.0.0.1:7007 127.0.0.1:1 [::1]:7070' | socat -t 5 - TCP:127.0.0.1:7071
--
-- Listens on: 127.0.0.1:7071 (TCP).
-- Capabilities: loopback. Every connect is checked against the script's
-- capabilities: with only loopback granted (what `netrun run` gives the
-- default scripts), any target outside 127.0.0.0/8 and ::1 answers
-- "error AccessDenied". Grant internetClient (and
-- privateNetworkClientServer for private ranges) to check other hosts.

local net = require("netrun")
local lines = require("lib.lines")
local errname = require("lib.errname")

local PORT = "7071"
local TIMEOUT = 3 -- seconds a connect may take
local MAX_PENDING = 64 -- checks one client may have running at once

-- check connects to host:port and returns the answer's verdict.
local function check(host, port)
	local socket = net.StreamSocket.new()
	local timedOut = false
	local ok, err = pcall(function()
		local connect = socket:ConnectAsync(host, port)
		-- The timeout is a task of its own: it sleeps, then cancels the
		-- connect if it is still running. A cancelled operation ends with
		-- Status Canceled and its await raises OperationAborted.
		net.spawn(function()
			pcall(net.sleep, TIMEOUT)
			if connect.Status == net.AsyncStatus.Started then
				timedOut = true
				connect:Cancel()
			end
		end)
		connect:await()
	end)
	socket:Close()
	if ok then return "open" end
	if timedOut then return "error ConnectionTimedOut" end
	local name = errname(err)
	if name == "ConnectionRefused" then return "closed" end
	return "error " .. name
end

local listener = net.StreamSocketListener.new()

listener.ConnectionReceived:add(function(_, args)
	local socket = args.Socket
	local pending = 0 -- checks still running
	local ended = false -- the client has closed its side
	local queue = {} -- answer lines waiting to be written
	local writing = false -- a task is writing the queue

	-- The socket is closed once the client has finished sending and
	-- every answer has been written.
	local function closeIfDone()
		if ended and pending == 0 and not writing then socket:Close() end
	end

	-- send queues an answer line. Many tasks answer on one socket, but
	-- only one writes at a time: the first to find the socket idle
	-- writes every line queued meanwhile, then returns. (Await each
	-- write before starting the next one on a socket: two writes in
	-- progress at once may interleave their bytes.)
	local function send(line)
		queue[#queue + 1] = line .. "\r\n"
		if writing then return end
		writing = true
		while #queue > 0 do
			local batch = table.concat(queue)
			queue = {}
			local ok = pcall(function()
				socket.OutputStream:WriteAsync(batch):await()
			end)
			if not ok then queue = {} end -- the client is gone
		end
		writing = false
	end

	-- answer runs one check in a task of its own, so that checks run
	-- concurrently, and sends its line.
	local function answer(target)
		pending = pending + 1
		net.spawn(function()
			local host, port = lines.hostPort(target)
			local verdict = "error InvalidArgument"
			if host then verdict = check(host, port) end
			send(target .. " " .. verdict)
			pending = pending - 1
			closeIfDone()
		end)
	end

	pcall(function()
		local nextLine = lines.reader(socket)
		while true do
			local line = nextLine()
			if line == nil then break end
			for target in line:gmatch("%S+") do
				if pending >= MAX_PENDING then
					send(target .. " error TooManyChecks")
				else
					answer(target)
				end
			end
		end
	end)
	ended = true
	closeIfDone()
end)

local ok, err = pcall(function()
	listener:BindEndpointAsync("127.0.0.1", PORT):await()
end)
if ok then
	print("listening tcp 127.0.0.1:" .. PORT .. " (port_check)")
else
	print("port_check: cannot listen on 127.0.0.1:" .. PORT .. ": " .. tostring(err))
	listener:Close()
end
