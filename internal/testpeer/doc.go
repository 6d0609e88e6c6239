// Package testpeer drives real peers that netrun did not write (openssl,
// socat, dnsmasq, iproute2, Node's ws, Python's websockets) so that socket
// tests talk to independent implementations instead of to netrun itself.
//
// It is for tests only: production code never imports it.
//
// Start here:
//
//   - NewCA, (*CA).Issue, (*CA).NewIntermediate and SelfSigned make
//     certificates in memory and as PEM files in tb.TempDir().
//   - StartTLSServer runs `openssl s_server -rev`; StartTLSClient runs
//     `openssl s_client -brief`.
//   - TCPEchoServer and UDPEchoServer run socat echo servers; StartSocat
//     runs any socat command line.
//   - StartDNS runs dnsmasq as the authority for the zone "test." only.
//   - StartWSServer and StartWSClient run a WebSocket peer on Node's ws
//     or Python's websockets (wspeer/peer.js, wspeer/peer.py): it echoes
//     messages and obeys "cmd:" commands.
//   - NewNetns, VethPair and (*Netns).ExecTest build network namespaces
//     and run a test inside one.
//   - VerifyTestMain is the goroutine leak check every package's TestMain
//     calls.
//
// Every helper takes a testing.TB and registers tb.Cleanup, so no process,
// namespace or file outlives the test. Every wait is bounded by
// WaitTimeout and, when it expires, fails the test with the peer's
// captured output. Helpers synchronise on what a peer prints or on a port
// accepting, never on sleeping.
//
// Peers bind loopback addresses only (127.0.0.0/8 and ::1). Other
// addresses are accepted only inside a process that (*Netns).ExecTest
// started in a namespace the test made.
//
// A missing tool fails the test and names the Debian package to install
// (`make deps` installs them all); it never skips. Only NewNetns skips,
// and only when the kernel or sandbox forbids namespaces.
package testpeer
