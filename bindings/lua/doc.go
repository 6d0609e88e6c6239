// Package lua projects netrun's runtime into Lua (gopher-lua): the
// classes, enums and events of Windows.Networking.Sockets as
// require("netrun") gives them, with op:await() on coroutines, for scripts
// that a host runs and hot-reloads.
//
// Start with [NewEngine] and [Engine.Start]. Each script version runs in
// one or more workers: independent Lua states running the same compiled
// chunk. In a worker, all Lua code runs under one lock, in coroutines: the
// main chunk and every event handler are tasks. An ...Async method starts
// an operation whose blocking work runs off the lock once the task yields;
// the goroutine that finishes the work takes the lock and resumes the
// awaiting task itself, then goes on with the next work that task started,
// so a connection's read, handler and next read run on one goroutine
// without hand-offs (DESIGN.md measured hand-offs as the cost to avoid).
//
// The sandbox opens base, string, table, math and coroutine; no io, os,
// debug, loadfile or dofile; require loads "netrun" and modules from the
// script's own folder. pcall and xpcall are replaced by versions that let
// an await inside them work (gopher-lua's own cannot resume across them).
// A handler that runs longer than the CPU budget is stopped with an error;
// other handlers go on.
//
// Listening sockets are shared through the engine: all workers of a script
// bind the same endpoint to one socket and receive its connections in
// turn, and a new version of a script binding an endpoint the old one holds
// takes it over without closing it.
package lua
