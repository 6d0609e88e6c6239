-- http_hello.lua: a minimal HTTP/1.0 responder.
--
-- Answers GET and HEAD for any path with a short plain-text greeting that
-- names the path, then closes the connection (HTTP/1.0 style). Anything
-- else gets 405, and a request line it cannot parse 400. A client that
-- has not sent its whole request within 10 seconds is cut off.
--
-- Try it:
--   curl http://127.0.0.1:7080/
--   printf 'GET /hi HTTP/1.0\r\n\r\n' | socat - TCP:127.0.0.1:7080
--
-- Listens on: 127.0.0.1:7080 (TCP).
-- Capabilities: loopback.

local net = require("netrun")
local lines = require("lib.lines")

local PORT = "7080"
local REQUEST_TIMEOUT = 10 -- seconds to receive the request head
local MAX_HEADERS = 100

-- respond builds the whole response for a request line.
local function respond(requestLine)
	local method, path = requestLine:match("^(%u+) (%S+) HTTP/%d%.%d$")
	local status, body
	if not method then
		status, body = "400 Bad Request", "bad request\n"
	elseif method ~= "GET" and method ~= "HEAD" then
		status, body = "405 Method Not Allowed", "only GET and HEAD are served\n"
	else
		status, body = "200 OK", "hello from netrun; you asked for " .. path .. "\n"
	end
	local head = "HTTP/1.0 " .. status .. "\r\n"
		.. "Content-Type: text/plain; charset=utf-8\r\n"
		.. "Content-Length: " .. #body .. "\r\n"
		.. "Connection: close\r\n\r\n"
	if method == "HEAD" then return head end
	return head .. body
end

local listener = net.StreamSocketListener.new()

listener.ConnectionReceived:add(function(_, args)
	local socket = args.Socket

	-- A deadline: net.sleepAsync returns an operation; its Completed
	-- handler runs (as a task of its own) when the timer fires or is
	-- cancelled. Closing the socket makes the pending read fail.
	local deadline = net.sleepAsync(REQUEST_TIMEOUT)
	deadline.Completed = function(_, status)
		if status == net.AsyncStatus.Completed then socket:Close() end
	end

	local ok, err = pcall(function()
		local nextLine = lines.reader(socket, 8192)
		local requestLine = nextLine()
		if requestLine == nil then return end
		-- Skip the headers, up to the empty line that ends them.
		for _ = 1, MAX_HEADERS do
			local header = nextLine()
			if header == nil or header == "" then break end
		end
		deadline:Cancel()
		socket.OutputStream:WriteAsync(respond(requestLine)):await()
	end)
	if not ok and deadline.Status ~= net.AsyncStatus.Completed then
		print("http_hello: " .. tostring(err))
	end
	deadline:Cancel()
	socket:Close()
end)

local ok, err = pcall(function()
	listener:BindEndpointAsync("127.0.0.1", PORT):await()
end)
if ok then
	print("listening tcp 127.0.0.1:" .. PORT .. " (http_hello)")
else
	print("http_hello: cannot listen on 127.0.0.1:" .. PORT .. ": " .. tostring(err))
	listener:Close()
end
