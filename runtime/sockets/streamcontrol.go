package sockets

import (
	"crypto/tls"
	"slices"

	"github.com/netrun/netrun/runtime/socketerror"
)

// defaultHopLimit is WinRT's default OutboundUnicastHopLimit.
const defaultHopLimit = 128

// StreamSocketControl is WinRT's StreamSocketControl: the options of a
// StreamSocket. Each one sets the socket option it names when the socket
// connects. As in WinRT, NoDelay, KeepAlive, QualityOfService and
// OutboundUnicastHopLimit cannot change once connected (the setter returns
// E_ILLEGAL_METHOD_CALL), a new OutboundBufferSizeInBytes is silently
// ignored once connected, and SerializeConnectionAttempts cannot change
// after Connect was first called. The TLS settings may change again after a
// failed connect, for the certificate retry flow.
type StreamSocketControl struct {
	s *StreamSocket // s.mu guards the fields below

	noDelay       bool
	keepAlive     bool
	sendBuffer    uint32 // 0: the system's default
	hopLimit      uint8
	qos           SocketQualityOfService
	serialize     bool
	minProtection SocketProtectionLevel
	ignorable     []ChainValidationResult
	clientCert    *tls.Certificate
}

// controlSnapshot is a copy of the options taken when a connect starts.
type controlSnapshot struct {
	noDelay, keepAlive, serialize bool
	sendBuffer                    uint32
	hopLimit                      uint8
	qos                           SocketQualityOfService
	minProtection                 SocketProtectionLevel
	ignorable                     []ChainValidationResult
	clientCert                    *tls.Certificate
}

func (c *StreamSocketControl) snapshotLocked() controlSnapshot {
	return controlSnapshot{
		noDelay: c.noDelay, keepAlive: c.keepAlive, serialize: c.serialize,
		sendBuffer: c.sendBuffer, hopLimit: c.hopLimit, qos: c.qos,
		minProtection: c.minProtection, ignorable: slices.Clone(c.ignorable), clientCert: c.clientCert,
	}
}

// applyTCP sets the options on a TCP socket before it connects or listens.
// TCP_NODELAY is left to the caller: Go sets it on every new connection.
func (o *controlSnapshot) applyTCP(fd int) error {
	if err := setKeepAlive(fd, o.keepAlive); err != nil {
		return err
	}
	if o.sendBuffer != 0 {
		if err := setSendBuffer(fd, o.sendBuffer); err != nil {
			return err
		}
	}
	if err := setHopLimit(fd, o.hopLimit); err != nil {
		return err
	}
	return setQoS(fd, o.qos)
}

// beforeConnect runs set under the socket's lock if the socket has not
// connected yet, and otherwise returns E_ILLEGAL_METHOD_CALL for prop.
func (c *StreamSocketControl) beforeConnect(prop string, set func()) error {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.s.state != stateCreated {
		return socketerror.IllegalCall("StreamSocketControl."+prop, "cannot be changed once the socket has connected")
	}
	set()
	return nil
}

func (c *StreamSocketControl) get(f func()) {
	c.s.mu.Lock()
	f()
	c.s.mu.Unlock()
}

// NoDelay reports whether Nagle's algorithm is off (TCP_NODELAY). The
// default is true.
func (c *StreamSocketControl) NoDelay() (v bool) { c.get(func() { v = c.noDelay }); return }

// SetNoDelay sets NoDelay; it fails once connected.
func (c *StreamSocketControl) SetNoDelay(v bool) error {
	return c.beforeConnect("NoDelay", func() { c.noDelay = v })
}

// KeepAlive reports whether TCP keep-alive (SO_KEEPALIVE) is on. The
// default is false.
func (c *StreamSocketControl) KeepAlive() (v bool) { c.get(func() { v = c.keepAlive }); return }

// SetKeepAlive sets KeepAlive; it fails once connected.
func (c *StreamSocketControl) SetKeepAlive(v bool) error {
	return c.beforeConnect("KeepAlive", func() { c.keepAlive = v })
}

// OutboundBufferSizeInBytes returns the send buffer size asked for
// (SO_SNDBUF), or 0 for the system's default. Linux doubles the value it
// is given and reports that; [StreamSocketInformation] shows nothing of it.
func (c *StreamSocketControl) OutboundBufferSizeInBytes() (v uint32) {
	c.get(func() { v = c.sendBuffer })
	return
}

// SetOutboundBufferSizeInBytes sets the send buffer size. Once connected
// the new value is ignored, as in WinRT, and nil is returned.
func (c *StreamSocketControl) SetOutboundBufferSizeInBytes(v uint32) error {
	_ = c.beforeConnect("OutboundBufferSizeInBytes", func() { c.sendBuffer = v })
	return nil
}

