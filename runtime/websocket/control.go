package websocket

import (
	"crypto/tls"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
)

// DefaultMaxMessageSize is the MaxMessageSize of a new MessageWebSocket
// and of a server whose AcceptOptions leave it 0: 64 MiB. WinRT's default
// is INFINITE; netrun bounds it so that one peer cannot make a long-running
// host buffer gigabytes. 0xFFFFFFFF means no limit.
const DefaultMaxMessageSize = 64 << 20

// WebSocketControl holds the options MessageWebSocketControl and
// StreamWebSocketControl share: WinRT's IWebSocketControl and
// IWebSocketControl2, and the client certificate and unsolicited pong
// interval that both classes have. Each must be set before Connect; a
// setter called later returns E_ILLEGAL_METHOD_CALL, except
// OutboundBufferSizeInBytes, which is then ignored as in WinRT. The
// options may be changed again after a failed Connect.
//
// ProxyCredential does not exist: netrun connects directly and does not
// use HTTP proxies.
type WebSocketControl struct {
	cl *client // cl.mu guards the fields below

	protocols  []string
	credential *PasswordCredential
	ignorable  []sockets.ChainValidationResult
	clientCert *tls.Certificate
	pong       time.Duration
	sendBuffer uint32
}

// beforeConnect runs set under the client's lock if it has not connected,
// else returns E_ILLEGAL_METHOD_CALL for prop.
func (c *WebSocketControl) beforeConnect(class, prop string, set func() error) error {
	c.cl.mu.Lock()
	defer c.cl.mu.Unlock()
	if c.cl.state != stateCreated {
		return socketerror.IllegalCall(class+"."+prop, "cannot be changed once Connect has been called")
	}
	return set()
}

func (c *WebSocketControl) get(f func()) {
	c.cl.mu.Lock()
	f()
	c.cl.mu.Unlock()
}

func (c *WebSocketControl) op(prop string) string { return c.cl.class + "Control." + prop }

// SupportedProtocols returns a copy of the subprotocols offered in the
// handshake's Sec-WebSocket-Protocol header, in order of preference.
func (c *WebSocketControl) SupportedProtocols() (v []string) {
	c.get(func() { v = slices.Clone(c.protocols) })
	return
}

// AppendSupportedProtocol adds p to SupportedProtocols: WinRT's
// SupportedProtocols.Append. p must be an HTTP token (letters, digits and
// !#$%&'*+-.^_`|~) not offered already.
func (c *WebSocketControl) AppendSupportedProtocol(p string) error {
	op := c.op("SupportedProtocols")
	if !isToken(p) {
		return socketerror.InvalidArg(op, "protocol", "%q is not an HTTP token", p)
	}
	return c.beforeConnect(c.cl.class+"Control", "SupportedProtocols", func() error {
		if slices.Contains(c.protocols, p) {
			return socketerror.InvalidArg(op, "protocol", "%q is already offered", p)
		}
		c.protocols = append(c.protocols, p)
		return nil
	})
}

// ServerCredential returns a copy of the credential sent to the server, or
// nil.
func (c *WebSocketControl) ServerCredential() (v *PasswordCredential) {
	c.get(func() {
		if c.credential != nil {
			cp := *c.credential
			v = &cp
		}
	})
	return
}

// SetServerCredential sets the user name and password sent on the
// handshake as HTTP Basic authentication (nil sends none). netrun sends
// them with the first request; WinRT waits for the server's 401
// challenge. They replace an Authorization header set with
// SetRequestHeader. Use wss: Basic authentication is readable on the
// wire.
func (c *WebSocketControl) SetServerCredential(v *PasswordCredential) error {
	if v != nil && strings.IndexByte(v.UserName, ':') >= 0 {
		return socketerror.InvalidArg(c.op("ServerCredential"), "UserName", "must not contain ':' (HTTP Basic authentication)")
	}
	return c.beforeConnect(c.cl.class+"Control", "ServerCredential", func() error {
		if v == nil {
			c.credential = nil
		} else {
			cp := *v
			c.credential = &cp
		}
		return nil
	})
}

