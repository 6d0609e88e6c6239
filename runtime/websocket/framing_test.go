package websocket_test

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// This file is a hand-written WebSocket peer for the conformance and fuzz
// tests: it builds and parses frames byte by byte (RFC 6455 section 5.2),
// so that it can send what no library would.

// Frame opcodes (RFC 6455 section 5.2).
const (
	opCont   byte = 0x0
	opText   byte = 0x1
	opBinary byte = 0x2
	opClose  byte = 0x8
	opPing   byte = 0x9
	opPong   byte = 0xA
)

// wsFrame is one frame as the raw peer writes or reads it.
type wsFrame struct {
	fin     bool
	rsv     byte // RSV1-3 as Autobahn numbers them: 4 is RSV1, 2 RSV2, 1 RSV3
	op      byte
	payload []byte
	masked  bool // set on frames read: the frame came masked
}

func (f wsFrame) String() string {
	p := f.payload
	more := ""
	if len(p) > 40 {
		p, more = p[:40], fmt.Sprintf("...(%d bytes)", len(f.payload))
	}
	return fmt.Sprintf("{op %#x fin %v rsv %d %q%s}", f.op, f.fin, f.rsv, p, more)
}

// Frame constructors. A data frame is final unless made by frag.
func textFrame(s string) wsFrame         { return wsFrame{fin: true, op: opText, payload: []byte(s)} }
func binFrame(p []byte) wsFrame          { return wsFrame{fin: true, op: opBinary, payload: p} }
func pingFrame(s string) wsFrame         { return wsFrame{fin: true, op: opPing, payload: []byte(s)} }
func pongFrame(s string) wsFrame         { return wsFrame{fin: true, op: opPong, payload: []byte(s)} }
func rawFrame(op byte, p []byte) wsFrame { return wsFrame{fin: true, op: op, payload: p} }

// frag returns a frame of a fragmented message: op is opText or opBinary
// for the first, opCont for the others.
func frag(op byte, s string, fin bool) wsFrame {
	return wsFrame{fin: fin, op: op, payload: []byte(s)}
}

// closeFrame returns a close frame with code and reason; code 0 with no
// reason gives an empty payload only through closePayload.
func closeFrame(code uint16, reason string) wsFrame {
	p := binary.BigEndian.AppendUint16(nil, code)
	return wsFrame{fin: true, op: opClose, payload: append(p, reason...)}
}

// closePayload returns a close frame with payload p as is.
func closePayload(p []byte) wsFrame { return wsFrame{fin: true, op: opClose, payload: p} }

// withRSV returns f with its RSV bits set to rsv.
func withRSV(f wsFrame, rsv byte) wsFrame { f.rsv = rsv; return f }

// fragments cuts data into frames of at most size bytes, the first of
// opcode op.
func fragments(op byte, data []byte, size int) []wsFrame {
	var fs []wsFrame
	for first := true; first || len(data) > 0; first = false {
		n := min(size, len(data))
		f := wsFrame{op: opCont, payload: data[:n], fin: n == len(data)}
		if first {
			f.op = op
		}
		fs = append(fs, f)
		data = data[n:]
	}
	return fs
}

// encode appends f as it goes on the wire, masked with a random key if
// mask is set, its length in the shortest encoding.
func (f wsFrame) encode(b []byte, mask bool) []byte {
	b0 := f.op&0x0F | f.rsv<<4&0x70
	if f.fin {
		b0 |= 0x80
	}
	var m byte
	if mask {
		m = 0x80
	}
	switch n := len(f.payload); {
	case n < 126:
		b = append(b, b0, m|byte(n))
	case n <= 0xFFFF:
		b = binary.BigEndian.AppendUint16(append(b, b0, m|126), uint16(n))
	default:
		b = binary.BigEndian.AppendUint64(append(b, b0, m|127), uint64(n))
	}
	if !mask {
		return append(b, f.payload...)
	}
	var key [4]byte
	rand.Read(key[:])
	b = append(b, key[:]...)
	for i, c := range f.payload {
		b = append(b, c^key[i&3])
	}
	return b
}

