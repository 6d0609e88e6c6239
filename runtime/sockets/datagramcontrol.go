package sockets

import (
	"github.com/netrun/netrun/runtime/socketerror"
)

// DatagramSocketControl is WinRT's DatagramSocketControl: the options of a
// DatagramSocket. They reach the kernel when the socket binds, explicitly
// or through Connect or GetOutputStream. As in WinRT, DontFragment,
// InboundBufferSizeInBytes, MulticastOnly and QualityOfService cannot
// change once a bind has begun (the setter returns E_ILLEGAL_METHOD_CALL),
// while OutboundUnicastHopLimit may change at any time.
//
// All methods are safe for concurrent use.
type DatagramSocketControl struct {
	d *DatagramSocket // d.mu guards the fields below

	dontFragment  bool
	recvBuffer    uint32 // 0: the system's default
	multicastOnly bool
	hopLimit      uint8
	qos           SocketQualityOfService
}

// datagramOptions is a copy of the options taken when a bind starts.
type datagramOptions struct {
	dontFragment, multicastOnly bool
	recvBuffer                  uint32
	hopLimit                    uint8
	qos                         SocketQualityOfService
}

func (c *DatagramSocketControl) snapshotLocked() datagramOptions {
	return datagramOptions{dontFragment: c.dontFragment, multicastOnly: c.multicastOnly,
		recvBuffer: c.recvBuffer, hopLimit: c.hopLimit, qos: c.qos}
}

// apply sets the options on a UDP socket before it binds.
func (o *datagramOptions) apply(fd int) error {
	if err := setDatagramDefaults(fd); err != nil {
		return err
	}
	if err := setDontFragment(fd, o.dontFragment); err != nil {
		return err
	}
	if o.recvBuffer != 0 {
		if err := setRecvBuffer(fd, o.recvBuffer); err != nil {
			return err
		}
	}
	if o.multicastOnly {
		if err := setReuseAddr(fd, true); err != nil {
			return err
		}
	}
	if err := setHopLimit(fd, o.hopLimit); err != nil {
		return err
	}
	return setQoS(fd, o.qos)
}

// beforeBind runs set under the socket's lock if no bind has begun, and
// otherwise returns E_ILLEGAL_METHOD_CALL for prop.
func (c *DatagramSocketControl) beforeBind(prop string, set func()) error {
	c.d.mu.Lock()
	defer c.d.mu.Unlock()
	if c.d.state != datagramCreated {
		return socketerror.IllegalCall("DatagramSocketControl."+prop, "cannot be changed once the socket is bound or connected")
	}
	set()
	return nil
}

func (c *DatagramSocketControl) get(f func()) {
	c.d.mu.Lock()
	f()
	c.d.mu.Unlock()
}

// DontFragment reports whether datagrams are sent with the IPv4 "don't
// fragment" bit (IP_MTU_DISCOVER = IP_PMTUDISC_DO, and IPV6_DONTFRAG for
// IPv6), so that one larger than the path MTU fails with MessageTooLong
// instead of being fragmented. The default is false: fragment as needed,
// never set DF.
func (c *DatagramSocketControl) DontFragment() (v bool) { c.get(func() { v = c.dontFragment }); return }

// SetDontFragment sets DontFragment; it fails once bound or connected.
func (c *DatagramSocketControl) SetDontFragment(v bool) error {
	return c.beforeBind("DontFragment", func() { c.dontFragment = v })
}

// InboundBufferSizeInBytes returns the receive buffer size asked for
// (SO_RCVBUF), or 0 for the system's default. Linux doubles the value it is
// given and reports that. Datagrams that arrive while the buffer is full
// are dropped by the kernel, which is also what happens to datagrams held
// back while MessageReceived has no handler.
func (c *DatagramSocketControl) InboundBufferSizeInBytes() (v uint32) {
	c.get(func() { v = c.recvBuffer })
	return
}

// SetInboundBufferSizeInBytes sets the receive buffer size; it fails once
// bound or connected.
func (c *DatagramSocketControl) SetInboundBufferSizeInBytes(v uint32) error {
	return c.beforeBind("InboundBufferSizeInBytes", func() { c.recvBuffer = v })
}

// MulticastOnly reports whether the socket shares its port with other
// sockets that ask for it too (SO_REUSEADDR), so that several receivers,
// in this process or another, can bind one multicast port. Every socket
// on the port must set it. The default is false. With several sockets on
// one port, a multicast datagram reaches all of them, a unicast one only
// one of them.
func (c *DatagramSocketControl) MulticastOnly() (v bool) {
	c.get(func() { v = c.multicastOnly })
	return
}

// SetMulticastOnly sets MulticastOnly; it fails once bound or connected.
func (c *DatagramSocketControl) SetMulticastOnly(v bool) error {
	return c.beforeBind("MulticastOnly", func() { c.multicastOnly = v })
}

// OutboundUnicastHopLimit returns the TTL (IPv4) or hop limit (IPv6) of
// unicast datagrams. The default is 128, as on Windows. Multicast
// datagrams keep the system's multicast hop limit (1).
func (c *DatagramSocketControl) OutboundUnicastHopLimit() (v uint8) {
	c.get(func() { v = c.hopLimit })
	return
}

// SetOutboundUnicastHopLimit sets the hop limit. Unlike the other options
// it may change at any time: on a bound socket it is applied at once
// (IP_TTL, and IPV6_UNICAST_HOPS on an IPv6 socket) and holds for every
// datagram a Write sends after SetOutboundUnicastHopLimit returns. 0 is an
// E_INVALIDARG error.
func (c *DatagramSocketControl) SetOutboundUnicastHopLimit(v uint8) error {
	const op = "DatagramSocketControl.OutboundUnicastHopLimit"
	if v == 0 {
		return socketerror.InvalidArg(op, "value", "must be 1 to 255")
	}
	d := c.d
	d.mu.Lock()
	defer d.mu.Unlock()
	c.hopLimit = v
	if d.state != datagramBound {
		return nil // a bind in progress applies the value it took
	}
	return socketerror.New(op, "", control(d.raw, func(fd int) error { return setHopLimit(fd, v) }))
}

// QualityOfService returns the traffic class. The default is Normal.
func (c *DatagramSocketControl) QualityOfService() (v SocketQualityOfService) {
	c.get(func() { v = c.qos })
	return
}

// SetQualityOfService sets the traffic class (see [SocketQualityOfService]);
// it fails once bound or connected.
func (c *DatagramSocketControl) SetQualityOfService(v SocketQualityOfService) error {
	if v != Normal && v != LowLatency {
		return socketerror.InvalidArg("DatagramSocketControl.QualityOfService", "value", "%s is not a SocketQualityOfService", v)
	}
	return c.beforeBind("QualityOfService", func() { c.qos = v })
}
