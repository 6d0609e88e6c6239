-- chat.lua: a line-based chat room.
--
-- Each line a client sends goes to every other connected client, prefixed
-- by the sender's nickname: "<alice> hello". Commands:
--   /nick NAME   change your nickname (everyone is told)
--   /who         list who is here
--   /quit        leave
-- Joins and leaves are announced with lines that begin with "* ".
--
-- A slow or dead client never holds up the others: every client has its
-- own sending task fed by a bounded queue, and a client whose queue
-- overflows (it stopped reading) is dropped with a notice.
--
-- Try it, in two or more terminals:
--   socat - TCP:127.0.0.1:7070
--
-- Listens on: 127.0.0.1:7070 (TCP).
-- Capabilities: loopback.
--
-- Workers: the room lives in one Lua state, so this script needs exactly
-- one worker (`workers = 1` in its [[script]] table of the config). With
-- several, each worker would hold a room of its own, and clients would
-- see only those that landed on the same worker.

local net = require("netrun")
local lines = require("lib.lines")
local errname = require("lib.errname")

local PORT = "7070"
local MAX_QUEUE = 100 -- lines that may wait for one client; one more drops it
local MAX_LINE = 1000 -- longer lines are cut into pieces of this size
local MAX_NICK = 32

local clients = {} -- the connected clients, in order of arrival
local guests = 0 -- for default nicknames

-- drop is defined below; send and drop call each other.
local drop

-- send queues a line for client c and wakes its sending task. The task
-- sleeps on a long timer when it has nothing to send; cancelling that
-- timer (op:Cancel()) is how it is woken.
local function send(c, line)
	if c.gone then return end
	if #c.queue >= MAX_QUEUE then
		drop(c, "was dropped: not reading")
		return
	end
	c.queue[#c.queue + 1] = line .. "\r\n"
	if c.wake then c.wake:Cancel() end
end

-- broadcast sends a line to every client but except (which may be nil).
local function broadcast(line, except)
	-- Copy the list first: a send may drop a client and change it.
	local targets = {}
	for _, c in ipairs(clients) do
		if c ~= except then targets[#targets + 1] = c end
	end
	for _, c in ipairs(targets) do send(c, line) end
end

-- drop takes c out of the room, tells the others why, and closes its
-- socket.
drop = function(c, why)
	if c.gone then return end
	c.gone = true
	-- An array, not a table keyed by client: gopher-lua tables never
	-- forget a key that was set once, so a set of clients would grow with
	-- every connection ever made.
	for i, other in ipairs(clients) do
		if other == c then
			table.remove(clients, i)
			break
		end
	end
	if c.wake then c.wake:Cancel() end
	broadcast("* " .. c.nick .. " " .. why)
	net.spawn(function()
		-- CancelIOAsync ends a write stuck behind a client that does not
		-- read, and the pending read, so that Close does not wait for
		-- them.
		pcall(function() c.socket:CancelIOAsync():await() end)
		c.socket:Close()
	end)
end

-- sender is c's sending task: it writes c's queue in order, one line at a
-- time, and only this task ever waits on c's socket for writing.
local function sender(c)
	while not c.gone do
		if #c.queue == 0 then
			-- Nothing to send: sleep until send() cancels the timer.
			c.wake = net.sleepAsync(3600)
			pcall(function() c.wake:await() end)
			c.wake = nil
		else
			local line = table.remove(c.queue, 1)
			local ok, err = pcall(function()
				c.socket.OutputStream:WriteAsync(line):await()
			end)
			if not ok then
				drop(c, "left (" .. errname(err) .. ")")
			end
		end
	end
end

-- handle acts on one line from client c.
local function handle(c, line)
	local nick = line:match("^/nick%s+(%S+)")
	if nick then
		nick = nick:sub(1, MAX_NICK)
		broadcast("* " .. c.nick .. " is now known as " .. nick)
		c.nick = nick
	elseif line == "/who" then
		local names = {}
		for _, other in ipairs(clients) do names[#names + 1] = other.nick end
		send(c, "* here: " .. table.concat(names, ", "))
	elseif line == "/quit" then
		drop(c, "left")
	elseif line:sub(1, 1) == "/" then
		send(c, "* unknown command; try /nick NAME, /who or /quit")
	elseif line ~= "" then
		broadcast("<" .. c.nick .. "> " .. line, c)
	end
end

local listener = net.StreamSocketListener.new()

-- Keep at most about 64 KB queued in the kernel for each client: a client
-- that stops reading then fills its queue (and is dropped) soon, instead
-- of making the host buffer megabytes for it.
listener.Control.OutboundBufferSizeInBytes = 64 * 1024

listener.ConnectionReceived:add(function(_, args)
	guests = guests + 1
	local c = { socket = args.Socket, queue = {}, nick = "guest" .. guests }
	clients[#clients + 1] = c
	net.spawn(sender, c)
	send(c, "* welcome, " .. c.nick .. "; /nick NAME changes your name, /who lists who is here, /quit leaves")
	broadcast("* " .. c.nick .. " joined", c)

	-- This handler's task is c's reading task.
	local ok, err = pcall(function()
		local nextLine = lines.reader(c.socket, MAX_LINE)
		while not c.gone do
			local line = nextLine()
			if line == nil then break end
			handle(c, line)
		end
	end)
	if ok then
		drop(c, "left")
	else
		drop(c, "left (" .. errname(err) .. ")")
	end
end)

local ok, err = pcall(function()
	listener:BindEndpointAsync("127.0.0.1", PORT):await()
end)
if ok then
	print("listening tcp 127.0.0.1:" .. PORT .. " (chat)")
else
	print("chat: cannot listen on 127.0.0.1:" .. PORT .. ": " .. tostring(err))
	listener:Close()
end
