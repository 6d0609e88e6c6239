// Package sockets implements WinRT's Windows.Networking.Sockets socket
// classes on Linux in plain Go: [StreamSocket] (TCP and TLS),
// [StreamSocketListener] and [DatagramSocket] (UDP, broadcast and
// multicast), with their Control and Information companions.
//
// Start with [NewStreamSocket], [NewStreamSocketListener] or
// [NewDatagramSocket], or make them from an [Env], which carries a guest's
// resolver, capability [Guard], trust roots and logger. Calls block and take
// a context; the script and plugin bindings add WinRT's ...Async
// projection on top. Events are [event.Event] values: Add a handler, keep
// the token, Remove it.
//
// Every error is, or wraps, a *socketerror.Error carrying the
// SocketErrorStatus and HRESULT WinRT would report; a bad argument is
// E_INVALIDARG with a message naming it, and a property set when WinRT no
// longer allows it is E_ILLEGAL_METHOD_CALL.
//
// Departures from WinRT, each documented where it applies:
//   - A cancelled read or write ends that operation and leaves the
//     connection usable; WinRT tears the connection down.
//   - Listeners can serve TLS (Control().SetServerCertificate and a TLS
//     protection level), because scripts must be able to serve TLS.
//   - Handlers may be added after bind: connections and datagrams wait in
//     the kernel until one is, instead of being refused.
//   - SSL 3 and NULL or RC4 ciphers do not exist in Go; the legacy
//     protection levels negotiate TLS 1.0 to 1.3
//     (see [SocketProtectionLevel.TLSVersions]).
//   - Revocation is not checked: CertificateRevoked,
//     CertificateNoRevocationCheck and CertificateRevocationServerOffline
//     are never reported.
//   - Bluetooth RFCOMM, Proximity and NetworkAdapter-scoped overloads do not
//     exist.
//   - EnableTransferOwnership and TransferOwnership are methods of
//     runtime/trigger's Broker, which takes the socket; InputStream.Unread
//     is how it hands a stream back with the bytes it read meanwhile.
package sockets
