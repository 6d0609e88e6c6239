package networking_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/netrun/netrun/runtime/networking"
)

var validHostNames = []struct {
	name, in  string
	typ       networking.HostNameType
	canonical string
	display   string // "" means canonical
	addr      string // for Ipv4 and Ipv6
	localhost bool
}{
	{"ipv4", "192.0.2.1", networking.Ipv4, "192.0.2.1", "", "192.0.2.1", false},
	{"ipv4 zero", "0.0.0.0", networking.Ipv4, "0.0.0.0", "", "0.0.0.0", false},
	{"ipv4 loopback", "127.0.0.1", networking.Ipv4, "127.0.0.1", "", "127.0.0.1", false},
	{"ipv6 loopback", "::1", networking.Ipv6, "::1", "", "::1", false},
	{"ipv6 upper", "2001:DB8::A", networking.Ipv6, "2001:db8::a", "", "2001:db8::a", false},
	{"ipv6 uncompressed", "2001:0db8:0000:0000:0000:0000:0000:0001", networking.Ipv6, "2001:db8::1", "", "2001:db8::1", false},
	{"ipv6 longest zero run", "2001:db8:0:0:1:0:0:1", networking.Ipv6, "2001:db8::1:0:0:1", "", "2001:db8::1:0:0:1", false},
	{"ipv6 brackets", "[::1]", networking.Ipv6, "::1", "", "::1", false},
	{"ipv6 zone name", "FE80::1%eth0", networking.Ipv6, "fe80::1%eth0", "", "fe80::1%eth0", false},
	{"ipv6 zone index", "fe80::1%2", networking.Ipv6, "fe80::1%2", "", "fe80::1%2", false},
	{"ipv6 zone case kept", "fe80::1%ETH0", networking.Ipv6, "fe80::1%ETH0", "", "fe80::1%ETH0", false},
	{"ipv6 zone in brackets", "[fe80::1%br-lan.10]", networking.Ipv6, "fe80::1%br-lan.10", "", "fe80::1%br-lan.10", false},
	{"ipv4-mapped stays ipv6", "::ffff:1.2.3.4", networking.Ipv6, "::ffff:1.2.3.4", "", "::ffff:1.2.3.4", false},
	{"ipv4-mapped hex", "::FFFF:0102:0304", networking.Ipv6, "::ffff:1.2.3.4", "", "::ffff:1.2.3.4", false},
	{"ipv4-compatible", "::1.2.3.4", networking.Ipv6, "::102:304", "", "::102:304", false},
	{"domain", "example.com", networking.DomainName, "example.com", "", "", false},
	{"domain upper", "WWW.Example.COM", networking.DomainName, "www.example.com", "", "", false},
	{"domain trailing dot", "example.com.", networking.DomainName, "example.com", "", "", false},
	{"single label", "myhost", networking.DomainName, "myhost", "", "", false},
	{"digits in labels", "1e100.net", networking.DomainName, "1e100.net", "", "", false},
	{"numeric first labels", "1.2.3.example", networking.DomainName, "1.2.3.example", "", "", false},
	{"underscore labels", "_sip._tcp.example.com", networking.DomainName, "_sip._tcp.example.com", "", "", false},
	{"underscore inside", "my_host.lan", networking.DomainName, "my_host.lan", "", "", false},
	{"underscore then hyphen", "_-x.example", networking.DomainName, "_-x.example", "", "", false},
	{"triple hyphen ascii", "r3---sn-abc.example", networking.DomainName, "r3---sn-abc.example", "", "", false},
	{"label of 63", strings.Repeat("a", 63) + ".example", networking.DomainName, strings.Repeat("a", 63) + ".example", "", "", false},
	{"name of 253", name253, networking.DomainName, name253, "", "", false},
	{"name of 253 and dot", name253 + ".", networking.DomainName, name253, "", "", false},
	{"idna unicode", "bücher.example", networking.DomainName, "xn--bcher-kva.example", "bücher.example", "", false},
	{"idna unicode upper", "BÜCHER.Example.", networking.DomainName, "xn--bcher-kva.example", "bücher.example", "", false},
	{"idna punycode", "xn--bcher-kva.example", networking.DomainName, "xn--bcher-kva.example", "bücher.example", "", false},
	{"idna punycode upper", "XN--BCHER-KVA.EXAMPLE", networking.DomainName, "xn--bcher-kva.example", "bücher.example", "", false},
	{"idna nontransitional", "faß.de", networking.DomainName, "xn--fa-hia.de", "faß.de", "", false},
	{"idna ideographic dot", "bücher\u3002example", networking.DomainName, "xn--bcher-kva.example", "bücher.example", "", false},
	{"idna with service label", "_sip._tcp.Bücher.example", networking.DomainName, "_sip._tcp.xn--bcher-kva.example", "_sip._tcp.bücher.example", "", false},
	{"idna rtl", "مثال.example", networking.DomainName, "xn--mgbh0fb.example", "مثال.example", "", false},
	{"idna mapped to ascii", "ⓔxample.com", networking.DomainName, "example.com", "", "", false},
	{"bluetooth", "(00:11:22:33:44:55)", networking.Bluetooth, "(00:11:22:33:44:55)", "", "", false},
	{"bluetooth upper", "(0A:1B:2C:3D:4E:5F)", networking.Bluetooth, "(0a:1b:2c:3d:4e:5f)", "", "", false},
	{"localhost", "localhost", networking.DomainName, "localhost", "", "", true},
	{"localhost upper dot", "LocalHost.", networking.DomainName, "localhost", "", "", true},
	{"under localhost", "app.localhost", networking.DomainName, "app.localhost", "", "", true},
	{"not localhost", "localhost.example", networking.DomainName, "localhost.example", "", "", false},
	{"not localhost suffix", "mylocalhost", networking.DomainName, "mylocalhost", "", "", false},
}

