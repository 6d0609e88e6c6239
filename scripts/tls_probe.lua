-- tls_probe.lua: what does a TLS server's certificate look like to us?
--
-- A client sends lines of targets, "host:port" (several separated by
-- spaces). For each, the script connects with TLS and answers one line:
--   host:port ok errors=none severity=None subject=...
--   host:port ok errors=Untrusted,InvalidName severity=Ignorable ignored=yes subject=...
--   host:port failed STATUSNAME errors=... severity=Fatal subject=...
--   host:port failed ConnectionRefused
--
-- It shows WinRT's certificate retry flow: a connect whose certificate has
-- errors fails with a Certificate* status, but the socket's Information
-- keeps the certificate, its errors (ServerCertificateErrors) and how bad
-- they are (ServerCertificateErrorSeverity). If every error is ignorable,
-- the script lists them in Control.IgnorableServerCertificateErrors and
-- connects again on the same socket, which then succeeds ("ignored=yes").
-- A real client would ask its user first; never ignore errors blindly.
--
-- Try it (with a TLS server on loopback, e.g. openssl s_server -accept 127.0.0.1:4433 ...):
--   echo '127.0.0.1:4433' | socat -t 5 - TCP:127.0.0.1:7072
--
-- Listens on: 127.0.0.1:7072 (TCP).
-- Capabilities: loopback; with only loopback granted, targets outside
-- 127.0.0.0/8 and ::1 answer "failed AccessDenied". Grant internetClient
-- to probe public servers (echo 'example.org:443' | ...).

local net = require("netrun")
local lines = require("lib.lines")
local errname = require("lib.errname")

local PORT = "7072"
local TIMEOUT = 5 -- seconds for each connect and handshake

-- Names for the enum values the answers show.
local chainNames, severityNames = {}, {}
for name, value in pairs(net.ChainValidationResult) do chainNames[value] = name end
for name, value in pairs(net.SocketSslErrorSeverity) do severityNames[value] = name end

-- connect runs one TLS connect on socket, cancelled after TIMEOUT.
local function connect(socket, host, port)
	return pcall(function()
		local op = socket:ConnectAsync(host, port, net.SocketProtectionLevel.Tls12)
		local timer = net.sleepAsync(TIMEOUT)
		timer.Completed = function(_, status)
			if status == net.AsyncStatus.Completed then op:Cancel() end
		end
		local ok, err = pcall(function() op:await() end)
		timer:Cancel()
		if not ok then error(err, 0) end -- raise it again for the outer pcall
	end)
end

-- certificateFacts describes what Information holds after a handshake,
-- successful or not.
local function certificateFacts(info)
	local errors = {}
	for _, e in ipairs(info.ServerCertificateErrors) do
		errors[#errors + 1] = chainNames[e] or tostring(e)
	end
	local facts = "errors=" .. (#errors > 0 and table.concat(errors, ",") or "none")
		.. " severity=" .. severityNames[info.ServerCertificateErrorSeverity]
	return facts, #errors
end

-- subject names the server certificate, if one was received.
local function subject(info)
	local cert = info.ServerCertificate
	if cert == nil then return "" end
	return " subject=" .. cert.Subject
end

-- probe connects to host:port with TLS and returns the answer's text.
local function probe(host, port)
	local socket = net.StreamSocket.new()
	local ok, err = connect(socket, host, port)
	local info = socket.Information
	local facts, nerrors = certificateFacts(info)
	local answer
	if ok then
		answer = "ok " .. facts .. subject(info)
	elseif nerrors > 0 and info.ServerCertificateErrorSeverity == net.SocketSslErrorSeverity.Ignorable then
		-- The retry flow: ignore exactly the errors reported, then
		-- connect again on the same socket.
		local ignorable = socket.Control.IgnorableServerCertificateErrors
		for _, e in ipairs(info.ServerCertificateErrors) do
			ignorable:Append(e)
		end
		local retried, rerr = connect(socket, host, port)
		if retried then
			answer = "ok " .. facts .. " ignored=yes" .. subject(info)
		else
			answer = "failed " .. errname(rerr) .. " " .. facts .. subject(info)
		end
	elseif nerrors > 0 then
		answer = "failed " .. errname(err) .. " " .. facts .. subject(info)
	else
		answer = "failed " .. errname(err)
	end
	socket:Close()
	return answer
end

local listener = net.StreamSocketListener.new()

listener.ConnectionReceived:add(function(_, args)
	local socket = args.Socket
	pcall(function()
		local nextLine = lines.reader(socket)
		while true do
			local line = nextLine()
			if line == nil then break end
			-- One target at a time, in order: a probe is slow enough
			-- that a client sending many should open several
			-- connections.
			for target in line:gmatch("%S+") do
				local host, port = lines.hostPort(target)
				local answer = "failed InvalidArgument"
				if host then answer = probe(host, port) end
				socket.OutputStream:WriteAsync(target .. " " .. answer .. "\r\n"):await()
			end
		end
	end)
	socket:Close()
end)

local ok, err = pcall(function()
	listener:BindEndpointAsync("127.0.0.1", PORT):await()
end)
if ok then
	print("listening tcp 127.0.0.1:" .. PORT .. " (tls_probe)")
else
	print("tls_probe: cannot listen on 127.0.0.1:" .. PORT .. ": " .. tostring(err))
	listener:Close()
end
