package networking_test

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/socketerror"
)

const testServices = "testdata/services"

func TestParseServices(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(testServices)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		"tcpmux/tcp":       1,
		"web/tcp":          8080,
		"www-alt/tcp":      8080,
		"webcache/tcp":     8080,
		"web/udp":          8081,
		"webcache-udp/udp": 8081,
		"game/udp":         27015,
		"mixed/tcp":        9000,
		"Mixed/tcp":        9000,
		"MIXED/tcp":        9000,
		"Upper/tcp":        9001,
		"dup/tcp":          1111,
		"dupalias/tcp":     3333,
		"shared/tcp":       3333,
		"other/tcp":        4444,
		"tabs/tcp":         5555,
		"tab-alias/tcp":    5555,
		"spaces/tcp":       5556,
		"space-alias/tcp":  5556,
		"http/tcp":         18080,
		"zero/tcp":         0,
		"max/udp":          65535,
		"leadzero/tcp":     42,
		"atalk/ddp":        4,
		"crlf/tcp":         7071,
	}
	got := networking.ParseServices(data)
	if !maps.Equal(got, want) {
		for k, v := range got {
			if w, ok := want[k]; !ok || w != v {
				t.Errorf("got %s = %d, want %d (present %v)", k, v, w, ok)
			}
		}
		for k, v := range want {
			if _, ok := got[k]; !ok {
				t.Errorf("missing %s = %d", k, v)
			}
		}
	}
}

