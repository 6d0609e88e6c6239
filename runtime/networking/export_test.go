package networking

// OrderAddrs exposes the address ordering of HostNameSortOptions to tests.
var OrderAddrs = orderAddrs