// encodeAll encodes frames one after the other.
func encodeAll(mask bool, frames ...wsFrame) []byte {
	var b []byte
	for _, f := range frames {
		b = f.encode(b, mask)
	}
	return b
}

// rawPeer is one end of a WebSocket connection driven frame by frame: a
// client (which masks what it writes and wants unmasked frames) or a
// server (the other way round). Every read and write has a deadline.
type rawPeer struct {
	t      testing.TB
	conn   net.Conn
	br     *bufio.Reader
	client bool
}

// deadline is how long any single read or write of a raw peer may take.
const deadline = wait

// write writes frames, all in one write, or in writes of chop bytes if
// chop is positive. It returns the write error: a peer that closed on a
// protocol error may reset the connection while the rest is written.
func (p *rawPeer) write(chop int, frames ...wsFrame) error {
	b := encodeAll(p.client, frames...)
	p.conn.SetWriteDeadline(time.Now().Add(deadline))
	if chop <= 0 {
		_, err := p.conn.Write(b)
		return err
	}
	for len(b) > 0 {
		n := min(chop, len(b))
		if _, err := p.conn.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// errBadFrame marks frames that break RFC 6455 in a way the raw peer
// checks: a wrong mask bit, a length not in its shortest encoding.
var errBadFrame = errors.New("malformed frame")

// readFrame reads one frame, checking that its mask bit is the one the
// peer's side must set and that its length is minimally encoded.
func (p *rawPeer) readFrame() (wsFrame, error) {
	p.conn.SetReadDeadline(time.Now().Add(deadline))
	return readFrameFrom(p.br, !p.client)
}

// readFrameFrom reads one frame from br; wantMasked says whether frames
// must be masked (a client's) or must not be (a server's).
func readFrameFrom(br *bufio.Reader, wantMasked bool) (wsFrame, error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return wsFrame{}, err
	}
	f := wsFrame{fin: h[0]&0x80 != 0, rsv: h[0] >> 4 & 7, op: h[0] & 0x0F, masked: h[1]&0x80 != 0}
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(br, ext[:]); err != nil {
			return f, err
		}
		if n = uint64(binary.BigEndian.Uint16(ext[:])); n < 126 {
			return f, fmt.Errorf("%w: length %d in the 16-bit encoding", errBadFrame, n)
		}
	case 127:
		var ext [8]byte
		if _, err := io.ReadFull(br, ext[:]); err != nil {
			return f, err
		}
		if n = binary.BigEndian.Uint64(ext[:]); n <= 0xFFFF || n >= 1<<63 {
			return f, fmt.Errorf("%w: length %d in the 64-bit encoding", errBadFrame, n)
		}
	}
	if f.masked != wantMasked {
		return f, fmt.Errorf("%w: mask bit %v, want %v", errBadFrame, f.masked, wantMasked)
	}
	if n > 64<<20 {
		return f, fmt.Errorf("%w: a %d-byte frame", errBadFrame, n)
	}
	var key [4]byte
	if f.masked {
		if _, err := io.ReadFull(br, key[:]); err != nil {
			return f, err
		}
	}
	f.payload = make([]byte, n)
	if _, err := io.ReadFull(br, f.payload); err != nil {
		return f, err
	}
	if f.masked {
		for i := range f.payload {
			f.payload[i] ^= key[i&3]
		}
	}
	return f, nil
}

// readEvent reads the next control frame, or the next whole data message
// as one final frame of its first frame's opcode. Pings and pongs that
// arrive between the frames of a message are returned first, then the
// message, so that what a peer echoes compares the same whether it
// fragments its echo or not; a close frame there is returned at once,
// the unfinished message dropped.
func (p *rawPeer) readEvent(queue *[]wsFrame) (wsFrame, error) {
	if len(*queue) > 0 {
		f := (*queue)[0]
		*queue = (*queue)[1:]
		return f, nil
	}
	var msg *wsFrame
	var held []wsFrame
	for {
		f, err := p.readFrame()
		if err != nil {
			return f, err
		}
		if f.op >= 0x8 {
			if msg == nil || f.op == opClose {
				return f, nil // a close ends what was under way
			}
			held = append(held, f)
			continue
		}
		if msg == nil {
			if f.op == opCont {
				return f, fmt.Errorf("%w: a continuation frame starts a message", errBadFrame)
			}
			msg = &f
		} else {
			if f.op != opCont {
				return f, fmt.Errorf("%w: opcode %#x inside a fragmented message", errBadFrame, f.op)
			}
			msg.payload = append(msg.payload, f.payload...)
		}
		if f.fin {
			msg.fin = true
			if len(held) > 0 {
				*queue = append(held[1:], *msg)
				return held[0], nil
			}
			return *msg, nil
		}
	}
}

