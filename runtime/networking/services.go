package networking

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/netrun/netrun/runtime/socketerror"
)

// DefaultServicesPath is the services file that a [Services] with an empty
// Path reads.
const DefaultServicesPath = "/etc/services"

// Services resolves service names to ports through a services file, as
// getservbyname(3) does. WinRT calls this the local "services" file.
//
// The zero value reads /etc/services on first use, once, and keeps the
// table for its lifetime; make a new Services to see a changed file. A
// missing file is not an error: numeric ports still resolve, and so do the
// built-in names. A Services is safe for concurrent use and must not be
// copied after its first use.
//
// The built-in names are http (80), https (443), ftp (21), ssh (22),
// telnet (23), smtp (25), domain (53), ntp (123), echo (7), discard (9)
// and daytime (13), for tcp and udp, whose ports IANA fixed long ago. They
// resolve whenever the file does not name them, as in Go's net package,
// so a container without a services file still connects to "http".
type Services struct {
	// Path is the services file; "" means /etc/services.
	Path string

	once  sync.Once
	table map[string]int // set once by load; read only after
	err   error          // why the file could not be read, other than not existing
}

// builtinPort returns the port of one of the built-in service names.
func builtinPort(name string) (int, bool) {
	switch name {
	case "echo":
		return 7, true
	case "discard":
		return 9, true
	case "daytime":
		return 13, true
	case "ftp":
		return 21, true
	case "ssh":
		return 22, true
	case "telnet":
		return 23, true
	case "smtp":
		return 25, true
	case "domain":
		return 53, true
	case "http":
		return 80, true
	case "ntp":
		return 123, true
	case "https":
		return 443, true
	}
	return 0, false
}

func (s *Services) path() string {
	if s.Path == "" {
		return DefaultServicesPath
	}
	return s.Path
}

func (s *Services) load() {
	s.once.Do(func() {
		data, err := os.ReadFile(s.path())
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			s.err = err
		default:
			s.table = ParseServices(data)
		}
	})
}

// LookupPort resolves service for network "tcp" or "udp" ("tcp4",
// "tcp6", "udp4" and "udp6" are the same as their family-less forms) into
// a port.
//
// A service of ASCII decimal digits only is a port number, 0 to 65535
// (leading zeros allowed, as getaddrinfo(3) does). Anything else is a name
// or alias from the services file for that protocol, compared exactly, case
// included, as glibc's getservbyname does ("HTTP" is not "http"; Go's net
// package lowercases the name first, netrun follows glibc). If the file
// does not name it, the built-in table is asked.
//
// Errors: an empty service, one with whitespace, control characters, '#'
// or '/' (which no services file entry can hold), a signed or hexadecimal
// number ("+1", "0x10") and a number above 65535 are E_INVALIDARG errors
// naming "serviceName"; an unknown network is one naming "network". An
// unknown name has status ClassTypeNotFound (WSATYPE_NOT_FOUND), as in
// WinRT. If the file exists but cannot be read, an unknown name fails with
// the read error instead, so that a broken file does not pass unnoticed.
//
// LookupPort reads the services file only. [Resolver.ResolveEndpoints],
// which the sockets' connects use, goes on to a DNS SRV lookup when it
// fails with ClassTypeNotFound; local service names (a bind, the local
// side of an EndpointPair) are never looked up in DNS.
func (s *Services) LookupPort(network, service string) (int, error) {
	const op = "LookupPort"
	proto, ok := protoOf(network)
	if !ok {
		return 0, socketerror.InvalidArg(op, "network", "%q is not tcp, tcp4, tcp6, udp, udp4 or udp6", network)
	}
	port, isNum, reason := parsePort(service)
	if reason != "" {
		return 0, socketerror.InvalidArg(op, "serviceName", "%s", reason)
	}
	if isNum {
		return port, nil
	}
	s.load()
	if p, ok := s.table[service+"/"+proto]; ok {
		return p, nil
	}
	if p, ok := builtinPort(service); ok {
		return p, nil
	}
	if s.err != nil {
		return 0, socketerror.New(op, service, fmt.Errorf("reading the services file: %w", s.err))
	}
	return 0, socketerror.WithStatus(op, service, socketerror.ClassTypeNotFound,
		fmt.Errorf("no %s service of that name in %s", proto, s.path()))
}

