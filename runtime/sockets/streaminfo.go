package sockets

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"

	"github.com/netrun/netrun/runtime/networking"
)

// StreamSocketInformation is WinRT's StreamSocketInformation: what is known
// about a StreamSocket's connection. Addresses are nil (and ports empty)
// until the socket connects. The certificate properties keep the result
// of the last TLS handshake, also when it failed.
type StreamSocketInformation struct {
	s *StreamSocket

	mu            sync.Mutex     // guards the fields below
	local, remote netip.AddrPort // unmapped; HostNames are made when asked for
	remoteHost    *networking.HostName
	remoteService string
	protection    SocketProtectionLevel
	cert          *certReport
	rttMax        uint32
}

func (i *StreamSocketInformation) beginConnect(pair networking.EndpointPair, level SocketProtectionLevel) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.remoteHost, i.remoteService, i.protection = pair.RemoteHostName, pair.RemoteServiceName, level
	i.cert = nil
}

func (i *StreamSocketInformation) setAddrs(local, remote net.Addr) {
	la, _ := local.(*net.TCPAddr)
	ra, _ := remote.(*net.TCPAddr)
	i.mu.Lock()
	defer i.mu.Unlock()
	if la != nil {
		ap := la.AddrPort()
		i.local = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	if ra != nil {
		ap := ra.AddrPort()
		i.remote = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
}

func (i *StreamSocketInformation) setCertReport(r *certReport) {
	i.mu.Lock()
	i.cert = r
	i.mu.Unlock()
}

func (i *StreamSocketInformation) setProtectionLevel(l SocketProtectionLevel) {
	i.mu.Lock()
	i.protection = l
	i.mu.Unlock()
}

func (i *StreamSocketInformation) remoteString() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	if !i.remote.IsValid() {
		return ""
	}
	return i.remote.String()
}

// addrHostName is the HostName of ap's address, or nil before connect.
func addrHostName(ap netip.AddrPort) *networking.HostName {
	if !ap.IsValid() {
		return nil
	}
	return networking.HostNameFromAddr(ap.Addr())
}

// portString is ap's port in decimal, or "" before connect.
func portString(ap netip.AddrPort) string {
	if !ap.IsValid() {
		return ""
	}
	return strconv.Itoa(int(ap.Port()))
}

// LocalAddress returns the local address of the connection.
func (i *StreamSocketInformation) LocalAddress() *networking.HostName {
	i.mu.Lock()
	defer i.mu.Unlock()
	return addrHostName(i.local)
}

// LocalPort returns the local port, as a decimal string.
func (i *StreamSocketInformation) LocalPort() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return portString(i.local)
}

// RemoteAddress returns the peer's address.
func (i *StreamSocketInformation) RemoteAddress() *networking.HostName {
	i.mu.Lock()
	defer i.mu.Unlock()
	return addrHostName(i.remote)
}

// RemotePort returns the peer's port, as a decimal string.
func (i *StreamSocketInformation) RemotePort() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return portString(i.remote)
}

// RemoteHostName returns the host name passed to Connect.
func (i *StreamSocketInformation) RemoteHostName() *networking.HostName {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.remoteHost
}

// RemoteServiceName returns the service name passed to Connect.
func (i *StreamSocketInformation) RemoteServiceName() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.remoteService
}

// ProtectionLevel returns the protection level asked for, as in WinRT; the
// negotiated TLS version is in TLSConnectionState.
func (i *StreamSocketInformation) ProtectionLevel() SocketProtectionLevel {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.protection
}

// ServerCertificate returns the server's certificate from the last TLS
// handshake, or nil.
func (i *StreamSocketInformation) ServerCertificate() *x509.Certificate {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.cert == nil {
		return nil
	}
	return i.cert.leaf
}

// ServerIntermediateCertificates returns the other certificates the server
// sent in the last TLS handshake.
func (i *StreamSocketInformation) ServerIntermediateCertificates() []*x509.Certificate {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.cert == nil {
		return nil
	}
	return slices.Clone(i.cert.intermediates)
}

// ServerCertificateErrors returns every error found in the server's
// certificate chain in the last TLS handshake, ignored or not.
func (i *StreamSocketInformation) ServerCertificateErrors() []ChainValidationResult {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.cert == nil {
		return nil
	}
	return slices.Clone(i.cert.errors)
}

// ServerCertificateErrorSeverity says whether the errors of the last TLS
// handshake can be ignored.
func (i *StreamSocketInformation) ServerCertificateErrorSeverity() SocketSslErrorSeverity {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.cert == nil {
		return SeverityNone
	}
	return i.cert.severity()
}

// SessionKey is WinRT's key of a Proximity tap connection; it is always
// nil in netrun.
func (i *StreamSocketInformation) SessionKey() []byte { return nil }

// TLSConnectionState returns the negotiated TLS parameters, and false if
// the connection does not use TLS. It is a netrun extension.
func (i *StreamSocketInformation) TLSConnectionState() (tls.ConnectionState, bool) {
	i.s.mu.Lock()
	tc := i.s.tlsConn
	i.s.mu.Unlock()
	if tc == nil {
		return tls.ConnectionState{}, false
	}
	return tc.ConnectionState(), true
}
