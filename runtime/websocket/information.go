package websocket

import (
	"crypto/x509"
	"sync"

	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/sockets"
)

// WebSocketInformation is WinRT's MessageWebSocketInformation and
// StreamWebSocketInformation (IWebSocketInformation and
// IWebSocketInformation2), and the server classes' Information: the
// negotiated subprotocol, the local address and, for a wss client, the
// server's certificate and its errors. The certificate properties keep
// the result of the last TLS handshake, also when Connect failed on it.
// BandwidthStatistics is not implemented.
type WebSocketInformation struct {
	mu       sync.Mutex // guards the fields below
	sock     *sockets.StreamSocket
	protocol string
}

func (i *WebSocketInformation) set(sock *sockets.StreamSocket, protocol string) {
	i.mu.Lock()
	i.sock, i.protocol = sock, protocol
	i.mu.Unlock()
}

func (i *WebSocketInformation) socket() *sockets.StreamSocket {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.sock
}

// Protocol returns the subprotocol the server chose, or "" if none was
// chosen or the handshake has not completed (WinRT's null).
func (i *WebSocketInformation) Protocol() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.protocol
}

// LocalAddress returns the local address of the connection, or nil before
// it connects.
func (i *WebSocketInformation) LocalAddress() *networking.HostName {
	if s := i.socket(); s != nil {
		return s.Information().LocalAddress()
	}
	return nil
}

// ServerCertificate returns the server's certificate from the last wss
// handshake, or nil.
func (i *WebSocketInformation) ServerCertificate() *x509.Certificate {
	if s := i.socket(); s != nil {
		return s.Information().ServerCertificate()
	}
	return nil
}

// ServerIntermediateCertificates returns the other certificates the server
// sent in the last wss handshake.
func (i *WebSocketInformation) ServerIntermediateCertificates() []*x509.Certificate {
	if s := i.socket(); s != nil {
		return s.Information().ServerIntermediateCertificates()
	}
	return nil
}

// ServerCertificateErrors returns every error found in the server's
// certificate chain in the last wss handshake, ignored or not.
func (i *WebSocketInformation) ServerCertificateErrors() []sockets.ChainValidationResult {
	if s := i.socket(); s != nil {
		return s.Information().ServerCertificateErrors()
	}
	return nil
}

// ServerCertificateErrorSeverity says whether the errors of the last wss
// handshake can be ignored.
func (i *WebSocketInformation) ServerCertificateErrorSeverity() sockets.SocketSslErrorSeverity {
	if s := i.socket(); s != nil {
		return s.Information().ServerCertificateErrorSeverity()
	}
	return sockets.SeverityNone
}
