-- The Lua half of netrun's scheduler, compiled once per host and run once
-- per state. It receives Go functions and returns Lua ones.
local IDLE, wait, results, mark, unmark, cocreate, coresume, coyield, costatus, isgo, gopcall = ...

-- runner is the body of every task coroutine: it runs one task, then
-- yields IDLE and waits for the next, so events reuse coroutines.
local function runner()
	local fn, a, b, c, d = coyield(IDLE)
	while true do
		fn(a, b, c, d)
		fn, a, b, c, d = coyield(IDLE)
	end
end

-- await suspends the calling task until op ends, then returns its results
-- or raises its error in the caller's own coroutine, where pcall sees it.
local function await(op)
	wait(op)
	return results(op)
end

-- pcall and xpcall run f in a child coroutine and pass its yields (an
-- await) up to the task and the values the task is resumed with down to
-- the child, so that awaiting inside them works, which gopher-lua's own
-- pcall cannot do.
local function finish(onerror, ok, ...)
	if not ok and onerror then
		return false, onerror(...)
	end
	return ok, ...
end

local function protected(f, onerror, ...)
	-- A Go function cannot await: gopher-lua's own pcall serves it, with
	-- no coroutine.
	if isgo(f) then
		return finish(onerror, gopcall(f, ...))
	end
	local co = cocreate(f)
	mark(co)
	local function step(ok, ...)
		if not ok then
			unmark(co)
			if onerror then
				return false, onerror(...)
			end
			return false, ...
		end
		if costatus(co) == "dead" then
			unmark(co)
			return true, ...
		end
		return step(coresume(co, coyield(...)))
	end
	return step(coresume(co, ...))
end

local function pcall(f, ...)
	if type(f) ~= "function" then
		error("bad argument #1 to 'pcall' (function expected, got " .. type(f) .. ")", 2)
	end
	return protected(f, nil, ...)
end

local function xpcall(f, handler, ...)
	if type(handler) ~= "function" then
		error("bad argument #2 to 'xpcall' (function expected, got " .. type(handler) .. ")", 2)
	end
	return protected(f, handler, ...)
end

-- sleep is net.sleep: it awaits a timer.
local function sleepWith(sleepAsync)
	return function(seconds)
		return await(sleepAsync(seconds))
	end
end

return runner, await, pcall, xpcall, sleepWith
