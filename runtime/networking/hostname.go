package networking

import (
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/netrun/netrun/runtime/socketerror"
)

// HostNameType is Windows.Networking.HostNameType: what kind of host a
// [HostName] holds. The numeric values are WinRT's.
type HostNameType int32

// The four HostNameType values, numbered as in WinRT.
const (
	DomainName HostNameType = 0
	Ipv4       HostNameType = 1
	Ipv6       HostNameType = 2
	Bluetooth  HostNameType = 3
)

// String returns the WinRT name of t, or "HostNameType(n)" for a value
// WinRT does not define.
func (t HostNameType) String() string {
	switch t {
	case DomainName:
		return "DomainName"
	case Ipv4:
		return "Ipv4"
	case Ipv6:
		return "Ipv6"
	case Bluetooth:
		return "Bluetooth"
	}
	return "HostNameType(" + strconv.Itoa(int(t)) + ")"
}

// maxRawLen bounds the constructor string. The longest valid input is a
// domain name of 253 ASCII bytes written in Unicode, whose UTF-8 form can
// be a few times longer; anything past this bound is refused before any
// IDNA work is done on it.
const maxRawLen = 1024

// maxZoneLen is the longest IPv6 zone accepted: a Linux interface name
// has at most IFNAMSIZ-1 = 15 bytes, and an interface index at most 10
// digits.
const maxZoneLen = 15

// HostName is Windows.Networking.HostName: an immutable, validated host.
// It holds a DNS name, an IPv4 address, an IPv6 address with an optional
// zone ("fe80::1%eth0", "fe80::1%2") or a Bluetooth address
// ("(00:11:22:33:44:55)").
//
// Make one with [NewHostName] or [HostNameFromAddr]; the zero HostName is
// not a valid host. A HostName never changes after it is made, so it is
// safe for concurrent use and may be shared freely. Every method accepts a
// nil *HostName, which has empty names and equals nothing.
//
// Differences from WinRT: IPInformation is not provided (netrun has no
// Windows.Networking.Connectivity), and [HostName.Addr] and
// [HostName.IsLocalhost] are netrun's additions.
type HostName struct {
	raw       string
	canonical string
	display   string
	typ       HostNameType
	addr      netip.Addr // valid for Ipv4 and Ipv6
	fqdn      bool       // a domain name written with a trailing dot
}

// NewHostName validates s and returns the HostName it names. It is WinRT's
// HostName constructor. s is one of:
//
//   - an IPv4 address in dotted decimal ("192.0.2.1"); octets with
//     leading zeros, and the shorthand forms of inet_aton ("127.1"), are
//     refused;
//   - an IPv6 address ("2001:db8::1", "::ffff:192.0.2.1"), with an
//     optional zone made of letters, digits, '.', '-' and '_', at most 15
//     bytes ("fe80::1%eth0", "fe80::1%2"), and optionally in brackets
//     ("[::1]"), which are stripped; an IPv4-mapped address stays of type
//     Ipv6 and does not equal the IPv4 address it maps;
//   - a Bluetooth address, six hexadecimal bytes separated by colons in
//     parentheses ("(00:11:22:33:44:55)");
//   - a domain name: labels of 1 to 63 bytes separated by dots, made of
//     letters, digits, '-' and '_', not starting or ending with '-', with
//     an optional trailing dot, at most 253 bytes in all. A name with
//     non-ASCII characters goes through IDNA (UTS #46) exactly as
//     golang.org/x/net/idna's Lookup profile does, and must pass its
//     checks; labels with '_' (service labels such as "_sip") must be
//     ASCII. The 63 and 253 byte limits apply to the ASCII (punycode)
//     form. A name whose last label is a number ("256.1.1.1", "1.2.3",
//     "example.123", "host.0x10") must be a valid IPv4 address as a whole,
//     or it is refused, as in the WHATWG URL standard.
//
// Any other input, an empty one, and one longer than 1024 bytes, is
// refused with an E_INVALIDARG error whose message says what is wrong.
func NewHostName(s string) (*HostName, error) {
	h, reason := parseHostName(s)
	if reason != "" {
		return nil, socketerror.InvalidArg("HostName", "hostName", "%q %s", truncate(s), reason)
	}
	return h, nil
}

