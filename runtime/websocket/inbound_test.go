package websocket

import (
	"bytes"
	"testing"
)

// FuzzInbound checks that the inbound checks do not depend on how the
// bytes are cut into reads: fed in three pieces, they let the same bytes
// through and find the same violation as fed whole.
func FuzzInbound(f *testing.F) {
	head := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
	for _, s := range []struct {
		data   string
		client bool
	}{
		{"\x81\x02hi\x88\x02\x03\xe8", true},
		{head + "\x81\x82\x00\x00\x00\x00hi", true},                                 // masked
		{"HTTP/1.1 100 Continue\n\n" + head + "\x88\x05\x03\xe8\xed\xa0\x80", true}, // bad reason
		{"HTTP/1.1 400 Bad\r\n\r\n\x81\x82", true},
		{"\x81\x82\x01\x02\x03\x04hi\x88\x85\x01\x02\x03\x04\x02\xea\xee\xa2\x83", false},
		{"\x82\x7e\x01\x00" + string(bytes.Repeat([]byte{1}, 256)) + "\x88\x00", false},
		{"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", false},
	} {
		f.Add([]byte(s.data), s.client, uint16(3), uint16(7))
	}
	f.Fuzz(func(t *testing.T, data []byte, client bool, cut1, cut2 uint16) {
		a := min(int(cut1), len(data))
		b := min(max(a, int(cut2)), len(data))
		whole := newInbound(client)
		want := whole.check(data)
		pieces := newInbound(client)
		got := 0
		for _, p := range [][]byte{data[:a], data[a:b], data[b:]} {
			k := pieces.check(p)
			got += k
			if k < len(p) {
				break
			}
		}
		if (whole.err == nil) != (pieces.err == nil) {
			t.Fatalf("%q cut at %d,%d: pieces found %v, whole %v", data, a, b, pieces.err, whole.err)
		}
		if whole.err == nil {
			if want != len(data) || got != len(data) {
				t.Fatalf("%q cut at %d,%d: %d and %d bytes let through without an error", data, a, b, want, got)
			}
			return
		}
		// Bytes already let through cannot be taken back, so the pieces
		// may let through more of the bad frame than the whole did, but
		// never the byte that completes the violation.
		last := 1
		for probe := newInbound(client); probe.check(data[:last]) == last && probe.err == nil; probe = newInbound(client) {
			last++
		}
		if got < want || got >= last {
			t.Fatalf("%q cut at %d,%d: pieces let %d bytes through, whole %d; the violation is complete at byte %d",
				data, a, b, got, want, last)
		}
	})
}