// protoOf maps a Go network name to the services file protocol.
func protoOf(network string) (string, bool) {
	switch network {
	case "tcp", "tcp4", "tcp6":
		return "tcp", true
	case "udp", "udp4", "udp6":
		return "udp", true
	}
	return "", false
}

// parsePort classifies service: a decimal port (isNum), a name to look up,
// or invalid (a reason phrase for the error).
func parsePort(service string) (port int, isNum bool, reason string) {
	if service == "" {
		return 0, false, "is empty"
	}
	if allDigits(service) {
		n := 0
		for i := 0; i < len(service); i++ {
			n = n*10 + int(service[i]-'0')
			if n > 65535 {
				return 0, false, fmt.Sprintf("port %q is out of range 0-65535", truncate(service))
			}
		}
		return n, true, ""
	}
	q := strconv.Quote(truncate(service))
	if (service[0] == '+' || service[0] == '-') && allDigits(service[1:]) {
		return 0, false, fmt.Sprintf("port %s must be unsigned decimal digits", q)
	}
	if len(service) > 2 && service[0] == '0' && (service[1] == 'x' || service[1] == 'X') && allHex(service[2:]) {
		return 0, false, fmt.Sprintf("port %s must be decimal", q)
	}
	if !utf8.ValidString(service) {
		return 0, false, fmt.Sprintf("service name %s is not valid UTF-8", q)
	}
	for _, r := range service {
		switch {
		case unicode.IsSpace(r):
			return 0, false, fmt.Sprintf("service name %s contains whitespace", q)
		case unicode.IsControl(r):
			return 0, false, fmt.Sprintf("service name %s contains a control character", q)
		case r == '#' || r == '/':
			return 0, false, fmt.Sprintf("service name %s contains %q, which no services file entry can hold", q, r)
		}
	}
	return 0, false, ""
}

// ParseServices parses the content of a services file and returns its
// entries as a map from "name/protocol" to port, for every name and alias.
//
// Each line is "name port/protocol [alias ...]", fields separated by
// blanks (space, tab, CR, VT, FF, as isspace(3) in the C locale); '#'
// starts a comment that runs to the end of the line. A line whose port is
// not decimal 0-65535 (glibc's strtoul would also take a sign and wrap
// values past 65535), or that lacks the protocol, is skipped. Names and
// aliases that are not valid UTF-8 or that contain '/' are left out,
// since no lookup could name them, so every key has exactly one '/'. When
// a name appears twice for one protocol, the first entry wins, as with
// glibc. ParseServices never fails; content without a valid line gives an
// empty map.
func ParseServices(data []byte) map[string]int {
	m := make(map[string]int)
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		if i := bytes.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.FieldsFunc(string(line), isServicesSpace)
		if len(f) < 2 {
			continue
		}
		num, proto, ok := strings.Cut(f[1], "/")
		if !ok || proto == "" || !allDigits(num) || strings.Contains(proto, "/") {
			continue
		}
		port, err := strconv.Atoi(num)
		if err != nil || port > 65535 {
			continue
		}
		names := append(f[:1:1], f[2:]...)
		for _, n := range names {
			if !utf8.ValidString(n) || strings.Contains(n, "/") {
				continue
			}
			key := n + "/" + proto
			if _, dup := m[key]; !dup {
				m[key] = port
			}
		}
	}
	return m
}

// isServicesSpace reports the field separators of a services file: the
// bytes isspace(3) accepts in the C locale.
func isServicesSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\r', '\v', '\f':
		return true
	}
	return false
}
