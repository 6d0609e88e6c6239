package networking

import (
	"net/netip"
	"strconv"
)

// HostNameSortOptions is Windows.Networking.HostNameSortOptions: how
// [Resolver.ResolveEndpoints] and [Resolver.GetEndpointPairs] order the
// addresses of a name. It is a set of flags; bits other than
// OptimizeForLongConnections are ignored.
//
// Both orders start from the resolver's order, which for DNS answers is
// the RFC 6724 destination address order of Go's resolver, and keep the
// relative order of the addresses of one family:
//
//   - SortNone interleaves the families, starting with the family of the
//     resolver's first address: first of that family, first of the other
//     family, second of the first family, and so on, the rest of the longer
//     family at the end. This is RFC 8305 ("Happy Eyeballs v2") section 4
//     with a First Address Family Count of 1. A caller trying the addresses
//     one after the other reaches a working family after at most one failed
//     attempt, which is what WinRT's default ("minimises connect latency")
//     aims at.
//   - OptimizeForLongConnections puts every IPv6 address first, then every
//     IPv4 address. A long-lived connection gains from IPv6 (no NAT
//     mapping to time out, RFC 6724's default preference) and can afford to
//     wait for IPv6 attempts to fail before IPv4 is tried.
//
// With addresses of one family only, both orders are the resolver's.
// IPv4-mapped IPv6 addresses count as IPv4, since that is the protocol
// they are reached by.
type HostNameSortOptions uint32

// The HostNameSortOptions flags, valued as in WinRT.
const (
	// SortNone is WinRT's HostNameSortOptions.None, the default.
	SortNone HostNameSortOptions = 0
	// OptimizeForLongConnections orders IPv6 before IPv4.
	OptimizeForLongConnections HostNameSortOptions = 2
)

// String returns "None", "OptimizeForLongConnections", or the flags
// joined by '|' with unknown bits in hexadecimal.
func (o HostNameSortOptions) String() string {
	if o == SortNone {
		return "None"
	}
	s := ""
	if o&OptimizeForLongConnections != 0 {
		s = "OptimizeForLongConnections"
		o &^= OptimizeForLongConnections
	}
	if o != 0 {
		if s != "" {
			s += "|"
		}
		s += "0x" + strconv.FormatUint(uint64(o), 16)
	}
	return s
}

// isIPv4Family reports whether a is reached over IPv4.
func isIPv4Family(a netip.Addr) bool { return a.Is4() || a.Is4In6() }

// orderAddrs returns addrs in the order opts asks for (see
// HostNameSortOptions). It does not change addrs.
func orderAddrs(addrs []netip.Addr, opts HostNameSortOptions) []netip.Addr {
	var v4, v6 []netip.Addr
	for _, a := range addrs {
		if isIPv4Family(a) {
			v4 = append(v4, a)
		} else {
			v6 = append(v6, a)
		}
	}
	out := make([]netip.Addr, 0, len(addrs))
	if opts&OptimizeForLongConnections != 0 {
		out = append(out, v6...)
		return append(out, v4...)
	}
	first, second := v6, v4
	if len(addrs) > 0 && isIPv4Family(addrs[0]) {
		first, second = v4, v6
	}
	for i := 0; i < len(first) || i < len(second); i++ {
		if i < len(first) {
			out = append(out, first[i])
		}
		if i < len(second) {
			out = append(out, second[i])
		}
	}
	return out
}