// name253 is a domain name of exactly 253 bytes.
var name253 = strings.Repeat(strings.Repeat("a", 63)+".", 3) + strings.Repeat("b", 61)

func TestNewHostNameValid(t *testing.T) {
	t.Parallel()
	if len(name253) != 253 {
		t.Fatalf("name253 has %d bytes", len(name253))
	}
	for _, tt := range validHostNames {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, err := networking.NewHostName(tt.in)
			if err != nil {
				t.Fatalf("NewHostName(%q): %v", tt.in, err)
			}
			display := tt.display
			if display == "" {
				display = tt.canonical
			}
			if got := h.Type(); got != tt.typ {
				t.Errorf("Type = %v, want %v", got, tt.typ)
			}
			if got := h.RawName(); got != tt.in {
				t.Errorf("RawName = %q, want %q", got, tt.in)
			}
			if got := h.CanonicalName(); got != tt.canonical {
				t.Errorf("CanonicalName = %q, want %q", got, tt.canonical)
			}
			if got := h.DisplayName(); got != display {
				t.Errorf("DisplayName = %q, want %q", got, display)
			}
			if got := h.String(); got != display {
				t.Errorf("String = %q, want %q", got, display)
			}
			a, ok := h.Addr()
			if tt.addr == "" {
				if ok {
					t.Errorf("Addr = %v, true; want none", a)
				}
			} else if want := netip.MustParseAddr(tt.addr); !ok || a != want {
				t.Errorf("Addr = %v, %v; want %v, true", a, ok, want)
			}
			if got := h.IsLocalhost(); got != tt.localhost {
				t.Errorf("IsLocalhost = %v, want %v", got, tt.localhost)
			}
			if !h.IsEqual(h) {
				t.Errorf("IsEqual(itself) = false")
			}
			if c, err := networking.Compare(tt.in, tt.canonical); err != nil || c != 0 {
				t.Errorf("Compare(%q, %q) = %d, %v; want 0", tt.in, tt.canonical, c, err)
			}
		})
	}
}

func TestNewHostNameInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		reason   string // a part of the message
	}{
		{"empty", "", "is empty"},
		{"oversize", strings.Repeat("a", 1025), "more than 1024"},
		{"name of 254", name253 + "x", "more than 253"},
		{"label of 64", strings.Repeat("a", 64) + ".example", "more than 63"},
		{"idna label of 64 in ascii", strings.Repeat("ü", 60) + ".example", "more than 63"},
		{"invalid utf-8", "a\xffb.example", "not valid UTF-8"},
		{"ipv4 octet too big", "256.1.1.1", "not a valid IPv4 address"},
		{"ipv4 leading zero", "01.2.3.4", "leading zero"},
		{"ipv4 short", "1.2.3", "not a valid IPv4 address"},
		{"ipv4 single number", "2130706433", "not a valid IPv4 address"},
		{"ipv4 five parts", "1.2.3.4.5", "not a valid IPv4 address"},
		{"ipv4 trailing dot", "1.2.3.4.", "not a valid IPv4 address"},
		{"numeric tld", "example.123", "ends in a number"},
		{"hex tld", "host.0x10", "ends in a number"},
		{"fullwidth digits", "１.２.３.４", "ends in a number"},
		{"ipv4 zone", "1.2.3.4%eth0", "only IPv6 addresses may have"},
		{"ipv4 brackets", "[1.2.3.4]", "IPv6 addresses only"},
		{"domain brackets", "[example.com]", "IPv6 addresses only"},
		{"unclosed bracket", "[::1", "without a closing"},
		{"ipv6 bad", "2001:db8:::1", "not a valid IPv6 address"},
		{"ipv6 too many groups", "1:2:3:4:5:6:7:8:9", "not a valid IPv6 address"},
		{"ipv6 empty zone", "fe80::1%", "not a valid IPv6 address"},
		{"ipv6 zone slash", "fe80::1%a/b", "in its zone"},
		{"ipv6 zone space", "fe80::1%a b", "in its zone"},
		{"ipv6 zone too long", "fe80::1%" + strings.Repeat("e", 16), "more than 15"},
		{"ipv6 port", "[::1]:80", "without a closing"},
		{"host and port", "example.com:80", "not a valid IPv6 address"},
		{"colon", "a:b", "not a valid IPv6 address"},
		{"space", "exa mple.com", "whitespace"},
		{"leading space", " example.com", "whitespace"},
		{"trailing newline", "example.com\n", "whitespace"},
		{"tab", "a\tb", "whitespace"},
		{"nul", "a\x00b", "control character"},
		{"c1 control", "a\u0085b", "whitespace"},
		{"slash", "a/b", "'/'"},
		{"at", "user@example.com", "'@'"},
		{"percent", "a%b", "'%'"},
		{"star", "*.example.com", "'*'"},
		{"only dot", ".", "no label"},
		{"two dots", "..", "empty label"},
		{"leading dot", ".example", "empty label"},
		{"double dot", "a..b", "empty label"},
		{"two trailing dots", "example..", "empty label"},
		{"leading hyphen", "-a.example", "starts with '-'"},
		{"trailing hyphen", "a-.example", "ends with '-'"},
		{"bad punycode", "xn--zz.example", "not valid IDNA"},
		{"punycode of ascii", "xn--abc-.example", "ends with '-'"},
		{"idna disallowed", "a\u2488.example", "international domain name"},
		{"idna hyphens 3-4", "ab--cd.bücher.example", "international domain name"},
		{"underscore in unicode label", "_bü.example", "international domain name"},
		{"idna bidi", "مثال1a.example", "international domain name"},
		{"idna empty label", "a.\u00ad.b", "empty label"},
		{"idna fullwidth solidus", "a\uff0fb.example", "international domain name"},
		{"bluetooth short", "(00:11:22:33:44)", "Bluetooth"},
		{"bluetooth dashes", "(00-11-22-33-44-55)", "Bluetooth"},
		{"bluetooth no parens", "00:11:22:33:44:55", "not a valid IPv6 address"},
		{"bluetooth bad hex", "(00:11:22:33:44:5g)", "Bluetooth"},
		{"bluetooth unclosed", "(00:11:22:33:44:55", "Bluetooth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, err := networking.NewHostName(tt.in)
			if err == nil {
				t.Fatalf("NewHostName(%q) = %v (%v), want an error", tt.in, h.CanonicalName(), h.Type())
			}
			wantInvalidArg(t, err, "hostName")
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q does not say %q", err, tt.reason)
			}
		})
	}
}

func TestHostNameFromAddr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr      netip.Addr
		typ       networking.HostNameType
		canonical string
	}{
		{netip.MustParseAddr("192.0.2.1"), networking.Ipv4, "192.0.2.1"},
		{netip.MustParseAddr("2001:db8::1"), networking.Ipv6, "2001:db8::1"},
		{netip.MustParseAddr("fe80::1%eth0"), networking.Ipv6, "fe80::1%eth0"},
		{netip.MustParseAddr("::ffff:192.0.2.1"), networking.Ipv6, "::ffff:192.0.2.1"},
	}
	for _, tt := range tests {
		t.Run(tt.canonical, func(t *testing.T) {
			t.Parallel()
			h := networking.HostNameFromAddr(tt.addr)
			if h.Type() != tt.typ || h.CanonicalName() != tt.canonical || h.RawName() != tt.canonical || h.DisplayName() != tt.canonical {
				t.Errorf("got %v %q %q %q, want %v %q", h.Type(), h.RawName(), h.CanonicalName(), h.DisplayName(), tt.typ, tt.canonical)
			}
			if a, ok := h.Addr(); !ok || a != tt.addr {
				t.Errorf("Addr = %v, %v; want %v", a, ok, tt.addr)
			}
			parsed, err := networking.NewHostName(tt.canonical)
			if err != nil || !parsed.IsEqual(h) {
				t.Errorf("NewHostName(%q) = %v, %v; want a HostName equal to it", tt.canonical, parsed, err)
			}
		})
	}
	if h := networking.HostNameFromAddr(netip.Addr{}); h != nil {
		t.Errorf("HostNameFromAddr(zero) = %v, want nil", h)
	}
}