// closeCode returns the code of a close frame's payload, 1005 for an
// empty one.
func closeCode(f wsFrame) uint16 {
	if len(f.payload) < 2 {
		return 1005
	}
	return binary.BigEndian.Uint16(f.payload)
}

// expectEOF fails unless the peer closes the connection (EOF or a reset)
// within the deadline, with nothing more sent.
func (p *rawPeer) expectEOF() {
	p.t.Helper()
	p.conn.SetReadDeadline(time.Now().Add(deadline))
	n, err := io.Copy(io.Discard, p.br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		p.t.Fatalf("the peer did not close the TCP connection within %v", deadline)
	}
	if n > 0 {
		p.t.Errorf("the peer sent %d bytes after its close frame", n)
	}
}

// dialRaw opens a raw client connection to addr and runs the opening
// handshake with the extra header lines given ("Name: value\r\n"). It
// fails the test unless the answer is 101 with the right accept key, and
// returns the peer and the response.
func dialRaw(t testing.TB, addr string, extra ...string) (*rawPeer, *http.Response) {
	t.Helper()
	c := rawDial(t, addr)
	c.SetDeadline(time.Now().Add(deadline))
	if _, err := io.WriteString(c, upgradeRequest("/", extra...)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the handshake response: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake answered %s", resp.Status)
	}
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), acceptKey("dGhlIHNhbXBsZSBub25jZQ=="); got != want {
		t.Fatalf("Sec-WebSocket-Accept %q, want %q", got, want)
	}
	c.SetDeadline(time.Time{})
	return &rawPeer{t: t, conn: c, br: br, client: true}, resp
}

// acceptKey computes Sec-WebSocket-Accept for key (RFC 6455 section 4.2.2).
func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// rawServer is a raw WebSocket server on 127.0.0.1: each connection it
// accepts gets the handshake answered with 101 and is handed to the test
// as a rawPeer.
type rawWSServer struct {
	url   string
	peers chan *rawPeer
	// head, if set, makes the 101 response: it gets the accept key and
	// returns the bytes to send. Set it before the first connection.
	head func(accept string) string
}

// listenRaw starts a raw WebSocket server, stopped at cleanup.
func listenRaw(t testing.TB) *rawWSServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawWSServer{url: "ws://" + ln.Addr().String() + "/", peers: make(chan *rawPeer, 4)}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				c.SetDeadline(time.Now().Add(deadline))
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					c.Close()
					return
				}
				head := s.head
				if head == nil {
					head = switching
				}
				io.WriteString(c, head(acceptKey(req.Header.Get("Sec-WebSocket-Key"))))
				c.SetDeadline(time.Time{})
				select {
				case s.peers <- &rawPeer{t: t, conn: c, br: br}:
				case <-done:
				}
			})
		}
	})
	t.Cleanup(func() {
		close(done)
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return s
}

// switching is the usual 101 response.
func switching(accept string) string {
	return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\n"
}

// next returns the next connection the raw server accepted.
func (s *rawWSServer) next(t testing.TB) *rawPeer {
	t.Helper()
	select {
	case p := <-s.peers:
		p.t = t
		return p
	case <-time.After(wait):
		t.Fatal("the raw server accepted no connection")
		return nil
	}
}

// repeat returns s repeated to n bytes.
func repeat(s string, n int) string { return strings.Repeat(s, n/len(s)+1)[:n] }