// IgnorableServerCertificateErrors returns a copy of the certificate
// errors a wss connect tolerates.
func (c *WebSocketControl) IgnorableServerCertificateErrors() (v []sockets.ChainValidationResult) {
	c.get(func() { v = slices.Clone(c.ignorable) })
	return
}

// SetIgnorableServerCertificateErrors replaces the certificate errors a
// wss connect tolerates. Only ignorable results may be listed (see
// sockets.ChainValidationResult.Ignorable). As in WinRT, an application
// connects, reads Information().ServerCertificateErrors after a
// certificate failure, lists them here and connects again.
func (c *WebSocketControl) SetIgnorableServerCertificateErrors(v []sockets.ChainValidationResult) error {
	for _, r := range v {
		if !r.Ignorable() {
			return socketerror.InvalidArg(c.op("IgnorableServerCertificateErrors"), "value", "%s cannot be ignored", r)
		}
	}
	return c.beforeConnect(c.cl.class+"Control", "IgnorableServerCertificateErrors", func() error {
		c.ignorable = slices.Clone(v)
		return nil
	})
}

// ClientCertificate returns the certificate offered when a wss server asks
// for one, or nil.
func (c *WebSocketControl) ClientCertificate() (v *tls.Certificate) {
	c.get(func() { v = c.clientCert })
	return
}

// SetClientCertificate sets the certificate offered when a wss server asks
// for one.
func (c *WebSocketControl) SetClientCertificate(cert *tls.Certificate) error {
	return c.beforeConnect(c.cl.class+"Control", "ClientCertificate", func() error {
		c.clientCert = cert
		return nil
	})
}

// DesiredUnsolicitedPongInterval returns how often an unsolicited pong is
// sent as a one-way heartbeat (RFC 6455 section 5.5.3); 0, the default,
// sends none.
func (c *WebSocketControl) DesiredUnsolicitedPongInterval() (v time.Duration) {
	c.get(func() { v = c.pong })
	return
}

// SetDesiredUnsolicitedPongInterval sets DesiredUnsolicitedPongInterval.
// Pongs from this side need no answer; pings from the peer are answered
// whatever this is.
func (c *WebSocketControl) SetDesiredUnsolicitedPongInterval(d time.Duration) error {
	if d < 0 {
		return socketerror.InvalidArg(c.op("DesiredUnsolicitedPongInterval"), "value", "must not be negative, got %v", d)
	}
	return c.beforeConnect(c.cl.class+"Control", "DesiredUnsolicitedPongInterval", func() error {
		c.pong = d
		return nil
	})
}

// ActualUnsolicitedPongInterval returns the interval pongs are sent at on
// the connection: DesiredUnsolicitedPongInterval once connected, else 0.
func (c *WebSocketControl) ActualUnsolicitedPongInterval() (v time.Duration) {
	c.get(func() {
		if c.cl.state == stateConnected {
			v = c.pong
		}
	})
	return
}

// OutboundBufferSizeInBytes returns the send buffer size asked for
// (SO_SNDBUF), or 0 for the system's default.
func (c *WebSocketControl) OutboundBufferSizeInBytes() (v uint32) {
	c.get(func() { v = c.sendBuffer })
	return
}

// SetOutboundBufferSizeInBytes sets the socket's send buffer size. Once
// Connect has been called the value is ignored, as in WinRT, and nil is
// returned.
func (c *WebSocketControl) SetOutboundBufferSizeInBytes(v uint32) error {
	_ = c.beforeConnect(c.cl.class+"Control", "OutboundBufferSizeInBytes", func() error {
		c.sendBuffer = v
		return nil
	})
	return nil
}

// MessageWebSocketControl is WinRT's MessageWebSocketControl: the options
// of a MessageWebSocket, with those of [WebSocketControl].
type MessageWebSocketControl struct {
	WebSocketControl

	msgType atomic.Int32 // may change at any time
	// guarded by cl.mu
	maxSize uint32
	mode    MessageWebSocketReceiveMode
}

// MessageType returns the type of messages sent through OutputStream,
// Send and the first frame of SendNonfinalFrame. The default is Binary.
func (c *MessageWebSocketControl) MessageType() SocketMessageType {
	return SocketMessageType(c.msgType.Load())
}

