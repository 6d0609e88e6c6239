package networking_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/netrun/netrun/runtime/networking"
)

func addrs(s string) []netip.Addr {
	var out []netip.Addr
	for _, f := range strings.Fields(s) {
		out = append(out, netip.MustParseAddr(f))
	}
	return out
}

func TestOrderAddrs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       string
		none     string // SortNone
		longConn string // OptimizeForLongConnections
	}{
		{"empty", "", "", ""},
		{"one v4", "192.0.2.1", "192.0.2.1", "192.0.2.1"},
		{"v4 only keeps order", "192.0.2.3 192.0.2.1 192.0.2.2", "192.0.2.3 192.0.2.1 192.0.2.2", "192.0.2.3 192.0.2.1 192.0.2.2"},
		{"v6 only keeps order", "2001:db8::2 2001:db8::1", "2001:db8::2 2001:db8::1", "2001:db8::2 2001:db8::1"},
		{"v6 first interleaves",
			"2001:db8::1 2001:db8::2 192.0.2.1 192.0.2.2",
			"2001:db8::1 192.0.2.1 2001:db8::2 192.0.2.2",
			"2001:db8::1 2001:db8::2 192.0.2.1 192.0.2.2"},
		{"v4 first interleaves from v4",
			"192.0.2.1 192.0.2.2 2001:db8::1 2001:db8::2",
			"192.0.2.1 2001:db8::1 192.0.2.2 2001:db8::2",
			"2001:db8::1 2001:db8::2 192.0.2.1 192.0.2.2"},
		{"more v6 than v4",
			"2001:db8::1 2001:db8::2 2001:db8::3 192.0.2.1",
			"2001:db8::1 192.0.2.1 2001:db8::2 2001:db8::3",
			"2001:db8::1 2001:db8::2 2001:db8::3 192.0.2.1"},
		{"more v4 than v6, mixed input",
			"192.0.2.1 2001:db8::1 192.0.2.2 192.0.2.3",
			"192.0.2.1 2001:db8::1 192.0.2.2 192.0.2.3",
			"2001:db8::1 192.0.2.1 192.0.2.2 192.0.2.3"},
		{"relative order within a family kept",
			"2001:db8::9 192.0.2.9 192.0.2.1 2001:db8::1",
			"2001:db8::9 192.0.2.9 2001:db8::1 192.0.2.1",
			"2001:db8::9 2001:db8::1 192.0.2.9 192.0.2.1"},
		{"localhost order",
			"127.0.0.1 ::1",
			"127.0.0.1 ::1",
			"::1 127.0.0.1"},
		{"mapped counts as v4",
			"::ffff:192.0.2.1 ::ffff:192.0.2.2 2001:db8::1",
			"::ffff:192.0.2.1 2001:db8::1 ::ffff:192.0.2.2",
			"2001:db8::1 ::ffff:192.0.2.1 ::ffff:192.0.2.2"},
		{"zones kept",
			"fe80::1%eth0 192.0.2.1",
			"fe80::1%eth0 192.0.2.1",
			"fe80::1%eth0 192.0.2.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := addrs(tt.in)
			orig := slices.Clone(in)
			for _, c := range []struct {
				opts networking.HostNameSortOptions
				want string
			}{
				{networking.SortNone, tt.none},
				{networking.OptimizeForLongConnections, tt.longConn},
				{networking.OptimizeForLongConnections | 1 | 4, tt.longConn}, // unknown bits ignored
				{1, tt.none},
			} {
				got := networking.OrderAddrs(in, c.opts)
				if want := addrs(c.want); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
					t.Errorf("%v: got %v, want %v", c.opts, got, want)
				}
			}
			if !slices.Equal(in, orig) {
				t.Errorf("input changed to %v", in)
			}
		})
	}
}

func TestHostNameSortOptionsString(t *testing.T) {
	t.Parallel()
	for o, want := range map[networking.HostNameSortOptions]string{
		networking.SortNone:                       "None",
		networking.OptimizeForLongConnections:     "OptimizeForLongConnections",
		networking.OptimizeForLongConnections | 1: "OptimizeForLongConnections|0x1",
		8: "0x8",
	} {
		if got := o.String(); got != want {
			t.Errorf("HostNameSortOptions(%d).String() = %q, want %q", uint32(o), got, want)
		}
	}
}
