package websocket

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"unicode/utf8"
)

// FuzzUTF8Stream checks that validating a text in pieces agrees with
// validating it whole, wherever it is cut.
func FuzzUTF8Stream(f *testing.F) {
	for _, s := range []string{"", "ascii", "café", "\xe2\x82\xac", "\xf0\x9f\x98\x80x", "\xff", "\xc3", "\xed\xa0\x80", "\xe0\x80\xaf"} {
		f.Add([]byte(s), uint8(1), uint8(2))
	}
	f.Fuzz(func(t *testing.T, text []byte, cut1, cut2 uint8) {
		a := min(int(cut1), len(text))
		b := min(max(a, int(cut2)), len(text))
		var v utf8Stream
		ok := v.feed(text[:a]) && v.feed(text[a:b]) && v.feed(text[b:]) && v.end()
		if ok != utf8.Valid(text) {
			t.Fatalf("%q cut at %d,%d: pieces say %v, whole says %v", text, a, b, ok, utf8.Valid(text))
		}
	})
}

// recorder is a net.Conn stand-in that records writes.
type recorder struct {
	nopConn
	out bytes.Buffer
}

func (r *recorder) Write(p []byte) (int, error) { return r.out.Write(p) }

// TestWirePongBetweenFrames writes frames in random slices with pongs
// requested at random moments, and checks that the output parses as the
// same frames with whole pongs between them.
func TestWirePongBetweenFrames(t *testing.T) {
	for _, client := range []bool{false, true} {
		r := &recorder{}
		w := newWire(r, client)
		w.track()
		var frames [][]byte
		var stream []byte
		for i := range 50 {
			n := []int{0, 5, 125, 126, 300, 65535, 65536, 70000}[i%8]
			f := frameBytes(client, 0x2, pattern(n))
			frames = append(frames, f)
			stream = append(stream, f...)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		for len(stream) > 0 {
			k := min(len(stream), 1+rng.IntN(9000))
			if rng.IntN(3) == 0 {
				w.pong()
			}
			if _, err := w.Write(stream[:k]); err != nil {
				t.Fatal(err)
			}
			stream = stream[k:]
		}
		out := r.out.Bytes()
		pongs := 0
		for _, f := range frames {
			for out[0] == 0x8A {
				pongs++
				out = out[headerLen(out[1]):]
			}
			if !bytes.HasPrefix(out, f) {
				t.Fatalf("client=%v: a frame was split (pong inside it?)", client)
			}
			out = out[len(f):]
		}
		for len(out) > 0 && out[0] == 0x8A {
			pongs++
			out = out[headerLen(out[1]):]
		}
		if len(out) != 0 || pongs == 0 {
			t.Fatalf("client=%v: %d bytes left over, %d pongs", client, len(out), pongs)
		}
	}
}

// frameBytes builds a frame as the library would write it.
func frameBytes(masked bool, opcode byte, p []byte) []byte {
	b := []byte{0x80 | opcode}
	var m byte
	if masked {
		m = 0x80
	}
	switch {
	case len(p) < 126:
		b = append(b, m|byte(len(p)))
	case len(p) <= 0xFFFF:
		b = append(b, m|126)
		b = binary.BigEndian.AppendUint16(b, uint16(len(p)))
	default:
		b = append(b, m|127)
		b = binary.BigEndian.AppendUint64(b, uint64(len(p)))
	}
	if masked {
		b = append(b, 1, 2, 3, 4)
	}
	return append(b, p...)
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}
