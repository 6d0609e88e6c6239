package sockets

import (
	"net/netip"
	"strconv"
	"sync"

	"github.com/netrun/netrun/runtime/networking"
)

// DatagramSocketInformation is WinRT's DatagramSocketInformation: the
// addresses of a DatagramSocket. The local ones are set once the socket is
// bound; the remote ones only by Connect. Addresses are reported unmapped:
// a dual-stack socket talking to an IPv4 peer shows IPv4 addresses.
//
// All methods are safe for concurrent use.
type DatagramSocketInformation struct {
	mu         sync.Mutex // guards the fields below
	localAddr  *networking.HostName
	localPort  string
	remoteAddr *networking.HostName
	remotePort string
}

func (i *DatagramSocketInformation) setLocal(ap netip.AddrPort) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.localAddr = networking.HostNameFromAddr(ap.Addr().Unmap())
	i.localPort = strconv.Itoa(int(ap.Port()))
}

func (i *DatagramSocketInformation) setRemote(ap netip.AddrPort) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.remoteAddr = networking.HostNameFromAddr(ap.Addr().Unmap())
	i.remotePort = strconv.Itoa(int(ap.Port()))
}

// LocalAddress returns the address the socket is bound to, or nil before
// it is bound. A socket bound to every address reports the unspecified
// address ("::", or "0.0.0.0" for an IPv4-only socket) until Connect
// fixes its local address, after which it reports that address.
func (i *DatagramSocketInformation) LocalAddress() *networking.HostName {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.localAddr
}

// LocalPort returns the bound port as a decimal string, or "" before the
// socket is bound.
func (i *DatagramSocketInformation) LocalPort() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.localPort
}

// RemoteAddress returns the address Connect connected to, or nil.
func (i *DatagramSocketInformation) RemoteAddress() *networking.HostName {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.remoteAddr
}

// RemotePort returns the port Connect connected to as a decimal string, or
// "".
func (i *DatagramSocketInformation) RemotePort() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.remotePort
}

// DatagramSocketMessageReceivedEventArgs is WinRT's
// DatagramSocketMessageReceivedEventArgs: one received datagram.
//
// It is valid only during the MessageReceived handler call that receives
// it. The socket reuses one args value and one 64 KiB receive buffer for
// every datagram, so that receiving allocates nothing; a handler that
// needs the payload or the addresses later must copy them (the HostName
// and string accessors return values of their own).
//
// Departure from WinRT: the payload is Data, a byte slice, in place of
// GetDataReader and GetDataStream. RemoteAddrPort and LocalAddr are
// netrun's allocation-free forms of the WinRT properties.
type DatagramSocketMessageReceivedEventArgs struct {
	remote netip.AddrPort // unmapped
	local  netip.Addr     // unmapped; zero if the kernel did not say
	data   []byte
}

// RemoteAddress returns the sender's address.
func (a *DatagramSocketMessageReceivedEventArgs) RemoteAddress() *networking.HostName {
	return networking.HostNameFromAddr(a.remote.Addr())
}

// RemotePort returns the sender's port as a decimal string.
func (a *DatagramSocketMessageReceivedEventArgs) RemotePort() string {
	return strconv.Itoa(int(a.remote.Port()))
}

// LocalAddress returns the local address the datagram arrived on (for a
// multicast datagram, the group it was sent to), also when the socket is
// bound to every address. It has no zone. It is nil in the unlikely case
// the kernel did not report it.
func (a *DatagramSocketMessageReceivedEventArgs) LocalAddress() *networking.HostName {
	return networking.HostNameFromAddr(a.local)
}

// RemoteAddrPort returns the sender's address and port without
// allocating.
func (a *DatagramSocketMessageReceivedEventArgs) RemoteAddrPort() netip.AddrPort { return a.remote }

// LocalAddr returns LocalAddress without allocating; the zero Addr if it
// is unknown.
func (a *DatagramSocketMessageReceivedEventArgs) LocalAddr() netip.Addr { return a.local }

// Data returns the datagram's payload. The slice is the socket's receive
// buffer: it is valid only during the handler call, and must not be
// written to.
func (a *DatagramSocketMessageReceivedEventArgs) Data() []byte { return a.data }

// NewDatagramSocketMessageReceivedEventArgs returns the args of a datagram
// received earlier, from remote on local with payload data (kept, not
// copied). The socket broker (runtime/trigger) holds datagrams this way
// and hands them back, for the new owner to treat as MessageReceived
// events before the socket's next ones; a netrun extension. Unlike the
// socket's own args, these stay valid after the handler returns.
func NewDatagramSocketMessageReceivedEventArgs(remote netip.AddrPort, local netip.Addr, data []byte) *DatagramSocketMessageReceivedEventArgs {
	return &DatagramSocketMessageReceivedEventArgs{remote: netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port()), local: local.Unmap(), data: data}
}
