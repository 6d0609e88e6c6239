package websocket

import (
	"encoding/binary"
	"strconv"
	"unicode/utf8"
)

// inbound follows the frames a connection receives, ahead of
// coder/websocket, to enforce two rules of RFC 6455 the library does not:
//
//   - A client must fail the connection on a masked frame from the server
//     (section 5.1); the library reads it, payload still masked.
//   - A close frame's reason must be UTF-8 (sections 5.5.1 and 8.1); the
//     library echoes any reason back (Autobahn case 7.5.1).
//
// The frame that breaks a rule is withheld from the library: check
// returns only the bytes before it, and the wire's next read fails with
// the error, so the library never acts on the frame and the reader ends
// on a protocol error, which closes the connection with 1002.
//
// A client's wire also carries the handshake response, so a client's
// inbound first skips HTTP response heads up to the 101's; a server's
// wire starts at the first frame (the request is read before it).
type inbound struct {
	client bool
	state  inboundState
	err    error // the violation found; sticky

	// inHead: the current line's length and the head's first bytes,
	// which hold the status code ("HTTP/1.1 101").
	line   int
	headN  int
	status [12]byte

	// inFrames: the header being read, then the payload left.
	hdr       [14]byte
	hdrN      int
	remaining int64
	// a close frame's payload, collected to check its reason
	collect bool
	key     [4]byte
	masked  bool
	body    [125]byte
	bodyN   int
}

// opClose is the close frame's opcode (RFC 6455 section 5.2).
const opClose byte = 0x8

type inboundState uint8

const (
	inFrames inboundState = iota // the zero value: a server's
	inHead                       // a client's, until the 101 response ends
	inOff                        // not a WebSocket (the handshake failed)
)

// inboundError is a rule of RFC 6455 broken by a received frame that
// coder/websocket has not seen.
type inboundError struct{ why string }

func (e *inboundError) Error() string { return e.why }

func newInbound(client bool) inbound {
	if client {
		return inbound{client: true, state: inHead}
	}
	return inbound{}
}

// check follows p, the next bytes received, and returns how many of them
// may go to the library: all of them, or those before a frame that
// breaks a rule, in which case in.err is set.
func (in *inbound) check(p []byte) int {
	start := 0 // where the current frame began in p (0: before p)
	for i := 0; i < len(p); {
		switch {
		case in.state == inOff || in.err != nil:
			return len(p)
		case in.state == inHead:
			i += in.head(p[i:])
			start = i
		case in.remaining > 0:
			k := int(min(in.remaining, int64(len(p)-i)))
			if in.collect {
				in.bodyN += copy(in.body[in.bodyN:], p[i:i+k])
			}
			i += k
			in.remaining -= int64(k)
			if in.remaining == 0 && !in.endFrame() {
				return start
			}
		default:
			if in.hdrN == 0 {
				start = i
			}
			in.hdr[in.hdrN] = p[i]
			in.hdrN++
			i++
			if in.hdrN == 2 && in.client && in.hdr[1]&0x80 != 0 {
				in.err = &inboundError{"the server sent a masked frame, which RFC 6455 forbids"}
				return start
			}
			if in.hdrN < 2 || in.hdrN < headerLen(in.hdr[1]) {
				continue
			}
			in.remaining = payloadLen(in.hdr[:in.hdrN])
			in.collect = in.hdr[0]&0x0F == opClose && in.remaining <= int64(len(in.body))
			in.masked = in.hdr[1]&0x80 != 0
			if in.masked {
				copy(in.key[:], in.hdr[in.hdrN-4:in.hdrN])
			}
			in.hdrN, in.bodyN = 0, 0
			if in.remaining == 0 && !in.endFrame() {
				return start
			}
		}
	}
	return len(p)
}

// endFrame checks the frame whose payload has just ended.
func (in *inbound) endFrame() bool {
	if !in.collect {
		return true
	}
	in.collect = false
	body := in.body[:in.bodyN]
	if in.masked {
		for i := range body {
			body[i] ^= in.key[i&3]
		}
	}
	if len(body) > 2 && !utf8.Valid(body[2:]) {
		in.err = &inboundError{"the close frame's reason (code " +
			strconv.Itoa(int(binary.BigEndian.Uint16(body))) + ") is not valid UTF-8"}
		return false
	}
	return true
}

// head follows the HTTP response heads at the start of p, as
// net/textproto reads them (lines end in LF, CR before it optional), and
// returns how many bytes they took. After a 101 the frames begin; after
// another 1xx another head follows; after anything else there is no
// WebSocket to check.
func (in *inbound) head(p []byte) int {
	for i, b := range p {
		if in.headN < len(in.status) {
			in.status[in.headN] = b
		}
		in.headN++
		switch b {
		case '\r':
		case '\n':
			if in.line > 0 {
				in.line = 0
				continue
			}
			code := ""
			if in.headN >= len(in.status) {
				code = string(in.status[9:12])
			}
			switch {
			case code == "101":
				in.state = inFrames
			case code != "" && code[0] == '1':
				in.headN = 0
				continue
			default:
				in.state = inOff
			}
			return i + 1
		default:
			in.line++
		}
	}
	return len(p)
}
