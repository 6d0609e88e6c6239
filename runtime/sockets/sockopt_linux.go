package sockets

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// Socket options as the Control classes name them, applied to a raw file
// descriptor. Each function is called from inside syscall.RawConn.Control,
// before bind or connect unless its comment says otherwise.

// dscpEF is the traffic class LowLatency marks packets with: DSCP
// "Expedited Forwarding" (46) shifted into the TOS byte.
const dscpEF = 46 << 2

// priorityInteractive is the SO_PRIORITY LowLatency asks for
// (TC_PRIO_INTERACTIVE); values up to 6 need no privilege.
const priorityInteractive = 6

func setBool(fd int, level, opt int, v bool) error {
	n := 0
	if v {
		n = 1
	}
	return unix.SetsockoptInt(fd, level, opt, n)
}

// isIPv6 reports whether fd is an AF_INET6 socket.
func isIPv6(fd int) bool {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return false
	}
	_, ok := sa.(*unix.SockaddrInet6)
	return ok
}

func setNoDelay(fd int, v bool) error {
	return wrapOpt("NoDelay", setBool(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, v))
}

func setKeepAlive(fd int, v bool) error {
	return wrapOpt("KeepAlive", setBool(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, v))
}

func setSendBuffer(fd int, n uint32) error {
	return wrapOpt("OutboundBufferSizeInBytes", unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, clampInt(n)))
}

func setRecvBuffer(fd int, n uint32) error {
	return wrapOpt("InboundBufferSizeInBytes", unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, clampInt(n)))
}

// setHopLimit sets the unicast TTL, and for IPv6 sockets also the IPv6 hop
// limit, which dual-stack sockets use for IPv6 peers.
func setHopLimit(fd int, hops uint8) error {
	if isIPv6(fd) {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, int(hops)); err != nil {
			return wrapOpt("OutboundUnicastHopLimit", err)
		}
		// IPv4-mapped peers of a dual-stack socket use IP_TTL; an
		// IPV6_V6ONLY socket refuses it, which is fine.
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TTL, int(hops))
		return nil
	}
	return wrapOpt("OutboundUnicastHopLimit", unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TTL, int(hops)))
}

func setQoS(fd int, q SocketQualityOfService) error {
	if q != LowLatency {
		return nil
	}
	if isIPv6(fd) {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_TCLASS, dscpEF); err != nil {
			return wrapOpt("QualityOfService", err)
		}
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TOS, dscpEF)
	} else if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TOS, dscpEF); err != nil {
		return wrapOpt("QualityOfService", err)
	}
	return wrapOpt("QualityOfService", unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PRIORITY, priorityInteractive))
}

// setDontFragment sets the DF bit on IPv4 (path MTU discovery "do") and
// IPV6_DONTFRAG on IPv6, so an oversize datagram fails with MessageTooLong
// instead of being fragmented.
func setDontFragment(fd int, v bool) error {
	pmtu := unix.IP_PMTUDISC_DONT
	if v {
		pmtu = unix.IP_PMTUDISC_DO
	}
	if isIPv6(fd) {
		if err := setBool(fd, unix.IPPROTO_IPV6, unix.IPV6_DONTFRAG, v); err != nil {
			return wrapOpt("DontFragment", err)
		}
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, pmtu)
		return nil
	}
	return wrapOpt("DontFragment", unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, pmtu))
}

func setReuseAddr(fd int, v bool) error {
	return wrapOpt("MulticastOnly", setBool(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, v))
}

func clampInt(n uint32) int {
	if n > 1<<30 {
		return 1 << 30
	}
	return int(n)
}

// wrapOpt names the Control property whose socket option failed.
func wrapOpt(prop string, err error) error {
	if err == nil {
		return nil
	}
	return &optError{prop: prop, err: err}
}

type optError struct {
	prop string
	err  error
}

func (e *optError) Error() string { return "setting " + e.prop + ": " + e.err.Error() }
func (e *optError) Unwrap() error { return e.err }

// control runs fn on the descriptor behind rc and returns fn's error or
// Control's own.
func control(rc syscall.RawConn, fn func(fd int) error) error {
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}
