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
// with ports, in the order a caller that tries them one after the other
// should use.
//
// A service that is a port number or a name [Services] knows gives that
// port on every address of host, ordered as [HostNameSortOptions] sort
// describes. Any other service name is looked up, as in WinRT, as a DNS
// SRV record _service._tcp.host (or _udp for a udp network; a
// hierarchical name such as "xmpp-client._service01" becomes
// _xmpp-client._service01._tcp.host): each target of the answer, in the
// order of RFC 2782 (lowest priority first; within a priority, a random
// order weighted by weight), gives its addresses, ordered by sort, each
// with the target's port. Targets whose names do not resolve are skipped.
// Host must then be a domain name other than localhost: an address or
// localhost has no SRV records to ask for.
//
// network is "tcp" or "udp" for both families, or "tcp4", "udp4", "tcp6"
// or "udp6" to keep the addresses of one family only; if none is left, the
// error has status NoAddressesFound. An invalid service fails without a
// DNS lookup.
//
// Errors are those of [Resolver.LookupPort] and [Resolver.LookupAddrs].
// A service name that is in neither the services file nor DNS has status
// ClassTypeNotFound, with a message naming the service and the SRV name
// asked for; so does an SRV answer whose only target is "." (RFC 2782:
// the service is decidedly not available at host). If every SRV target
// fails to resolve, the error has the status of the first target's
// failure. A nil host, an empty service and an unknown network are
// E_INVALIDARG errors.
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
		if socketerror.GetStatus(err) == socketerror.ClassTypeNotFound {
			return r.resolveSRV(ctx, network, host, service, sort, err)
		}
		return nil, err
	}
	addrs, err := r.familyAddrs(ctx, network, host, sort)
	if err != nil {
		return nil, err
	}
	eps := make([]netip.AddrPort, len(addrs))
	for i, a := range addrs {
		eps[i] = netip.AddrPortFrom(a, uint16(port))
	}
	return eps, nil
}

// familyAddrs returns the addresses of host that network's family
// allows, ordered by sort.
func (r *Resolver) familyAddrs(ctx context.Context, network string, host *HostName, sort HostNameSortOptions) ([]netip.Addr, error) {
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
	return orderAddrs(addrs, sort), nil
}

// resolveSRV resolves service on host through DNS SRV records; unknown
// is LookupPort's ClassTypeNotFound error, returned when host is not a
// name to ask DNS about.
func (r *Resolver) resolveSRV(ctx context.Context, network string, host *HostName, service string, sort HostNameSortOptions, unknown error) ([]netip.AddrPort, error) {
	const op = "resolve"
	if host.addr.IsValid() || host.typ != DomainName || host.IsLocalhost() {
		return nil, unknown
	}
	proto, _ := protoOf(network)
	name := host.CanonicalName()
	query := name
	if host.fqdn {
		query += "."
	}
	srvName := "_" + service + "._" + proto + "." + query
	_, records, err := r.dns().LookupSRV(ctx, service, proto, query)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			if !errors.Is(err, ctxErr) {
				err = fmt.Errorf("%w: %w", ctxErr, err)
			}
			return nil, socketerror.WithStatus(op, srvName, socketerror.Classify(ctxErr), err)
		}
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			return nil, socketerror.WithStatus(op, name, socketerror.ClassTypeNotFound,
				fmt.Errorf("service %q is not a port number, not a %s service of the services file, and %s has no SRV record", service, proto, srvName))
		}
		// A time-out or a server failure: not known to be absent.
		return nil, socketerror.New(op, srvName, fmt.Errorf("SRV lookup for service %q: %w", service, err))
	}
	if len(records) == 0 || len(records) == 1 && records[0].Target == "." {
		return nil, socketerror.WithStatus(op, name, socketerror.ClassTypeNotFound,
			fmt.Errorf("service %q: the SRV record %s says the service is not available", service, srvName))
	}
	var (
		eps      []netip.AddrPort
		seen     = make(map[netip.AddrPort]bool)
		firstErr error
	)
	for _, rec := range records {
		target, err := NewHostName(rec.Target)
		if err == nil && target.typ != DomainName {
			err = fmt.Errorf("not a domain name")
		}
		if err != nil {
			if firstErr == nil {
				firstErr = socketerror.WithStatus(op, srvName, socketerror.HostNotFound,
					fmt.Errorf("SRV target %q: %w", rec.Target, err))
			}
			continue
		}
		addrs, err := r.familyAddrs(ctx, network, target, sort)
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		for _, a := range addrs {
			ep := netip.AddrPortFrom(a, rec.Port)
			if !seen[ep] {
				seen[ep] = true
				eps = append(eps, ep)
			}
		}
	}
	if len(eps) == 0 {
		return nil, socketerror.WithStatus(op, srvName, socketerror.GetStatus(firstErr),
			fmt.Errorf("service %q: no target of the SRV record resolves: %w", service, firstErr))
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
// For a service found through DNS SRV records, there is one pair per
// address of each target, in the order of the targets, each with its
// target's port.
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
