package networking

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"

	"github.com/netrun/netrun/runtime/socketerror"
)

// Resolver turns HostNames and service names into addresses and ports. It
// is what WinRT's sockets do before they connect or bind, and what their
// static GetEndpointPairsAsync exposes.
//
// The zero value uses net.DefaultResolver and a zero [Services] of its
// own, made on first use. A nil *Resolver is valid too; it reads the
// services file on every service name it resolves, since it has nowhere to
// keep the table. A Resolver is safe for concurrent use; set its fields
// before the first use and do not copy it after.
//
// Every method takes a context that bounds the DNS lookup. When the
// context ends, the lookup stops and the error has status
// OperationAborted (cancelled) or ConnectionTimedOut (deadline passed).
type Resolver struct {
	// DNS is the resolver for domain names; nil means net.DefaultResolver.
	DNS *net.Resolver
	// Services resolves service names; nil means a zero Services held by
	// the Resolver.
	Services *Services

	svcOnce sync.Once
	svc     *Services // set once by services(); read only after
}

func (r *Resolver) dns() *net.Resolver {
	if r == nil || r.DNS == nil {
		return net.DefaultResolver
	}
	return r.DNS
}

func (r *Resolver) services() *Services {
	if r == nil {
		return new(Services)
	}
	if r.Services != nil {
		return r.Services
	}
	r.svcOnce.Do(func() { r.svc = new(Services) })
	return r.svc
}

// LookupPort resolves service for network through r's Services; see
// [Services.LookupPort].
func (r *Resolver) LookupPort(network, service string) (int, error) {
	return r.services().LookupPort(network, service)
}

// LookupAddrs returns the addresses of host:
//
//   - for an Ipv4 or Ipv6 HostName, its address, zone included;
//   - for a localhost name ([HostName.IsLocalhost]), 127.0.0.1 then ::1,
//     without asking DNS or the hosts file (WinRT: "localhost" means all
//     loopback addresses; RFC 6761 6.3);
//   - for any other domain name, the addresses r.DNS finds for its
//     canonical (punycode) name, as net.Resolver.LookupNetIP with network
//     "ip" returns them, in the same order, with IPv4-mapped addresses
//     turned into IPv4 ones and duplicates removed. A name written with a
//     trailing dot is looked up as fully qualified, without search domains.
//
// Errors have the statuses WinRT reports: HostNotFound for a name DNS
// does not know, NoDataRecordOfRequestedType never (Go reports a name with
// no address records as not found, so it is HostNotFound too),
// NonAuthoritativeHostNotFound for a DNS time-out or temporary failure,
// NoAddressesFound for an answer with no address, and
// AddressFamilyNotSupported for a Bluetooth HostName. A nil host is an
// E_INVALIDARG error.
func (r *Resolver) LookupAddrs(ctx context.Context, host *HostName) ([]netip.Addr, error) {
	if host == nil {
		return nil, socketerror.InvalidArg("LookupAddrs", "hostName", "is nil")
	}
	return r.lookupAddrs(ctx, host)
}

func (r *Resolver) lookupAddrs(ctx context.Context, host *HostName) ([]netip.Addr, error) {
	const op = "resolve"
	name := host.CanonicalName()
	if err := ctx.Err(); err != nil {
		return nil, socketerror.New(op, name, err)
	}
	switch {
	case host.addr.IsValid():
		return []netip.Addr{host.addr}, nil
	case host.typ == Bluetooth:
		return nil, socketerror.WithStatus(op, name, socketerror.AddressFamilyNotSupported,
			errors.New("Bluetooth addresses are not supported"))
	case host.IsLocalhost():
		return []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1}), netip.IPv6Loopback()}, nil
	}
	query := name
	if host.fqdn {
		query += "."
	}
	found, err := r.dns().LookupNetIP(ctx, "ip", query)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			if !errors.Is(err, ctxErr) {
				err = fmt.Errorf("%w: %w", ctxErr, err)
			}
			return nil, socketerror.WithStatus(op, name, socketerror.Classify(ctxErr), err)
		}
		return nil, socketerror.New(op, name, err)
	}
	addrs := make([]netip.Addr, 0, len(found))
	seen := make(map[netip.Addr]bool, len(found))
	for _, a := range found {
		a = a.Unmap()
		if a.IsValid() && !seen[a] {
			seen[a] = true
			addrs = append(addrs, a)
		}
	}
	if len(addrs) == 0 {
		return nil, socketerror.WithStatus(op, name, socketerror.NoAddressesFound,
			errors.New("the DNS answer has no address"))
	}
	return addrs, nil
}

