// Package isolation grants guests network capabilities and enforces them.
//
// It is netrun's model of WinRT network isolation (the manifest
// capabilities internetClient, internetClientServer and
// privateNetworkClientServer), plus one capability of netrun's own,
// loopback. Start with [ParseCapabilities] (the `--allow` flag) or
// [ParseCapabilityList] (a TOML array); the resulting [Capabilities] is a
// sockets.Guard, so put it in a sockets.Env and every connect, bind,
// accept and send of that Env's sockets is checked with
// [Capabilities.Check]. [Classify] tells which network class an address
// belongs to, and [All] grants everything.
//
// A refusal is a *socketerror.Error with HRESULT E_ACCESSDENIED
// (0x80070005) whose message names the capability that would have allowed
// the traffic.
//
// Departures from WinRT:
//   - Loopback is a capability, granted like the others, instead of
//     CheckNetIsolation's per-package exemption; with it a guest reaches
//     any loopback service, netrun's own and others, both ways.
//   - Addresses are classified by range only. WinRT treats the machine's
//     own non-loopback addresses as loopback and asks the network's
//     profile (home, work, public) which ranges are private; netrun knows
//     neither, so its private class is the fixed set of ranges listed on
//     [Classify].
//   - Multicast and the limited broadcast address are private: in
//     netrun's scope they never leave the local network segment.
package isolation