func TestHostNameNil(t *testing.T) {
	t.Parallel()
	var h *networking.HostName
	if h.String() != "" || h.RawName() != "" || h.CanonicalName() != "" || h.IsLocalhost() {
		t.Errorf("nil HostName has names")
	}
	if _, ok := h.Addr(); ok {
		t.Errorf("nil HostName has an address")
	}
	if h.IsEqual(nil) {
		t.Errorf("nil.IsEqual(nil) = true")
	}
	other, _ := networking.NewHostName("example.com")
	if h.IsEqual(other) || other.IsEqual(nil) {
		t.Errorf("nil equals a HostName")
	}
}

func TestIsEqualAndCompare(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		want int
	}{
		{"example.com", "EXAMPLE.com.", 0},
		{"bücher.example", "xn--bcher-kva.example", 0},
		{"::1", "[0:0:0:0:0:0:0:1]", 0},
		{"2001:DB8::1", "2001:db8:0::1", 0},
		{"(AA:BB:CC:DD:EE:FF)", "(aa:bb:cc:dd:ee:ff)", 0},
		{"fe80::1%eth0", "fe80::1%eth1", -1},
		{"fe80::1%eth0", "fe80::1", 1},
		{"::ffff:1.2.3.4", "1.2.3.4", 1},
		{"1.2.3.4", "1.2.3.5", -1},
		{"a.example", "b.example", -1},
		{"b.example", "a.example", 1},
		{"10.0.0.1", "9.0.0.1", -1}, // string order, not numeric
	}
	for _, tt := range tests {
		t.Run(tt.a+" "+tt.b, func(t *testing.T) {
			t.Parallel()
			got, err := networking.Compare(tt.a, tt.b)
			if err != nil || got != tt.want {
				t.Errorf("Compare = %d, %v; want %d", got, err, tt.want)
			}
			if rev, err := networking.Compare(tt.b, tt.a); err != nil || rev != -tt.want {
				t.Errorf("Compare reversed = %d, %v; want %d", rev, err, -tt.want)
			}
			ha, _ := networking.NewHostName(tt.a)
			hb, _ := networking.NewHostName(tt.b)
			if eq := ha.IsEqual(hb); eq != (tt.want == 0) {
				t.Errorf("IsEqual = %v, want %v", eq, tt.want == 0)
			}
		})
	}
}

func TestCompareInvalid(t *testing.T) {
	t.Parallel()
	_, err := networking.Compare("bad host", "example.com")
	wantInvalidArg(t, err, "value1")
	_, err = networking.Compare("example.com", "256.0.0.1")
	wantInvalidArg(t, err, "value2")
}

func TestHostNameTypeString(t *testing.T) {
	t.Parallel()
	for typ, want := range map[networking.HostNameType]string{
		networking.DomainName: "DomainName", networking.Ipv4: "Ipv4",
		networking.Ipv6: "Ipv6", networking.Bluetooth: "Bluetooth", 7: "HostNameType(7)",
	} {
		if got := typ.String(); got != want {
			t.Errorf("HostNameType(%d).String() = %q, want %q", int32(typ), got, want)
		}
	}
}

func TestEndpointPairString(t *testing.T) {
	t.Parallel()
	v6, _ := networking.NewHostName("2001:db8::1")
	v4, _ := networking.NewHostName("192.0.2.1")
	idn, _ := networking.NewHostName("xn--bcher-kva.example")
	bt, _ := networking.NewHostName("(00:11:22:33:44:55)")
	tests := []struct {
		p    networking.EndpointPair
		want string
	}{
		{networking.EndpointPair{RemoteHostName: v6, RemoteServiceName: "443"}, "*:* -> [2001:db8::1]:443"},
		{networking.EndpointPair{LocalHostName: v4, LocalServiceName: "5000", RemoteHostName: idn, RemoteServiceName: "http"}, "192.0.2.1:5000 -> bücher.example:http"},
		{networking.EndpointPair{LocalServiceName: "0", RemoteHostName: bt, RemoteServiceName: "3"}, "*:0 -> (00:11:22:33:44:55):3"},
		{networking.EndpointPair{}, "*:* -> *:*"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}