// HostNameFromAddr returns the HostName of an address, with its zone, as
// the runtime reports addresses (LocalAddress, RemoteAddress). Its RawName
// is a.String(). An IPv4-mapped IPv6 address gives an Ipv6 HostName; call
// a.Unmap first for an Ipv4 one. HostNameFromAddr returns nil for the zero
// netip.Addr.
func HostNameFromAddr(a netip.Addr) *HostName {
	if !a.IsValid() {
		return nil
	}
	s := a.String()
	t := Ipv6
	if a.Is4() {
		t = Ipv4
	}
	return &HostName{raw: s, canonical: s, display: s, typ: t, addr: a}
}

// Type returns the kind of host h holds.
func (h *HostName) Type() HostNameType {
	if h == nil {
		return DomainName
	}
	return h.typ
}

// RawName returns the string h was made from, exactly as given.
func (h *HostName) RawName() string {
	if h == nil {
		return ""
	}
	return h.raw
}

// CanonicalName returns h in the form used to compare hosts: IPv4 dotted
// decimal; IPv6 as RFC 5952 prescribes (lower case, zeros compressed,
// "::ffff:192.0.2.1" for a mapped address) followed by "%zone" if it has
// one, the zone's case kept; a domain name in lower case, ASCII (punycode)
// form, without a trailing dot; a Bluetooth address in lower case with its
// parentheses.
func (h *HostName) CanonicalName() string {
	if h == nil {
		return ""
	}
	return h.canonical
}

// DisplayName returns h in the form to show a person: a domain name in
// Unicode form, lower case, without a trailing dot ("bücher.example" for
// "xn--bcher-kva.example" and for "Bücher.example."); addresses as
// [HostName.CanonicalName] gives them.
func (h *HostName) DisplayName() string {
	if h == nil {
		return ""
	}
	return h.display
}

// String returns the DisplayName, as WinRT's ToString does; "" for nil.
func (h *HostName) String() string { return h.DisplayName() }

// IsEqual reports whether h and o name the same host, that is whether
// their CanonicalNames are equal. A nil HostName equals nothing, not even
// another nil.
func (h *HostName) IsEqual(o *HostName) bool {
	if h == nil || o == nil {
		return false
	}
	return h.canonical == o.canonical
}

// Addr returns the address of an Ipv4 or Ipv6 HostName, with its zone,
// and true; for other types it returns the zero Addr and false.
func (h *HostName) Addr() (netip.Addr, bool) {
	if h == nil || !h.addr.IsValid() {
		return netip.Addr{}, false
	}
	return h.addr, true
}

// IsLocalhost reports whether h is the name "localhost" or a name under
// ".localhost", which RFC 6761 reserves for the loopback addresses and
// which [Resolver.LookupAddrs] resolves without DNS. It is false for
// addresses, loopback ones included; use Addr and netip.Addr.IsLoopback
// for those.
func (h *HostName) IsLocalhost() bool {
	if h == nil || h.typ != DomainName {
		return false
	}
	return isLocalhost(h.canonical)
}

func isLocalhost(canonical string) bool {
	return canonical == "localhost" || strings.HasSuffix(canonical, ".localhost")
}

// Compare compares two host strings by their canonical forms, as WinRT's
// static HostName.Compare does: 0 means the same host; otherwise -1 or +1
// by the byte order of the CanonicalNames. A string that is not a valid
// host is an E_INVALIDARG error that names the argument, "value1" or
// "value2".
func Compare(value1, value2 string) (int, error) {
	h1, reason := parseHostName(value1)
	if reason != "" {
		return 0, socketerror.InvalidArg("HostName.Compare", "value1", "%q %s", truncate(value1), reason)
	}
	h2, reason := parseHostName(value2)
	if reason != "" {
		return 0, socketerror.InvalidArg("HostName.Compare", "value2", "%q %s", truncate(value2), reason)
	}
	return strings.Compare(h1.canonical, h2.canonical), nil
}

