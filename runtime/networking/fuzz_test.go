package networking_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/socketerror"
)

// The seed corpora live in testdata/fuzz/<FuzzName>; the f.Add calls
// below only add the test tables, so the seeds follow them.

func FuzzNewHostName(f *testing.F) {
	for _, tt := range validHostNames {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := networking.NewHostName(s)
		if err != nil {
			var se *socketerror.Error
			if !errors.As(err, &se) || se.HResult != socketerror.EInvalidArg || !strings.Contains(se.Message, `"hostName"`) {
				t.Fatalf("NewHostName(%q) error %v is not an E_INVALIDARG naming hostName", s, err)
			}
			return
		}
		if h.RawName() != s {
			t.Fatalf("RawName = %q, want %q", h.RawName(), s)
		}
		c := h.CanonicalName()
		h2, err := networking.NewHostName(c)
		if err != nil {
			t.Fatalf("NewHostName(%q) accepted, but its canonical name %q is refused: %v", s, c, err)
		}
		if h2.CanonicalName() != c || h2.Type() != h.Type() {
			t.Fatalf("NewHostName(%q) = %q %v, canonical name of it %q %v", s, c, h.Type(), h2.CanonicalName(), h2.Type())
		}
		if !h.IsEqual(h2) || !h2.IsEqual(h) {
			t.Fatalf("%q and its canonical name %q are not IsEqual", s, c)
		}
		if n, err := networking.Compare(s, c); err != nil || n != 0 {
			t.Fatalf("Compare(%q, %q) = %d, %v; want 0", s, c, n, err)
		}
		_, isAddr := h.Addr()
		switch h.Type() {
		case networking.DomainName:
			if isAddr || len(c) > 253 || strings.HasSuffix(c, ".") || c != strings.ToLower(c) {
				t.Fatalf("domain %q has canonical name %q (address %v)", s, c, isAddr)
			}
			for i := 0; i < len(c); i++ {
				if c[i] >= 0x80 {
					t.Fatalf("domain %q has a non-ASCII canonical name %q", s, c)
				}
			}
			// The display form names the same host.
			d := h.DisplayName()
			h3, err := networking.NewHostName(d)
			if err != nil || h3.CanonicalName() != c {
				t.Fatalf("NewHostName(%q): display name %q gives %v, %v; want canonical %q", s, d, h3, err, c)
			}
		case networking.Ipv4, networking.Ipv6:
			if !isAddr || h.DisplayName() != c {
				t.Fatalf("address %q: Addr ok %v, display %q, canonical %q", s, isAddr, h.DisplayName(), c)
			}
		case networking.Bluetooth:
			if isAddr || h.DisplayName() != c {
				t.Fatalf("Bluetooth %q: Addr ok %v, display %q, canonical %q", s, isAddr, h.DisplayName(), c)
			}
		default:
			t.Fatalf("NewHostName(%q) has type %v", s, h.Type())
		}
	})
}

func FuzzParseServices(f *testing.F) {
	f.Add([]byte("http 80/tcp www # web\nhttp 80/udp\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m := networking.ParseServices(data)
		for k, port := range m {
			if port < 0 || port > 65535 {
				t.Fatalf("%s = %d, out of range", k, port)
			}
			name, proto, _ := strings.Cut(k, "/")
			if strings.Count(k, "/") != 1 || name == "" || proto == "" {
				t.Fatalf("key %q is not name/proto", k)
			}
		}
	})
}

func FuzzLookupPort(f *testing.F) {
	f.Add("tcp", "80")
	f.Add("udp6", "web")
	f.Fuzz(func(t *testing.T, network, service string) {
		s := &networking.Services{Path: testServices}
		port, err := s.LookupPort(network, service)
		if err != nil {
			var se *socketerror.Error
			if !errors.As(err, &se) {
				t.Fatalf("LookupPort(%q, %q) error %v is not a *socketerror.Error", network, service, err)
			}
			if se.HResult != socketerror.EInvalidArg && se.Status != socketerror.ClassTypeNotFound {
				t.Fatalf("LookupPort(%q, %q) error %v is neither E_INVALIDARG nor ClassTypeNotFound", network, service, err)
			}
		} else if port < 0 || port > 65535 {
			t.Fatalf("LookupPort(%q, %q) = %d, out of range", network, service, port)
		}
		validNetwork := false
		for _, n := range []string{"tcp", "tcp4", "tcp6", "udp", "udp4", "udp6"} {
			validNetwork = validNetwork || n == network
		}
		if !validNetwork {
			if err == nil {
				t.Fatalf("LookupPort(%q, %q) = %d for an invalid network", network, service, port)
			}
			return
		}
		// A valid decimal port resolves to its value; any other number
		// does not resolve to a port.
		if n, perr := strconv.ParseUint(service, 10, 16); perr == nil {
			if err != nil || port != int(n) {
				t.Fatalf("LookupPort(%q, %q) = %d, %v; want %d", network, service, port, err, n)
			}
		} else if _, perr := strconv.Atoi(service); perr == nil && err == nil {
			t.Fatalf("LookupPort(%q, %q) = %d, want an error for a number that is not a port", network, service, port)
		}
	})
}
