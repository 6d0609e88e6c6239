// Package trigger implements WinRT's socket broker and background
// triggers of Windows.Networking.Sockets for netrun: the broker behind
// EnableTransferOwnership, TransferOwnership,
// SocketActivityInformation.AllSockets and the SocketActivityTrigger, and
// ControlChannelTrigger with its keep-alive, push and reset events.
//
// Start with [NewBroker]: one [Broker] serves a whole host, and every
// guest (Lua script, plugin) uses it. A socket of runtime/sockets is
// tagged with [Broker.EnableTransferOwnership] and handed over with
// [Broker.TransferOwnership]; the broker keeps reading it and tells the
// task registered with [Broker.RegisterTask] of its activity; the task
// reclaims it by calling the matching accessor of its
// [SocketActivityInformation], and data that arrived meanwhile is read
// first, in order. Sockets survive a script reload or a plugin restart
// this way, and move from one guest to another: a task is a name, not a
// process.
//
// [Broker.NewControlChannelTrigger] makes a [ControlChannelTrigger] for a
// StreamSocket or a WebSocket of runtime/websocket. All channels of a
// broker share one timer goroutine and one epoll goroutine, and an idle
// channel costs no CPU and no goroutine: 10,000 of them are measured in
// docs/benchmarks.md.
//
// Departures from WinRT, each documented where it applies:
//   - Task ids are names (a script's file name without .lua, a plugin's
//     name), not GUIDs; WinRT's background-task registration is
//     RegisterTask.
//   - The broker keeps sockets for the host's lifetime, not across a
//     restart of the host; there is no connected standby and no hardware
//     slot.
//   - Reclaiming a listener or a datagram socket also returns the
//     connections or datagrams that arrived meanwhile, for the caller to
//     raise first.
//   - ControlChannelTrigger intervals accept fractions of a minute, down to
//     10 ms; WaitForPushEnabled does not block; ResetTrigger is raised
//     when the transport drops.
//   - The broker raises a trigger for every activity while it holds a
//     socket, not only for the first one after each TransferOwnership.
//
// docs/triggers.md describes the semantics and the Lua and plugin
// projections.
package trigger
