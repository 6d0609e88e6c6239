package sockets

import (
	"crypto/x509"
	"log/slog"
	"net/netip"

	"github.com/netrun/netrun/runtime/networking"
)

// Env is what sockets borrow from their owner: name resolution, the
// capability check, trust roots for TLS and a logger. Each guest (a script
// version, a plugin) has its own Env, so that its sockets resolve and are
// checked with its own grants.
//
// A nil *Env is valid and means the zero Env: the system resolver and
// services file, no capability check, the system's trust roots, and
// slog.Default. An Env must not be changed after its first socket is made.
type Env struct {
	// Resolver resolves host and service names; nil means the zero
	// networking.Resolver.
	Resolver *networking.Resolver
	// Guard, if set, is asked before every connect, bind, accept and send.
	Guard Guard
	// RootCAs are the roots that server certificates must chain to; nil
	// means the system roots.
	RootCAs *x509.CertPool
	// Logger receives the sockets' logs; nil means slog.Default.
	Logger *slog.Logger
}

// Direction says which way a connection or datagram goes, for a [Guard].
type Direction int

// Directions of traffic.
const (
	// Outbound is a connect, or a datagram sent.
	Outbound Direction = iota
	// Inbound is a bind, an accepted connection, or a datagram received.
	Inbound
)

// String returns "outbound" or "inbound".
func (d Direction) String() string {
	if d == Inbound {
		return "inbound"
	}
	return "outbound"
}

// Guard decides whether a guest may reach an address. It is how netrun
// enforces capabilities (runtime/isolation implements it). Check returns
// nil to allow, or an error to refuse, normally one from
// socketerror.AccessDenied that names the missing capability. For binds to
// a wildcard address, addr is the unspecified address of its family.
// Implementations must be safe for concurrent use.
type Guard interface {
	Check(dir Direction, addr netip.Addr) error
}

func (e *Env) resolver() *networking.Resolver {
	if e == nil {
		return nil
	}
	return e.Resolver
}

func (e *Env) check(dir Direction, addr netip.Addr) error {
	if e == nil || e.Guard == nil {
		return nil
	}
	return e.Guard.Check(dir, addr)
}

func (e *Env) rootCAs() *x509.CertPool {
	if e == nil {
		return nil
	}
	return e.RootCAs
}

func (e *Env) logger() *slog.Logger {
	if e == nil || e.Logger == nil {
		return slog.Default()
	}
	return e.Logger
}
