package networking

// EndpointPair is Windows.Networking.EndpointPair: the local and remote
// host and service of a connection. A nil LocalHostName or an empty
// LocalServiceName lets the system choose (the routing-chosen address, an
// ephemeral port). RemoteHostName and RemoteServiceName are required by
// the sockets that connect to a pair.
//
// An EndpointPair is a plain value; its HostNames are immutable, so copies
// may be shared between goroutines.
type EndpointPair struct {
	LocalHostName     *HostName
	LocalServiceName  string
	RemoteHostName    *HostName
	RemoteServiceName string
}

// String formats p as "local -> remote", each side as host:service with
// IPv6 hosts in brackets and "*" for what the system chooses or is
// missing: "*:* -> [2001:db8::1]:443".
func (p EndpointPair) String() string {
	return endpointString(p.LocalHostName, p.LocalServiceName) + " -> " +
		endpointString(p.RemoteHostName, p.RemoteServiceName)
}

func endpointString(h *HostName, service string) string {
	host := "*"
	if h != nil {
		host = h.DisplayName()
		if h.Type() == Ipv6 {
			host = "[" + host + "]"
		}
	}
	if service == "" {
		service = "*"
	}
	return host + ":" + service
}
