package testpeer

import (
	"io"
	"testing"
)

// EchoPattern writes total pattern bytes to w, in writes of 1,000 bytes
// from a goroutine of its own, reads total bytes back from r, and fails
// tb unless every byte came back once and in order: the check of tests
// that move an echoed connection between owners while it streams. It
// returns once the writer has finished.
func EchoPattern(tb testing.TB, w io.Writer, r io.Reader, total int) {
	tb.Helper()
	data := make([]byte, total)
	for i := range data {
		data[i] = byte(i*13 + i/256)
	}
	wrote := make(chan error, 1)
	go func() {
		for p := data; len(p) > 0; p = p[min(len(p), 1000):] {
			if _, err := w.Write(p[:min(len(p), 1000)]); err != nil {
				wrote <- err
				return
			}
		}
		wrote <- nil
	}()
	got := make([]byte, total)
	_, rerr := io.ReadFull(r, got)
	if err := <-wrote; err != nil {
		tb.Fatalf("writing the pattern: %v", err)
	}
	if rerr != nil {
		tb.Fatalf("reading the echo: %v", rerr)
	}
	for i := range got {
		if got[i] != data[i] {
			tb.Fatalf("byte %d came back as %d, want %d: lost or reordered", i, got[i], data[i])
		}
	}
}