// truncate shortens s for an error message.
func truncate(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "..."
}

// parseHostName parses s; on failure it returns a reason phrase that
// follows the quoted input in the error message.
func parseHostName(s string) (*HostName, string) {
	switch {
	case s == "":
		return nil, "is empty"
	case len(s) > maxRawLen:
		return nil, "is " + strconv.Itoa(len(s)) + " bytes long, more than " + strconv.Itoa(maxRawLen)
	case !utf8.ValidString(s):
		return nil, "is not valid UTF-8"
	case s[0] == '(':
		return parseBluetooth(s)
	case s[0] == '[':
		if s[len(s)-1] != ']' {
			return nil, "has '[' without a closing ']'"
		}
		inner := s[1 : len(s)-1]
		if !strings.Contains(inner, ":") {
			return nil, "has brackets, which are allowed around IPv6 addresses only"
		}
		return parseIPv6(s, inner)
	case strings.Contains(s, ":"):
		return parseIPv6(s, s)
	case strings.Contains(s, "%"):
		if a, err := netip.ParseAddr(s[:strings.IndexByte(s, '%')]); err == nil && a.Is4() {
			return nil, "has a zone, which only IPv6 addresses may have"
		}
		return nil, "has the invalid character '%'"
	}
	if endsInNumber(s) {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, "ends in a number but is not a valid IPv4 address: " + trimNetipErr(err)
		}
		c := a.String()
		return &HostName{raw: s, canonical: c, display: c, typ: Ipv4, addr: a}, ""
	}
	return parseDomain(s)
}

// parseIPv6 parses text (s without its brackets, if any) as an IPv6
// address with an optional zone.
func parseIPv6(s, text string) (*HostName, string) {
	a, err := netip.ParseAddr(text)
	if err != nil || !a.Is6() {
		if err == nil {
			return nil, "is not a valid IPv6 address"
		}
		return nil, "is not a valid IPv6 address: " + trimNetipErr(err)
	}
	if z := a.Zone(); z != "" {
		if len(z) > maxZoneLen {
			return nil, "has a zone of " + strconv.Itoa(len(z)) + " bytes, more than " + strconv.Itoa(maxZoneLen)
		}
		for i := 0; i < len(z); i++ {
			if !isZoneByte(z[i]) {
				return nil, "has the invalid character " + strconv.QuoteRune(rune(z[i])) +
					" in its zone (letters, digits, '.', '-' and '_' are allowed)"
			}
		}
	}
	c := a.String()
	return &HostName{raw: s, canonical: c, display: c, typ: Ipv6, addr: a}, ""
}

func isZoneByte(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' ||
		b == '.' || b == '-' || b == '_'
}

// trimNetipErr removes the quoted input that netip repeats at the start of
// its errors, which the message already shows.
func trimNetipErr(err error) string {
	msg := err.Error()
	if strings.HasPrefix(msg, "ParseAddr(") {
		if i := strings.Index(msg, "): "); i >= 0 {
			return msg[i+3:]
		}
	}
	return msg
}

// parseBluetooth parses "(xx:xx:xx:xx:xx:xx)".
func parseBluetooth(s string) (*HostName, string) {
	const form = "is not a Bluetooth address of the form (00:11:22:33:44:55)"
	if len(s) != len("(00:11:22:33:44:55)") || s[len(s)-1] != ')' {
		return nil, form
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteByte('(')
	for i := 1; i < len(s)-1; i++ {
		c := s[i]
		if i%3 == 0 {
			if c != ':' {
				return nil, form
			}
			b.WriteByte(c)
			continue
		}
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		case 'A' <= c && c <= 'F':
			c += 'a' - 'A'
		default:
			return nil, form
		}
		b.WriteByte(c)
	}
	b.WriteByte(')')
	c := b.String()
	return &HostName{raw: s, canonical: c, display: c, typ: Bluetooth}, ""
}
