-- framed_kv.lua: a tiny key/value store with a length-prefixed protocol.
--
-- It shows DataReader and DataWriter on a StreamSocket, and net.state,
-- the table that carries plain data (strings, numbers, booleans, tables
-- of them) from one version of a script to the next when the file is
-- edited and hot-reloaded: the store survives a reload.
--
-- Protocol (all integers big-endian, DataReader's and DataWriter's
-- default ByteOrder):
--   request:  op (1 byte: "P" put, "G" get, "D" delete)
--             key length (UInt16), key
--             for "P" only: value length (UInt32), value
--   response: status (1 byte: 0 ok, 1 not found, 2 bad request)
--             value length (UInt32), value (the value for "G", else empty)
-- Requests may be pipelined; each gets one response, in order. After a
-- bad request the server answers 2 and closes the connection.
--
-- Try it: put "k" = "hi", then get it. The answer, in hex, is
-- 00 00 00 00 00 (ok) then 00 00 00 00 02 68 69 (ok, "hi"):
--   printf 'P\0\1k\0\0\0\2hiG\0\1k' | socat -t 2 - TCP:127.0.0.1:7073 | od -An -tx1
--
-- Listens on: 127.0.0.1:7073 (TCP).
-- Capabilities: loopback.
--
-- Workers: net.state is per worker, so this script needs exactly one
-- worker (`workers = 1` in its [[script]] table of the config). With
-- several, each worker would keep a store of its own.

local net = require("netrun")

local PORT = "7073"
local MAX_KEY = 1024
local MAX_VALUE = 1024 * 1024

local PUT, GET, DELETE = string.byte("P"), string.byte("G"), string.byte("D")
local OK, NOT_FOUND, BAD_REQUEST = 0, 1, 2

-- The store lives in net.state so that a reload keeps it. A new version
-- gets a copy of the old version's net.state when it starts.
net.state.kv = net.state.kv or {}
local kv = net.state.kv

local count = 0
for _ in pairs(kv) do count = count + 1 end
print("framed_kv: " .. count .. " keys in store")

-- serve answers one connection's requests until it closes.
local function serve(socket)
	local reader = net.DataReader.new(socket.InputStream)
	local writer = net.DataWriter.new(socket.OutputStream)

	-- fill loads until n bytes are unconsumed; false if the stream ends
	-- first. With InputStreamOptions None (the default), LoadAsync(k)
	-- completes once k bytes have arrived, or fewer at the end.
	local function fill(n)
		local missing = n - reader.UnconsumedBufferLength
		if missing <= 0 then return true end
		return reader:LoadAsync(missing):await() == missing
	end

	-- reply buffers a response in the writer and stores (sends) it.
	local function reply(status, value)
		value = value or ""
		writer:WriteByte(status)
		writer:WriteUInt32(#value)
		writer:WriteBytes(value)
		writer:StoreAsync():await()
	end

	-- request reads and answers one request; false to stop.
	local function request()
		if not fill(3) then return false end
		local op = reader:ReadByte()
		local keyLength = reader:ReadUInt16()
		if keyLength > MAX_KEY then
			reply(BAD_REQUEST)
			return false
		end
		if not fill(keyLength) then return false end
		local key = reader:ReadString(keyLength)
		if op == PUT then
			if not fill(4) then return false end
			local valueLength = reader:ReadUInt32()
			if valueLength > MAX_VALUE then
				reply(BAD_REQUEST)
				return false
			end
			if not fill(valueLength) then return false end
			kv[key] = reader:ReadBytes(valueLength)
			reply(OK)
		elseif op == GET then
			local value = kv[key]
			if value == nil then reply(NOT_FOUND) else reply(OK, value) end
		elseif op == DELETE then
			if kv[key] == nil then
				reply(NOT_FOUND)
			else
				kv[key] = nil
				reply(OK)
			end
		else
			reply(BAD_REQUEST)
			return false
		end
		return true
	end

	local ok, err = pcall(function()
		while request() do end
	end)
	if not ok then
		print("framed_kv: connection ended: " .. tostring(err))
	end
	socket:Close()
end

local listener = net.StreamSocketListener.new()
listener.ConnectionReceived:add(function(_, args)
	serve(args.Socket)
end)

local ok, err = pcall(function()
	listener:BindEndpointAsync("127.0.0.1", PORT):await()
end)
if ok then
	print("listening tcp 127.0.0.1:" .. PORT .. " (framed_kv)")
else
	print("framed_kv: cannot listen on 127.0.0.1:" .. PORT .. ": " .. tostring(err))
	listener:Close()
end
