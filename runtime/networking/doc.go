// Package networking holds netrun's Windows.Networking types: host names,
// endpoint pairs, and the resolution of host and service names that the
// sockets in runtime/sockets perform.
//
// Start here:
//
//   - [NewHostName] validates a host string (a DNS name, an IPv4 or IPv6
//     address, a Bluetooth address) into an immutable [HostName] with its
//     Type, RawName, CanonicalName and DisplayName; [HostNameFromAddr]
//     wraps an address the runtime reports; [Compare] and
//     [HostName.IsEqual] compare hosts by canonical form.
//   - [EndpointPair] is a local and remote host and service.
//   - [Services] resolves service names ("http") to ports through a
//     services file; [ParseServices] parses one.
//   - [Resolver] resolves a HostName into addresses
//     ([Resolver.LookupAddrs]) and a host and service into ordered
//     endpoints ([Resolver.ResolveEndpoints], [Resolver.GetEndpointPairs]),
//     ordered by [HostNameSortOptions]. A remote service name that is
//     neither a port number nor in the services file is looked up, as in
//     WinRT, as a DNS SRV record _service._tcp.host (_udp for datagram
//     sockets): the endpoints are then each SRV target's addresses with
//     that target's port, in the targets' priority and weight order. With
//     no such record the error is ClassTypeNotFound, naming the service
//     and the SRV name asked for.
//
// WinRT counterparts: Windows.Networking.HostName, HostNameType,
// EndpointPair and HostNameSortOptions, and the static
// GetEndpointPairsAsync of StreamSocket and DatagramSocket. Errors are
// runtime/socketerror errors: invalid arguments are E_INVALIDARG with a
// message that names the argument, and resolution failures carry the
// SocketErrorStatus WinRT would report (HostNotFound, ClassTypeNotFound,
// NoAddressesFound, ...).
//
// Internationalised domain names are converted with golang.org/x/net/idna,
// the Go implementation of UTS #46 and IDNA2008 that net/http uses: the
// field's standard, and the package's only dependency outside the standard
// library.
//
// Departures from WinRT:
//
//   - Service names are looked up as SRV records only for a remote
//     domain name other than localhost: with an IP address or localhost
//     as the host, or as a local service to bind, a name the services
//     file does not know fails with ClassTypeNotFound without asking DNS.
//     SRV targets are tried in the order of RFC 2782 and each target's
//     addresses in [HostNameSortOptions] order; WinRT leaves the order of
//     the pairs to its resolver.
//   - Service names are compared with their case, as glibc does.
//   - HostName has no IPInformation, and Bluetooth HostNames are parsed
//     but cannot be resolved (AddressFamilyNotSupported).
//   - Numeric-looking names are stricter than WinRT may be: "256.1.1.1",
//     "1.2.3" and "01.2.3.4" are refused rather than taken as domain
//     names or inet_aton shorthands (see [NewHostName]).
//   - Brackets around an IPv6 address ("[::1]") are accepted and stripped,
//     for input copied from URLs.
//   - HostNameSortOptions orders addresses by family only (see its doc);
//     WinRT also weighs the local addresses the pairs would use.
package networking
