package websocket

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
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

// inputConn is a connection whose peer sent in and then closed; what is
// written to it is dropped.
type inputConn struct {
	nopConn
	in *bytes.Reader
}

func (c *inputConn) Read(p []byte) (int, error) { return c.in.Read(p) }

// FuzzServe feeds arbitrary bytes to the server handshake and, when it
// succeeds, to the library's frame reader behind it: nothing may panic,
// and a refused request must get an HTTP status.
func FuzzServe(f *testing.F) {
	req := "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	f.Add([]byte(req + "\x81\x82\x00\x00\x00\x00hi"))
	f.Add([]byte(req + "\x01\x81\x00\x00\x00\x00a\x80\x81\x00\x00\x00\x00b\x88\x82\x00\x00\x00\x00\x03\xe8"))
	f.Add([]byte(req + "\x81\xff\xff\xff\xff\xff\xff\xff\xff\xff"))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add([]byte("\x16\x03\x01garbage"))
	f.Fuzz(func(t *testing.T, in []byte) {
		conn := &inputConn{in: bytes.NewReader(in)}
		ws, _, err := serve("fuzz", "peer", conn, &AcceptOptions{Path: "/chat", Protocols: []string{"p"}})
		if err != nil {
			var we *Error
			if errors.As(err, &we) && we.HTTPStatus == 0 && GetStatus(err) != ConnectionAborted && GetStatus(err) != Unknown {
				t.Fatalf("refused without a status: %v", err)
			}
			return
		}
		defer ws.CloseNow()
		ws.SetReadLimit(1 << 20)
		for {
			_, r, err := ws.Reader(context.Background())
			if err != nil {
				return
			}
			var text utf8Stream
			buf := make([]byte, 512)
			for {
				n, err := r.Read(buf)
				text.feed(buf[:n])
				if err != nil {
					break
				}
			}
		}
	})
}
