package websocket

import "unicode/utf8"

// utf8Stream validates UTF-8 text that arrives in pieces, as the pieces of
// a text message do in PartialMessage mode: a rune split between two
// pieces is carried over and judged once complete. Invalid bytes are found
// in the piece where they occur, never later. The zero value starts a
// message.
type utf8Stream struct {
	carry [utf8.UTFMax]byte
	n     int
}

// feed validates p as the continuation of the text so far. It reports
// false at the first invalid sequence.
func (v *utf8Stream) feed(p []byte) bool {
	if v.n > 0 {
		for len(p) > 0 && !utf8.FullRune(v.carry[:v.n]) {
			v.carry[v.n] = p[0]
			v.n++
			p = p[1:]
		}
		if !utf8.FullRune(v.carry[:v.n]) {
			return true // still one incomplete rune
		}
		if r, size := utf8.DecodeRune(v.carry[:v.n]); r == utf8.RuneError && size <= 1 {
			return false
		}
		v.n = 0
	}
	// An incomplete rune at the end waits for the next piece. FullRune
	// reports an impossible prefix as complete, so it fails below at once.
	cut := len(p)
	for i := len(p) - 1; i >= 0 && i >= len(p)-(utf8.UTFMax-1); i-- {
		if utf8.RuneStart(p[i]) {
			if !utf8.FullRune(p[i:]) {
				cut = i
			}
			break
		}
	}
	if !utf8.Valid(p[:cut]) {
		return false
	}
	v.n = copy(v.carry[:], p[cut:])
	return true
}

// end reports whether the text ended on a rune boundary, and resets v for
// the next message.
func (v *utf8Stream) end() bool {
	ok := v.n == 0
	v.n = 0
	return ok
}