// OutboundUnicastHopLimit returns the TTL (IPv4) or hop limit (IPv6) of
// outgoing packets. The default is 128, as on Windows.
func (c *StreamSocketControl) OutboundUnicastHopLimit() (v uint8) {
	c.get(func() { v = c.hopLimit })
	return
}

// SetOutboundUnicastHopLimit sets the hop limit; it fails once connected,
// and for 0.
func (c *StreamSocketControl) SetOutboundUnicastHopLimit(v uint8) error {
	if v == 0 {
		return socketerror.InvalidArg("StreamSocketControl.OutboundUnicastHopLimit", "value", "must be 1 to 255")
	}
	return c.beforeConnect("OutboundUnicastHopLimit", func() { c.hopLimit = v })
}

// QualityOfService returns the traffic class. The default is Normal.
func (c *StreamSocketControl) QualityOfService() (v SocketQualityOfService) {
	c.get(func() { v = c.qos })
	return
}

// SetQualityOfService sets the traffic class; it fails once connected.
func (c *StreamSocketControl) SetQualityOfService(v SocketQualityOfService) error {
	if v != Normal && v != LowLatency {
		return socketerror.InvalidArg("StreamSocketControl.QualityOfService", "value", "%s is not a SocketQualityOfService", v)
	}
	return c.beforeConnect("QualityOfService", func() { c.qos = v })
}

// SerializeConnectionAttempts reports whether Connect tries one address at
// a time. The default is false.
func (c *StreamSocketControl) SerializeConnectionAttempts() (v bool) {
	c.get(func() { v = c.serialize })
	return
}

// SetSerializeConnectionAttempts sets SerializeConnectionAttempts; it fails
// once Connect has been called, even if that connect failed.
func (c *StreamSocketControl) SetSerializeConnectionAttempts(v bool) error {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.s.connectCalled {
		return socketerror.IllegalCall("StreamSocketControl.SerializeConnectionAttempts", "cannot be changed after Connect was called")
	}
	c.serialize = v
	return nil
}

// MinProtectionLevel returns the lowest protection a TLS connect accepts
// (see [SocketProtectionLevel.TLSVersions]). The default is Tls10.
func (c *StreamSocketControl) MinProtectionLevel() (v SocketProtectionLevel) {
	c.get(func() { v = c.minProtection })
	return
}

// SetMinProtectionLevel sets MinProtectionLevel: Tls10, Tls11, Tls12 or
// Unspecified (TLS 1.2). A server that cannot meet it fails the connect as
// one that speaks no TLS would.
func (c *StreamSocketControl) SetMinProtectionLevel(v SocketProtectionLevel) error {
	switch v {
	case Tls10, Tls11, Tls12, Unspecified, Ssl, SslAllowNullEncryption, Ssl3AllowWeakEncryption:
	default:
		return socketerror.InvalidArg("StreamSocketControl.MinProtectionLevel", "value", "%s is not a TLS level", v)
	}
	return c.beforeConnect("MinProtectionLevel", func() { c.minProtection = v })
}

// IgnorableServerCertificateErrors returns a copy of the certificate errors
// a TLS connect tolerates.
func (c *StreamSocketControl) IgnorableServerCertificateErrors() (v []ChainValidationResult) {
	c.get(func() { v = slices.Clone(c.ignorable) })
	return
}

// SetIgnorableServerCertificateErrors replaces the list of tolerated
// certificate errors. Only ignorable results may be listed (see
// [ChainValidationResult.Ignorable]); listing a fatal one is E_INVALIDARG,
// where WinRT would fail the later connect.
func (c *StreamSocketControl) SetIgnorableServerCertificateErrors(v []ChainValidationResult) error {
	for _, r := range v {
		if !r.Ignorable() {
			return socketerror.InvalidArg("StreamSocketControl.IgnorableServerCertificateErrors", "value", "%s cannot be ignored", r)
		}
	}
	return c.beforeConnect("IgnorableServerCertificateErrors", func() { c.ignorable = slices.Clone(v) })
}

// ClientCertificate returns the certificate offered when a server asks for
// one, or nil.
func (c *StreamSocketControl) ClientCertificate() (v *tls.Certificate) {
	c.get(func() { v = c.clientCert })
	return
}

// SetClientCertificate sets the certificate offered when a TLS server asks
// for one; it is sent only then.
func (c *StreamSocketControl) SetClientCertificate(cert *tls.Certificate) error {
	return c.beforeConnect("ClientCertificate", func() { c.clientCert = cert })
}
