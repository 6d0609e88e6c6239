package sockets

import (
	"golang.org/x/sys/unix"
)

// RoundTripTimeStatistics is WinRT's RoundTripTimeStatistics, in
// microseconds, filled from Linux's TCP_INFO: Sum is the smoothed round-trip
// time (tcpi_rtt; WinRT's "Sum" is a smoothed value too), Variance its mean
// deviation (tcpi_rttvar), Min the lowest seen (tcpi_min_rtt), and Max the
// highest smoothed value this socket has reported so far.
type RoundTripTimeStatistics struct {
	Variance, Max, Min, Sum uint32
}

// BandwidthStatistics is WinRT's BandwidthStatistics, filled from
// TCP_INFO. OutboundBitsPerSecond is the kernel's delivery-rate estimate;
// InboundBitsPerSecond is the receive window the kernel has grown to
// (tcpi_rcv_space) per receiver-side round trip (tcpi_rcv_rtt), zero until
// the kernel has measured one. Linux keeps no instability measure, so those
// fields are zero. OutboundBandwidthPeaked is true when the connection has
// spent time sending that was limited neither by the peer's receive window
// nor by the send buffer (tcpi_busy_time beyond tcpi_rwnd_limited and
// tcpi_sndbuf_limited): the network was the bottleneck. Linux measures no
// such thing for receiving, so InboundBandwidthPeaked is always false.
type BandwidthStatistics struct {
	OutboundBitsPerSecond            uint64
	InboundBitsPerSecond             uint64
	OutboundBitsPerSecondInstability uint64
	InboundBitsPerSecondInstability  uint64
	OutboundBandwidthPeaked          bool
	InboundBandwidthPeaked           bool
}

// tcpInfo reads TCP_INFO of the connected socket, or returns false.
func (i *StreamSocketInformation) tcpInfo() (*unix.TCPInfo, bool) {
	i.s.mu.Lock()
	raw := i.s.raw
	i.s.mu.Unlock()
	if raw == nil {
		return nil, false
	}
	var ti *unix.TCPInfo
	var err error
	if cerr := raw.Control(func(fd uintptr) { ti, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); cerr != nil || err != nil {
		return nil, false
	}
	return ti, true
}

// RoundTripTimeStatistics returns live round-trip statistics, all zero
// before the socket connects or after it closes.
func (i *StreamSocketInformation) RoundTripTimeStatistics() RoundTripTimeStatistics {
	ti, ok := i.tcpInfo()
	if !ok {
		return RoundTripTimeStatistics{}
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.rttMax = max(i.rttMax, ti.Rtt)
	return RoundTripTimeStatistics{Variance: ti.Rttvar, Max: i.rttMax, Min: ti.Min_rtt, Sum: ti.Rtt}
}

// BandwidthStatistics returns live bandwidth estimates, all zero before
// the socket connects or after it closes.
func (i *StreamSocketInformation) BandwidthStatistics() BandwidthStatistics {
	ti, ok := i.tcpInfo()
	if !ok {
		return BandwidthStatistics{}
	}
	var in uint64
	if ti.Rcv_rtt > 0 {
		in = uint64(ti.Rcv_space) * 8 * 1_000_000 / uint64(ti.Rcv_rtt)
	}
	return BandwidthStatistics{
		OutboundBitsPerSecond:   ti.Delivery_rate * 8,
		InboundBitsPerSecond:    in,
		OutboundBandwidthPeaked: ti.Busy_time > ti.Rwnd_limited+ti.Sndbuf_limited,
	}
}