func TestParseServicesEdges(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     map[string]int
	}{
		{"empty", "", map[string]int{}},
		{"no newline at end", "a 1/tcp", map[string]int{"a/tcp": 1}},
		{"comment glued to port", "a 1/tcp# c", map[string]int{"a/tcp": 1}},
		{"comment glued to name", "a#b 1/tcp", map[string]int{}},
		{"vertical tab and form feed", "a\v1/tcp\fb", map[string]int{"a/tcp": 1, "b/tcp": 1}},
		{"only comment", "# a 1/tcp", map[string]int{}},
		{"nul bytes", "a\x00 1/tcp", map[string]int{"a\x00/tcp": 1}},
		{"invalid utf-8 name skipped", "\xff 1/tcp ok", map[string]int{"ok/tcp": 1}},
		{"slash in name skipped", "a/b 1/tcp c", map[string]int{"c/tcp": 1}},
		{"slash alone", "/ 0/0", map[string]int{}},
		{"invalid utf-8 alias skipped", "a 1/tcp \xff b", map[string]int{"a/tcp": 1, "b/tcp": 1}},
		{"huge number", "a 99999999999999999999999/tcp", map[string]int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := networking.ParseServices([]byte(tt.in)); !maps.Equal(got, tt.want) {
				t.Errorf("ParseServices(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestLookupPort(t *testing.T) {
	t.Parallel()
	s := &networking.Services{Path: testServices}
	tests := []struct {
		network, service string
		want             int
		status           socketerror.Status // for a ClassTypeNotFound
		invalidArg       string             // the argument an E_INVALIDARG names
	}{
		{network: "tcp", service: "80", want: 80},
		{network: "udp", service: "0", want: 0},
		{network: "tcp", service: "65535", want: 65535},
		{network: "tcp", service: "0080", want: 80},
		{network: "tcp", service: "web", want: 8080},
		{network: "tcp4", service: "www-alt", want: 8080},
		{network: "tcp6", service: "webcache", want: 8080},
		{network: "udp", service: "web", want: 8081},
		{network: "udp4", service: "webcache-udp", want: 8081},
		{network: "udp6", service: "game", want: 27015},
		{network: "tcp", service: "Mixed", want: 9000},
		{network: "tcp", service: "Upper", want: 9001},
		{network: "tcp", service: "dup", want: 1111},
		{network: "tcp", service: "shared", want: 3333},
		{network: "tcp", service: "http", want: 18080},  // the file wins over the built-in table
		{network: "udp", service: "http", want: 80},     // the built-in table fills in
		{network: "tcp", service: "https", want: 443},   // not in the file: built-in
		{network: "tcp", service: "crlf", want: 7071},   // CR is a separator
		{network: "tcp", service: "zero", want: 0},      // a name for port 0
		{network: "tcp", service: "leadzero", want: 42}, // decimal despite the zeros
		{network: "tcp", service: "game", status: socketerror.ClassTypeNotFound},
		{network: "udp", service: "tcpmux", status: socketerror.ClassTypeNotFound},
		{network: "tcp", service: "upper", status: socketerror.ClassTypeNotFound}, // case matters, as in glibc
		{network: "tcp", service: "HTTP", status: socketerror.ClassTypeNotFound},
		{network: "tcp", service: "noproto", status: socketerror.ClassTypeNotFound},
		{network: "tcp", service: "toobig", status: socketerror.ClassTypeNotFound},
		{network: "tcp", service: "atalk", status: socketerror.ClassTypeNotFound},
		{network: "tcp", service: "nosuchservice", status: socketerror.ClassTypeNotFound},
		{network: "tcp", service: "+", status: socketerror.ClassTypeNotFound},
		{network: "tcp", service: "", invalidArg: "serviceName"},
		{network: "tcp", service: "65536", invalidArg: "serviceName"},
		{network: "udp", service: "99999999999999999999999", invalidArg: "serviceName"},
		{network: "tcp", service: "+1", invalidArg: "serviceName"},
		{network: "tcp", service: "-1", invalidArg: "serviceName"},
		{network: "tcp", service: "0x10", invalidArg: "serviceName"},
		{network: "tcp", service: "0X1f", invalidArg: "serviceName"},
		{network: "tcp", service: " 80", invalidArg: "serviceName"},
		{network: "tcp", service: "80 ", invalidArg: "serviceName"},
		{network: "tcp", service: "web\n", invalidArg: "serviceName"},
		{network: "tcp", service: "a\x00b", invalidArg: "serviceName"},
		{network: "tcp", service: "80/tcp", invalidArg: "serviceName"},
		{network: "tcp", service: "#web", invalidArg: "serviceName"},
		{network: "tcp", service: "\xff", invalidArg: "serviceName"},
		{network: "ip", service: "80", invalidArg: "network"},
		{network: "", service: "http", invalidArg: "network"},
		{network: "TCP", service: "http", invalidArg: "network"},
	}
	for _, tt := range tests {
		t.Run(tt.network+"/"+tt.service, func(t *testing.T) {
			t.Parallel()
			got, err := s.LookupPort(tt.network, tt.service)
			switch {
			case tt.invalidArg != "":
				wantInvalidArg(t, err, tt.invalidArg)
			case tt.status != socketerror.Unknown:
				se := wantSocketError(t, err, tt.status, 0)
				if se.Addr != tt.service {
					t.Errorf("error Addr = %q, want %q", se.Addr, tt.service)
				}
			case err != nil:
				t.Fatalf("LookupPort: %v", err)
			case got != tt.want:
				t.Errorf("LookupPort = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestLookupPortClassTypeNotFoundHResult(t *testing.T) {
	t.Parallel()
	_, err := (&networking.Services{Path: testServices}).LookupPort("tcp", "nosuchservice")
	// WSATYPE_NOT_FOUND, as WinRT reports an unknown service.
	wantSocketError(t, err, socketerror.ClassTypeNotFound, 0x8007277D)
	if !strings.Contains(err.Error(), "tcp") || !strings.Contains(err.Error(), testServices) {
		t.Errorf("error %q names neither the protocol nor the file", err)
	}
}

func TestLookupPortMissingFile(t *testing.T) {
	t.Parallel()
	s := &networking.Services{Path: filepath.Join(t.TempDir(), "no-such-file")}
	builtin := map[string]int{
		"echo": 7, "discard": 9, "daytime": 13, "ftp": 21, "ssh": 22, "telnet": 23,
		"smtp": 25, "domain": 53, "http": 80, "ntp": 123, "https": 443,
	}
	for _, network := range []string{"tcp", "udp"} {
		for name, want := range builtin {
			if got, err := s.LookupPort(network, name); err != nil || got != want {
				t.Errorf("LookupPort(%s, %s) = %d, %v; want %d", network, name, got, err, want)
			}
		}
		if got, err := s.LookupPort(network, "8443"); err != nil || got != 8443 {
			t.Errorf("LookupPort(%s, 8443) = %d, %v", network, got, err)
		}
		_, err := s.LookupPort(network, "web")
		wantSocketError(t, err, socketerror.ClassTypeNotFound, 0)
	}
}

func TestLookupPortUnreadableFile(t *testing.T) {
	t.Parallel()
	// A directory exists but cannot be read as a file.
	s := &networking.Services{Path: t.TempDir()}
	if got, err := s.LookupPort("tcp", "443"); err != nil || got != 443 {
		t.Errorf("LookupPort(443) = %d, %v", got, err)
	}
	if got, err := s.LookupPort("tcp", "https"); err != nil || got != 443 {
		t.Errorf("LookupPort(https) = %d, %v", got, err)
	}
	_, err := s.LookupPort("tcp", "web")
	wantSocketError(t, err, socketerror.Unknown, 0)
	if !strings.Contains(err.Error(), "reading the services file") {
		t.Errorf("error %q does not say the file could not be read", err)
	}
}

// TestSystemServices checks the real /etc/services that Debian's netbase
// installs (`make deps`).
func TestSystemServices(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(networking.DefaultServicesPath); err != nil {
		t.Fatalf("%v: install netbase (make deps)", err)
	}
	var s networking.Services
	tests := []struct {
		network, service string
		want             int
	}{
		{"tcp", "http", 80},
		{"tcp", "www", 80}, // an alias netbase lists
		{"tcp", "ssh", 22},
		{"udp", "domain", 53},
		{"tcp", "kerberos5", 88},
	}
	for _, tt := range tests {
		if got, err := s.LookupPort(tt.network, tt.service); err != nil || got != tt.want {
			t.Errorf("LookupPort(%s, %s) = %d, %v; want %d", tt.network, tt.service, got, err, tt.want)
		}
	}
}

func TestServicesConcurrent(t *testing.T) {
	t.Parallel()
	s := &networking.Services{Path: testServices}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if p, err := s.LookupPort("tcp", "web"); err != nil || p != 8080 {
					t.Errorf("LookupPort = %d, %v", p, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
