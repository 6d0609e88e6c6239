package sockets

import (
	"crypto/tls"

	"github.com/netrun/netrun/runtime/socketerror"
)

// StreamSocketListenerControl is WinRT's StreamSocketListenerControl: the
// options every accepted socket inherits. They are set on the listening
// socket, which Linux copies to each connection it accepts. None may change
// once the listener is bound (E_ILLEGAL_METHOD_CALL).
type StreamSocketListenerControl struct {
	l *StreamSocketListener // l.mu guards the fields below

	noDelay    bool
	keepAlive  bool
	sendBuffer uint32
	hopLimit   uint8
	qos        SocketQualityOfService
	serverCert *tls.Certificate
}

func (c *StreamSocketListenerControl) snapshotLocked() controlSnapshot {
	return controlSnapshot{noDelay: c.noDelay, keepAlive: c.keepAlive, sendBuffer: c.sendBuffer,
		hopLimit: c.hopLimit, qos: c.qos}
}

func (c *StreamSocketListenerControl) beforeBind(prop string, set func()) error {
	c.l.mu.Lock()
	defer c.l.mu.Unlock()
	if c.l.state != stateCreated || c.l.binding {
		return socketerror.IllegalCall("StreamSocketListenerControl."+prop, "cannot be changed once the listener is bound")
	}
	set()
	return nil
}

func (c *StreamSocketListenerControl) get(f func()) {
	c.l.mu.Lock()
	f()
	c.l.mu.Unlock()
}

// NoDelay reports whether accepted sockets turn Nagle's algorithm off. The
// default is true.
func (c *StreamSocketListenerControl) NoDelay() (v bool) { c.get(func() { v = c.noDelay }); return }

// SetNoDelay sets NoDelay; it fails once bound.
func (c *StreamSocketListenerControl) SetNoDelay(v bool) error {
	return c.beforeBind("NoDelay", func() { c.noDelay = v })
}

// KeepAlive reports whether accepted sockets use TCP keep-alive. The
// default is false.
func (c *StreamSocketListenerControl) KeepAlive() (v bool) { c.get(func() { v = c.keepAlive }); return }

// SetKeepAlive sets KeepAlive; it fails once bound.
func (c *StreamSocketListenerControl) SetKeepAlive(v bool) error {
	return c.beforeBind("KeepAlive", func() { c.keepAlive = v })
}

// OutboundBufferSizeInBytes returns the send buffer size of accepted
// sockets, or 0 for the system's default.
func (c *StreamSocketListenerControl) OutboundBufferSizeInBytes() (v uint32) {
	c.get(func() { v = c.sendBuffer })
	return
}

// SetOutboundBufferSizeInBytes sets the send buffer size; it fails once
// bound.
func (c *StreamSocketListenerControl) SetOutboundBufferSizeInBytes(v uint32) error {
	return c.beforeBind("OutboundBufferSizeInBytes", func() { c.sendBuffer = v })
}

// OutboundUnicastHopLimit returns the hop limit of accepted sockets. The
// default is 128.
func (c *StreamSocketListenerControl) OutboundUnicastHopLimit() (v uint8) {
	c.get(func() { v = c.hopLimit })
	return
}

// SetOutboundUnicastHopLimit sets the hop limit; it fails once bound, and
// for 0.
func (c *StreamSocketListenerControl) SetOutboundUnicastHopLimit(v uint8) error {
	if v == 0 {
		return socketerror.InvalidArg("StreamSocketListenerControl.OutboundUnicastHopLimit", "value", "must be 1 to 255")
	}
	return c.beforeBind("OutboundUnicastHopLimit", func() { c.hopLimit = v })
}

// QualityOfService returns the traffic class of accepted sockets.
func (c *StreamSocketListenerControl) QualityOfService() (v SocketQualityOfService) {
	c.get(func() { v = c.qos })
	return
}

// SetQualityOfService sets the traffic class; it fails once bound.
func (c *StreamSocketListenerControl) SetQualityOfService(v SocketQualityOfService) error {
	if v != Normal && v != LowLatency {
		return socketerror.InvalidArg("StreamSocketListenerControl.QualityOfService", "value", "%s is not a SocketQualityOfService", v)
	}
	return c.beforeBind("QualityOfService", func() { c.qos = v })
}

// ServerCertificate returns the certificate a TLS listener serves, or nil.
// It is a netrun extension.
func (c *StreamSocketListenerControl) ServerCertificate() (v *tls.Certificate) {
	c.get(func() { v = c.serverCert })
	return
}

// SetServerCertificate sets the certificate and key a listener bound with a
// TLS protection level serves; it fails once bound. A netrun extension.
func (c *StreamSocketListenerControl) SetServerCertificate(cert *tls.Certificate) error {
	if cert == nil || len(cert.Certificate) == 0 || cert.PrivateKey == nil {
		return socketerror.InvalidArg("StreamSocketListenerControl.ServerCertificate", "cert", "must hold a certificate and its private key")
	}
	return c.beforeBind("ServerCertificate", func() { c.serverCert = cert })
}

// LoadServerCertificate reads a PEM certificate chain and its key from
// files and sets them as the server certificate. A netrun extension.
func (c *StreamSocketListenerControl) LoadServerCertificate(certFile, keyFile string) error {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return socketerror.InvalidArg("StreamSocketListenerControl.LoadServerCertificate", "certFile", "%v", err)
	}
	return c.SetServerCertificate(&cert)
}
