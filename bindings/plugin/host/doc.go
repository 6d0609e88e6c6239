// Package host runs netrun's plugins: it starts each plugin process with
// hashicorp/go-plugin (gRPC only, AutoMTLS, Managed), opens the one
// Session stream of bindings/plugin/proto/pluginv1 to it, and carries out
// the plugin's commands on runtime/sockets objects made from the plugin's
// sockets.Env, so that a plugin's connects, binds and sends are checked
// against its capabilities exactly as a script's are.
//
// Start with [New] and a [Runner], which implements runtime/host's
// PluginKind: cmd/netrun hands it to runtime/host, which starts every
// [[plugin]] of the config through it.
//
// # Supervision
//
// Each plugin has a supervisor goroutine. When the plugin's process exits
// or its session breaks, the supervisor logs the exit (name, exit status,
// next retry), closes the plugin's sockets cleanly (a stream socket with
// FIN once its writes are done), keeps the ones the plugin transferred
// with TransferOwnership (see [broker]), and starts the plugin again after
// an exponential backoff (Options.MinBackoff doubling to MaxBackoff, back
// to the minimum once an instance has run for a minute). A plugin whose
// config sets lazy and that holds transferred sockets is started again
// only on the first activity of one of them (data, a connection, a
// datagram).
//
// A plugin never holds the host up: every command runs on the host's own
// goroutines and answers with a completion; a command may carry a
// deadline (timeout_ms); the host pings the plugin every
// Options.PingInterval and kills it when a ping is unanswered for
// Options.PingTimeout, or when more than Options.MaxQueued bytes of events
// wait for it. Malformed or out-of-order commands (an unknown socket id, a
// write on a listener, a payload over the limit, a reused op id) get an
// error completion, or a ProtocolError event, that names the problem.
//
// # Orphans
//
// The plugin's process gets Pdeathsig=SIGKILL on Linux, set from a
// goroutine locked to its OS thread for the plugin's life (Pdeathsig
// follows the thread that forked), so a host that is killed takes its
// plugins with it; and the SDK exits a plugin whose session ends.
package host