// SetMessageType sets MessageType. It may change at any time and applies
// to messages sent afterwards.
func (c *MessageWebSocketControl) SetMessageType(t SocketMessageType) error {
	if t != Binary && t != Utf8 {
		return socketerror.InvalidArg("MessageWebSocketControl.MessageType", "value", "%s is not a SocketMessageType", t)
	}
	c.msgType.Store(int32(t))
	return nil
}

// MaxMessageSize returns the largest message accepted, in bytes. A peer
// that sends a larger one is closed with 1009 (message too big), where
// WinRT instead fails the event's GetDataReader. The default is
// DefaultMaxMessageSize; 0xFFFFFFFF means no limit.
func (c *MessageWebSocketControl) MaxMessageSize() (v uint32) {
	c.get(func() { v = c.maxSize })
	return
}

// SetMaxMessageSize sets MaxMessageSize; it fails once Connect was called,
// and for 0.
func (c *MessageWebSocketControl) SetMaxMessageSize(v uint32) error {
	if v == 0 {
		return socketerror.InvalidArg("MessageWebSocketControl.MaxMessageSize", "value", "must be positive")
	}
	return c.beforeConnect("MessageWebSocketControl", "MaxMessageSize", func() error {
		c.maxSize = v
		return nil
	})
}

// ReceiveMode returns whether MessageReceived carries whole messages
// (FullMessage, the default) or pieces as they arrive (PartialMessage).
func (c *MessageWebSocketControl) ReceiveMode() (v MessageWebSocketReceiveMode) {
	c.get(func() { v = c.mode })
	return
}

// SetReceiveMode sets ReceiveMode; it fails once Connect was called.
func (c *MessageWebSocketControl) SetReceiveMode(m MessageWebSocketReceiveMode) error {
	if m != FullMessage && m != PartialMessage {
		return socketerror.InvalidArg("MessageWebSocketControl.ReceiveMode", "value", "%s is not a MessageWebSocketReceiveMode", m)
	}
	return c.beforeConnect("MessageWebSocketControl", "ReceiveMode", func() error {
		c.mode = m
		return nil
	})
}

// StreamWebSocketControl is WinRT's StreamWebSocketControl: the options of
// a StreamWebSocket, with those of [WebSocketControl].
type StreamWebSocketControl struct {
	WebSocketControl

	noDelay bool // guarded by cl.mu
}

// NoDelay reports whether Nagle's algorithm is off on the connection
// (TCP_NODELAY). The default is true.
func (c *StreamWebSocketControl) NoDelay() (v bool) {
	c.get(func() { v = c.noDelay })
	return
}

// SetNoDelay sets NoDelay; it fails once Connect was called.
func (c *StreamWebSocketControl) SetNoDelay(v bool) error {
	return c.beforeConnect("StreamWebSocketControl", "NoDelay", func() error {
		c.noDelay = v
		return nil
	})
}

// ServerMessageWebSocketControl is WinRT's ServerMessageWebSocketControl:
// the type of the messages a ServerMessageWebSocket sends.
type ServerMessageWebSocketControl struct {
	msgType atomic.Int32
}

// MessageType returns the type of messages sent through OutputStream,
// Send and the first frame of SendNonfinalFrame. The default is Binary.
func (c *ServerMessageWebSocketControl) MessageType() SocketMessageType {
	return SocketMessageType(c.msgType.Load())
}

// SetMessageType sets MessageType; it may change at any time.
func (c *ServerMessageWebSocketControl) SetMessageType(t SocketMessageType) error {
	if t != Binary && t != Utf8 {
		return socketerror.InvalidArg("ServerMessageWebSocketControl.MessageType", "value", "%s is not a SocketMessageType", t)
	}
	c.msgType.Store(int32(t))
	return nil
}

// isToken reports whether s is an HTTP token (RFC 9110 section 5.6.2).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '!' || c == '#' || c == '$' || c == '%' || c == '&' || c == '\'' || c == '*' ||
			c == '+' || c == '-' || c == '.' || c == '^' || c == '_' || c == '`' || c == '|' || c == '~':
		default:
			return false
		}
	}
	return true
}
