package isolation

import (
	"fmt"
	"net/netip"

	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
)

// Class is the network class of an address, which decides the capability
// that traffic with it needs.
type Class int

// The network classes.
const (
	// ClassPublic is every address not in another class: the Internet.
	ClassPublic Class = iota
	// ClassPrivate is the local networks' ranges (see Classify).
	ClassPrivate
	// ClassLoopback is this host.
	ClassLoopback
)

// String returns "public", "private" or "loopback".
func (c Class) String() string {
	switch c {
	case ClassPublic:
		return "public"
	case ClassPrivate:
		return "private"
	case ClassLoopback:
		return "loopback"
	}
	return fmt.Sprintf("Class(%d)", int(c))
}

// Classify says which network class addr belongs to. An IPv4-mapped IPv6
// address is classified as its IPv4 address (::ffff:127.0.0.1 is
// loopback) and a zone is ignored (fe80::1%eth0 is private).
//
//	class     ranges
//	loopback  127.0.0.0/8, ::1, and the unspecified addresses 0.0.0.0 and ::
//	private   10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 (RFC 1918)
//	          100.64.0.0/10 (shared address space, CGNAT)
//	          169.254.0.0/16, fe80::/10 (link-local)
//	          fc00::/7 (unique local), fec0::/10 (deprecated site-local)
//	          224.0.0.0/4, ff00::/8 (multicast)
//	          255.255.255.255 (limited broadcast)
//	public    everything else, and the invalid (zero) Addr
//
// The unspecified address is loopback because, as a destination, Linux
// delivers to it on this host: connecting to 0.0.0.0 reaches a service
// listening on 127.0.0.1. As a bind address it is a wildcard, which
// [Capabilities.Check] treats on its own.
//
// Classify uses no table: the ranges are tested by netip's predicates and
// by the byte comparisons below, so nothing in the package can change them.
func Classify(addr netip.Addr) Class {
	a := addr.Unmap().WithZone("")
	switch {
	case a.IsLoopback(), a.IsUnspecified():
		return ClassLoopback
	case a.IsPrivate(), a.IsLinkLocalUnicast(), a.IsMulticast(),
		isSharedAddressSpace(a), isLimitedBroadcast(a), isSiteLocal(a):
		return ClassPrivate
	}
	return ClassPublic
}

// isSharedAddressSpace reports whether a is in 100.64.0.0/10 (RFC 6598).
func isSharedAddressSpace(a netip.Addr) bool {
	if !a.Is4() {
		return false
	}
	b := a.As4()
	return b[0] == 100 && b[1]&0xC0 == 64
}

// isLimitedBroadcast reports whether a is 255.255.255.255.
func isLimitedBroadcast(a netip.Addr) bool {
	return a.Is4() && a.As4() == [4]byte{255, 255, 255, 255}
}

// isSiteLocal reports whether a is in fec0::/10 (RFC 3879 deprecated it,
// but it never routed beyond a site).
func isSiteLocal(a netip.Addr) bool {
	if !a.Is6() {
		return false
	}
	b := a.As16()
	return b[0] == 0xFE && b[1]&0xC0 == 0xC0
}

// inbound is the set of capabilities that allow some inbound traffic.
const inbound = Capabilities(InternetClientServer | PrivateNetworkClientServer | Loopback)

// Check allows or refuses traffic in direction dir with addr, the remote
// address of a connect, accepted connection or datagram, or the local
// address of a bind. It returns nil to allow. The address is classified
// by [Classify]; then:
//
//	class                      Outbound (connect, send)       Inbound (bind, accept, receive)
//	loopback                   loopback                       loopback
//	private                    privateNetworkClientServer     privateNetworkClientServer
//	public                     internetClient or              internetClientServer
//	                           internetClientServer
//	unspecified (0.0.0.0, ::)  loopback (it reaches this      any of internetClientServer,
//	                           host, as 127.0.0.1 does)       privateNetworkClientServer, loopback
//
// A wildcard bind is allowed to any guest that may receive something,
// because each connection it accepts and each datagram it receives is
// checked again against its sender's address.
//
// A refusal is socketerror.AccessDenied("", addr.String(), name): HRESULT
// E_ACCESSDENIED (0x80070005), with a message naming the capability that
// would have allowed the traffic, for example "the loopback capability is
// required". For public traffic that is "internetClient" outbound and
// "internetClientServer" inbound; for a refused wildcard bind it lists the
// three that would do. Callers fill in their operation with socketerror.New,
// which keeps the HRESULT.
//
// Check does not allocate when it allows, so it may run for every datagram.
func (c Capabilities) Check(dir sockets.Direction, addr netip.Addr) error {
	a := addr.Unmap().WithZone("")
	if a.IsUnspecified() && dir == sockets.Inbound {
		if c&inbound != 0 {
			return nil
		}
		return denied(addr, "loopback, privateNetworkClientServer or internetClientServer")
	}
	switch Classify(a) {
	case ClassLoopback:
		if c.Has(Loopback) {
			return nil
		}
		return denied(addr, Loopback.String())
	case ClassPrivate:
		if c.Has(PrivateNetworkClientServer) {
			return nil
		}
		return denied(addr, PrivateNetworkClientServer.String())
	}
	if dir == sockets.Inbound {
		if c.Has(InternetClientServer) {
			return nil
		}
		return denied(addr, InternetClientServer.String())
	}
	if c.Has(InternetClient) || c.Has(InternetClientServer) {
		return nil
	}
	return denied(addr, InternetClient.String())
}

// denied is the E_ACCESSDENIED error for traffic with addr that capability
// would have allowed.
func denied(addr netip.Addr, capability string) error {
	return socketerror.AccessDenied("", addr.String(), capability)
}

// Capabilities is a sockets.Guard.
var _ sockets.Guard = Capabilities(0)