// ResolveEndpoints resolves host and service for network into addresses
// with ports, in the order [HostNameSortOptions] sort describes, for a
// caller that tries them one after the other.
//
// network is "tcp" or "udp" for both families, or "tcp4", "udp4", "tcp6"
// or "udp6" to keep the addresses of one family only; if none is left, the
// error has status NoAddressesFound. The service is resolved first, so an
// invalid or unknown service fails without a DNS lookup. Errors are those
// of [Resolver.LookupPort] and [Resolver.LookupAddrs]; a nil host, an
// empty service and an unknown network are E_INVALIDARG errors.
func (r *Resolver) ResolveEndpoints(ctx context.Context, network string, host *HostName, service string, sort HostNameSortOptions) ([]netip.AddrPort, error) {
	return r.resolve(ctx, "ResolveEndpoints", "hostName", "serviceName", network, host, service, sort)
}

func (r *Resolver) resolve(ctx context.Context, op, hostArg, serviceArg, network string, host *HostName, service string, sort HostNameSortOptions) ([]netip.AddrPort, error) {
	if _, ok := protoOf(network); !ok {
		return nil, socketerror.InvalidArg(op, "network", "%q is not tcp, tcp4, tcp6, udp, udp4 or udp6", network)
	}
	if host == nil {
		return nil, socketerror.InvalidArg(op, hostArg, "is nil")
	}
	if service == "" {
		return nil, socketerror.InvalidArg(op, serviceArg, "is empty")
	}
	port, err := r.LookupPort(network, service)
	if err != nil {
		return nil, err
	}
	addrs, err := r.lookupAddrs(ctx, host)
	if err != nil {
		return nil, err
	}
	if want4, want6 := network[len(network)-1] == '4', network[len(network)-1] == '6'; want4 || want6 {
		kept := addrs[:0:0]
		for _, a := range addrs {
			if isIPv4Family(a) == want4 {
				kept = append(kept, a)
			}
		}
		if len(kept) == 0 {
			family := "IPv4"
			if want6 {
				family = "IPv6"
			}
			return nil, socketerror.WithStatus("resolve", host.CanonicalName(), socketerror.NoAddressesFound,
				fmt.Errorf("no %s address for network %s", family, network))
		}
		addrs = kept
	}
	addrs = orderAddrs(addrs, sort)
	eps := make([]netip.AddrPort, len(addrs))
	for i, a := range addrs {
		eps[i] = netip.AddrPortFrom(a, uint16(port))
	}
	return eps, nil
}

// GetEndpointPairs is WinRT's static GetEndpointPairsAsync of StreamSocket
// ("tcp") and DatagramSocket ("udp"): it resolves host and service as
// [Resolver.ResolveEndpoints] does and returns one [EndpointPair] per
// remote address, in the same order. Each pair's RemoteHostName is the
// numeric HostName of the address and its RemoteServiceName the decimal
// port; LocalHostName is nil and LocalServiceName "", which let the system
// choose. A nil host is an E_INVALIDARG error naming "remoteHostName", an
// empty service one naming "remoteServiceName".
//
// Departure from WinRT: the port is the same in every pair, since
// service names are not looked up as DNS SRV records.
func (r *Resolver) GetEndpointPairs(ctx context.Context, network string, host *HostName, service string, sort HostNameSortOptions) ([]EndpointPair, error) {
	eps, err := r.resolve(ctx, "GetEndpointPairs", "remoteHostName", "remoteServiceName", network, host, service, sort)
	if err != nil {
		return nil, err
	}
	pairs := make([]EndpointPair, len(eps))
	for i, ep := range eps {
		pairs[i] = EndpointPair{
			RemoteHostName:    HostNameFromAddr(ep.Addr()),
			RemoteServiceName: strconv.Itoa(int(ep.Port())),
		}
	}
	return pairs, nil
}
