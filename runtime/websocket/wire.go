package websocket

import (
	"crypto/rand"
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"
)

// wire is the connection coder/websocket reads and writes: the socket's
// net.Conn, with two hooks the library has no API for.
//
// Writes: once the handshake is done, wire follows the frames the library
// writes (their headers give each payload's length), so that an
// unsolicited pong (DesiredUnsolicitedPongInterval) is put on the wire
// only between two frames, never inside one the library has half written.
//
// Reads: beforeRead, if set, runs once before the next read from the
// network. PartialMessage delivery uses it to learn that the rest of a
// message is not here yet. Everything read goes through in, which
// enforces the rules the library does not check (inbound.go).
type wire struct {
	net.Conn
	client bool // frames we add must be masked

	wmu       sync.Mutex // serialises writes; guards the fields below
	tracking  bool       // the handshake is done: what is written is frames
	hdr       [14]byte   // the header being written, as far as seen
	hdrN      int
	remaining int64 // payload bytes of the current frame not written yet
	pongDue   bool  // a pong waits for the next frame boundary

	beforeRead atomic.Pointer[func()]

	rmu     sync.Mutex // serialises reads; guards the fields below
	pending []byte     // a server's bytes read past the request, read first
	in      inbound
}

func newWire(c net.Conn, client bool) *wire {
	return &wire{Conn: c, client: client, in: newInbound(client)}
}

// track starts following frames; call it once the handshake is done.
func (w *wire) track() {
	w.wmu.Lock()
	w.tracking = true
	w.wmu.Unlock()
}

// Read reads the pending bytes, else from the network, first running
// beforeRead if it is set. It stops short of a frame that breaks a rule
// the library does not check, and then fails with that error.
func (w *wire) Read(p []byte) (int, error) {
	w.rmu.Lock()
	defer w.rmu.Unlock()
	if w.in.err != nil {
		return 0, w.in.err
	}
	var n int
	var err error
	if len(w.pending) > 0 {
		n = copy(p, w.pending)
		w.pending = w.pending[n:]
	} else {
		if f := w.beforeRead.Swap(nil); f != nil {
			(*f)()
		}
		n, err = w.Conn.Read(p)
	}
	if k := w.in.check(p[:n]); k < n {
		if k == 0 {
			return 0, w.in.err
		}
		return k, nil
	}
	return n, err
}

// Write writes the library's bytes, slipping a due pong in at the first
// frame boundary.
func (w *wire) Write(p []byte) (int, error) {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	if !w.tracking {
		return w.Conn.Write(p)
	}
	written := 0
	for {
		if w.pongDue && w.atBoundary() {
			if err := w.writePongLocked(); err != nil {
				return written, err
			}
		}
		if len(p) == 0 {
			return written, nil
		}
		n := w.advance(p, w.pongDue)
		m, err := w.Conn.Write(p[:n])
		written += m
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
}

// pong sends an unsolicited pong with an empty payload now if no frame is
// half written, else at the end of that frame.
func (w *wire) pong() error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	if !w.tracking {
		return nil
	}
	if !w.atBoundary() {
		w.pongDue = true
		return nil
	}
	return w.writePongLocked()
}

func (w *wire) writePongLocked() error {
	w.pongDue = false
	frame := [6]byte{0x80 | opPong, 0x00} // FIN, empty payload
	n := 2
	if w.client {
		frame[1] = 0x80 // masked, as every client frame must be
		rand.Read(frame[2:6])
		n = 6
	}
	_, err := w.Conn.Write(frame[:n])
	return err
}

// Frame opcodes (RFC 6455 section 5.2).
const (
	opContinuation byte = 0x0
	opText         byte = 0x1
	opBinary       byte = 0x2
	opPong         byte = 0xA
)

// writeFrame writes one data frame: a piece of a message the library's
// writer would hold back. It goes through Write, so the frame tracking
// sees it like the library's frames.
func (w *wire) writeFrame(fin bool, opcode byte, p []byte) error {
	var hdr [14]byte
	hdr[0] = opcode
	if fin {
		hdr[0] |= 0x80
	}
	var maskBit byte
	if w.client {
		maskBit = 0x80
	}
	n := 2
	switch {
	case len(p) < 126:
		hdr[1] = maskBit | byte(len(p))
	case len(p) <= 0xFFFF:
		hdr[1] = maskBit | 126
		binary.BigEndian.PutUint16(hdr[2:], uint16(len(p)))
		n = 4
	default:
		hdr[1] = maskBit | 127
		binary.BigEndian.PutUint64(hdr[2:], uint64(len(p)))
		n = 10
	}
	buf := make([]byte, 0, n+4+len(p))
	if w.client {
		var key [4]byte
		rand.Read(key[:])
		buf = append(append(buf, hdr[:n]...), key[:]...)
		for i, b := range p {
			buf = append(buf, b^key[i&3])
		}
	} else {
		buf = append(append(buf, hdr[:n]...), p...)
	}
	_, err := w.Write(buf)
	return err
}

func (w *wire) atBoundary() bool { return w.hdrN == 0 && w.remaining == 0 }

// advance follows the frames in p and returns how many bytes of p to
// write: all of them, or, if stop is set, those up to the first frame
// boundary it reaches.
func (w *wire) advance(p []byte, stop bool) int {
	i := 0
	for i < len(p) {
		if w.remaining > 0 {
			k := min(int64(len(p)-i), w.remaining)
			i += int(k)
			w.remaining -= k
			if w.remaining == 0 && stop {
				return i
			}
			continue
		}
		w.hdr[w.hdrN] = p[i]
		w.hdrN++
		i++
		if w.hdrN >= 2 && w.hdrN == headerLen(w.hdr[1]) {
			w.remaining = payloadLen(w.hdr[:w.hdrN])
			w.hdrN = 0
			if w.remaining == 0 && stop {
				return i
			}
		}
	}
	return i
}

// headerLen returns the length of a frame header from its second byte:
// 2, plus 2 or 8 for an extended length, plus 4 for a mask key.
func headerLen(b1 byte) int {
	n := 2
	switch b1 & 0x7F {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&0x80 != 0 {
		n += 4
	}
	return n
}

// payloadLen returns the payload length a complete frame header gives.
func payloadLen(h []byte) int64 {
	switch l := h[1] & 0x7F; l {
	case 126:
		return int64(binary.BigEndian.Uint16(h[2:4]))
	case 127:
		return int64(binary.BigEndian.Uint64(h[2:10]) & (1<<63 - 1))
	default:
		return int64(l)
	}
}
