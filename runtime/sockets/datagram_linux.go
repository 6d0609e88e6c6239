package sockets

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strconv"

	"golang.org/x/sys/unix"
)

// Linux parts of DatagramSocket: the options every datagram socket gets,
// connecting and joining groups on the raw descriptor, and reading the
// arrival address out of a received datagram's control messages. Each
// function taking fd runs inside syscall.RawConn.Control.

// datagramOOBSize is room for the control messages a datagram can carry
// here: one in_pktinfo or one in6_pktinfo, with headers and padding.
const datagramOOBSize = 128

// setDatagramDefaults sets what every DatagramSocket has whatever its
// Control says: SO_BROADCAST, since WinRT sends to a broadcast address
// without asking for it (Go sets it too, but this does not depend on
// that), and the option that reports each datagram's local address.
func setDatagramDefaults(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BROADCAST, 1); err != nil {
		return err
	}
	if isIPv6(fd) {
		// Also reports IPv4 datagrams of a dual-stack socket, as
		// IPv4-mapped addresses.
		return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)
	}
	return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
}

// datagramSockaddr is ap as a socket address of the descriptor's family:
// IPv4 addresses become IPv4-mapped ones for an AF_INET6 socket.
func datagramSockaddr(v6 bool, ap netip.AddrPort) (unix.Sockaddr, error) {
	a := ap.Addr()
	if !v6 {
		if !a.Unmap().Is4() {
			return nil, unix.EAFNOSUPPORT
		}
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.Unmap().As4()}, nil
	}
	sa := &unix.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}
	if z := a.Zone(); z != "" {
		idx, err := dgramZoneIndex(z)
		if err != nil {
			return nil, err
		}
		sa.ZoneId = uint32(idx)
	}
	return sa, nil
}

// connectDatagram connects an already bound descriptor to remote, so that
// the kernel accepts datagrams from remote only; its port is kept.
func connectDatagram(fd int, remote netip.AddrPort) error {
	sa, err := datagramSockaddr(isIPv6(fd), remote)
	if err != nil {
		return err
	}
	return unix.Connect(fd, sa)
}

// dgramSockname returns the descriptor's local address, unmapped.
func dgramSockname(fd int) (netip.AddrPort, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return netip.AddrPort{}, err
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)), nil
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(sa.Port)), nil
	}
	return netip.AddrPort{}, unix.EAFNOSUPPORT
}

// dgramJoinGroup joins the multicast group on fd. An IPv4 group is joined on
// the interface of local if the socket is bound to one IPv4 address, else
// on the one the routing table picks; an IPv6 group on the interface its
// zone names, else on the one the routing table picks (index 0). An AF_INET6
// socket that is not IPv6-only takes IPv4 memberships too.
func dgramJoinGroup(fd int, group, local netip.Addr) error {
	if group.Is4() {
		mreq := &unix.IPMreqn{Multiaddr: group.As4()}
		if local.Is4() && !local.IsUnspecified() {
			mreq.Address = local.As4()
		}
		return unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, mreq)
	}
	idx := 0
	if z := group.Zone(); z != "" {
		var err error
		if idx, err = dgramZoneIndex(z); err != nil {
			return err
		}
	}
	mreq := &unix.IPv6Mreq{Multiaddr: group.WithZone("").As16(), Interface: uint32(idx)}
	return unix.SetsockoptIPv6Mreq(fd, unix.IPPROTO_IPV6, unix.IPV6_JOIN_GROUP, mreq)
}

// dgramZoneIndex turns an IPv6 zone, an interface name or a decimal index,
// into the interface index.
func dgramZoneIndex(zone string) (int, error) {
	if n, err := strconv.Atoi(zone); err == nil && n >= 0 {
		return n, nil
	}
	ifi, err := net.InterfaceByName(zone)
	if err != nil {
		return 0, errors.Join(unix.ENODEV, err)
	}
	return ifi.Index, nil
}

// dgramCmsgWord is the size of a cmsghdr's length field and the alignment of
// control messages on Linux: sizeof(size_t), sizeof(long).
const dgramCmsgWord = strconv.IntSize / 8

// dgramCmsgAlign rounds n up to the control-message alignment.
func dgramCmsgAlign(n int) int { return (n + dgramCmsgWord - 1) &^ (dgramCmsgWord - 1) }

// dgramPktinfoAddr returns the destination address (the local address the
// datagram arrived on, or the group for multicast) from an IP_PKTINFO or
// IPV6_PKTINFO control message in oob, unmapped and without a zone, or the
// zero Addr if there is none. It reads oob in place and allocates nothing.
func dgramPktinfoAddr(oob []byte) netip.Addr {
	hdr := dgramCmsgAlign(dgramCmsgWord + 8) // cmsg_len, cmsg_level, cmsg_type
	for len(oob) >= hdr {
		var l int
		if dgramCmsgWord == 8 {
			l = int(binary.NativeEndian.Uint64(oob))
		} else {
			l = int(binary.NativeEndian.Uint32(oob))
		}
		level := int32(binary.NativeEndian.Uint32(oob[dgramCmsgWord:]))
		typ := int32(binary.NativeEndian.Uint32(oob[dgramCmsgWord+4:]))
		if l < hdr || l > len(oob) {
			break
		}
		data := oob[hdr:l]
		switch {
		case level == unix.IPPROTO_IP && typ == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			// struct in_pktinfo { int ifindex; in_addr spec_dst; in_addr addr; }
			return netip.AddrFrom4([4]byte(data[8:12]))
		case level == unix.IPPROTO_IPV6 && typ == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			// struct in6_pktinfo { in6_addr addr; int ifindex; }
			return netip.AddrFrom16([16]byte(data[:16])).Unmap()
		}
		next := dgramCmsgAlign(l)
		if next >= len(oob) {
			break
		}
		oob = oob[next:]
	}
	return netip.Addr{}
}
