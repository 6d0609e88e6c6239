package isolation_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/netrun/netrun/runtime/isolation"
)

func TestCapabilityString(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		c    isolation.Capability
		want string
	}{
		{isolation.InternetClient, "internetClient"},
		{isolation.InternetClientServer, "internetClientServer"},
		{isolation.PrivateNetworkClientServer, "privateNetworkClientServer"},
		{isolation.Loopback, "loopback"},
		{0, "Capability(0x0)"},
		{isolation.Capability(isolation.All), "Capability(0xf)"},
		{1 << 5, "Capability(0x20)"},
	} {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("Capability(%#x).String() = %q, want %q", uint8(tt.c), got, tt.want)
		}
	}
}

func TestCapabilitiesSet(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		c     isolation.Capabilities
		names []string
	}{
		{0, []string{}},
		{isolation.Capabilities(isolation.Loopback), []string{"loopback"}},
		{isolation.Capabilities(isolation.Loopback | isolation.InternetClient), []string{"internetClient", "loopback"}},
		{isolation.All, []string{"internetClient", "internetClientServer", "privateNetworkClientServer", "loopback"}},
		{0xF0, []string{}}, // bits that name no capability are ignored
	} {
		if got := tt.c.Names(); !slices.Equal(got, tt.names) || got == nil {
			t.Errorf("Capabilities(%#x).Names() = %#v, want %#v", uint8(tt.c), got, tt.names)
		}
		if got, want := tt.c.String(), strings.Join(tt.names, ","); got != want {
			t.Errorf("Capabilities(%#x).String() = %q, want %q", uint8(tt.c), got, want)
		}
		for _, x := range []isolation.Capability{isolation.InternetClient, isolation.InternetClientServer,
			isolation.PrivateNetworkClientServer, isolation.Loopback} {
			if got, want := tt.c.Has(x), slices.Contains(tt.names, x.String()); got != want {
				t.Errorf("Capabilities(%#x).Has(%s) = %v, want %v", uint8(tt.c), x, got, want)
			}
		}
	}
	if isolation.All.Has(0) || isolation.All.Has(isolation.Loopback|isolation.InternetClient) || isolation.All.Has(1<<6) {
		t.Error("Has is true for a value that is not a single capability")
	}
}

func TestParseCapabilities(t *testing.T) {
	t.Parallel()
	const (
		ic   = isolation.Capabilities(isolation.InternetClient)
		ics  = isolation.Capabilities(isolation.InternetClientServer)
		pncs = isolation.Capabilities(isolation.PrivateNetworkClientServer)
		lo   = isolation.Capabilities(isolation.Loopback)
	)
	good := []struct {
		in   string
		want isolation.Capabilities
	}{
		{"", 0},
		{"   ", 0},
		{"internetClient", ic},
		{"internetClientServer", ics},
		{"privateNetworkClientServer", pncs},
		{"loopback", lo},
		{"loopback,internetClient", lo | ic},
		{" internetClient , loopback ", lo | ic},
		{"loopback,loopback", lo},
		{"internetClient,internetClientServer,privateNetworkClientServer,loopback", isolation.All},
		{"\tloopback\n", lo},
	}
	for _, tt := range good {
		got, err := isolation.ParseCapabilities(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseCapabilities(%q) = %v, %v; want %v, nil", tt.in, got, err, tt.want)
		}
	}
	const valid = "valid names: internetClient, internetClientServer, privateNetworkClientServer, loopback"
	bad := []struct {
		in   string
		want []string // substrings of the error
	}{
		{"internet", []string{`unknown capability "internet"`, valid}},
		{"Loopback", []string{`unknown capability "Loopback"`, `did you mean "loopback"?`, valid}},
		{"INTERNETCLIENT", []string{`did you mean "internetClient"?`}},
		{"loopback,", []string{"empty capability name", valid}},
		{",loopback", []string{"empty capability name"}},
		{"loopback,,internetClient", []string{"empty capability name"}},
		{"loopback;internetClient", []string{`unknown capability "loopback;internetClient"`}},
		{"loopback internetClient", []string{`unknown capability "loopback internetClient"`}},
		{"bluetooth.rfcomm", []string{`unknown capability "bluetooth.rfcomm"`}},
	}
	for _, tt := range bad {
		got, err := isolation.ParseCapabilities(tt.in)
		if err == nil {
			t.Errorf("ParseCapabilities(%q) = %v, nil; want an error", tt.in, got)
			continue
		}
		if got != 0 {
			t.Errorf("ParseCapabilities(%q) = %v with an error; want 0", tt.in, got)
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ParseCapabilities(%q) error %q does not contain %q", tt.in, err, w)
			}
		}
	}
}

func TestParseCapabilityList(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in      []string
		want    isolation.Capabilities
		wantErr string
	}{
		{nil, 0, ""},
		{[]string{}, 0, ""},
		{[]string{"loopback", " internetClient "}, isolation.Capabilities(isolation.Loopback | isolation.InternetClient), ""},
		{[]string{"loopback", "internetClient,loopback"}, 0, `unknown capability "internetClient,loopback"`},
		{[]string{""}, 0, "empty capability name"},
		{[]string{"loopback", "privateNetwork"}, 0, `unknown capability "privateNetwork"`},
	} {
		got, err := isolation.ParseCapabilityList(tt.in)
		switch {
		case tt.wantErr == "" && (err != nil || got != tt.want):
			t.Errorf("ParseCapabilityList(%q) = %v, %v; want %v, nil", tt.in, got, err, tt.want)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("ParseCapabilityList(%q) = %v, %v; want an error containing %q", tt.in, got, err, tt.wantErr)
		}
	}
}

// FuzzParseCapabilities checks that parsing never panics, that an
// accepted list holds only known capabilities and round-trips through
// String, and that a refusal says what it refused.
func FuzzParseCapabilities(f *testing.F) {
	for _, s := range []string{"", "loopback", "internetClient, loopback", "Loopback", "loopback,",
		"internetClient,internetClientServer,privateNetworkClientServer,loopback", " , ", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, list string) {
		c, err := isolation.ParseCapabilities(list)
		if err != nil {
			if c != 0 || err.Error() == "" {
				t.Fatalf("ParseCapabilities(%q) = %v, %q", list, c, err)
			}
			return
		}
		if c&^isolation.All != 0 {
			t.Fatalf("ParseCapabilities(%q) = %#x, outside All", list, uint8(c))
		}
		back, err := isolation.ParseCapabilities(c.String())
		if err != nil || back != c {
			t.Fatalf("ParseCapabilities(%q) = %v; its String %q parses to %v, %v", list, c, c.String(), back, err)
		}
		again, err := isolation.ParseCapabilityList(c.Names())
		if err != nil || again != c {
			t.Fatalf("ParseCapabilityList(%q) = %v, %v; want %v", c.Names(), again, err, c)
		}
	})
}
