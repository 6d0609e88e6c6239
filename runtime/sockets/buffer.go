package sockets

import "sync"

// Buffer is received data on loan from a pool: WinRT's IBuffer as
// ReadBuffer returns it. Call Release when done with the bytes; they must
// not be used afterwards.
type Buffer struct {
	b    []byte
	pool *sync.Pool
}

// Bytes returns the data. The slice is valid until Release.
func (b *Buffer) Bytes() []byte { return b.b }

// Len returns the number of bytes.
func (b *Buffer) Len() int { return len(b.b) }

// Release returns the buffer to its pool. Release on nil is a no-op.
func (b *Buffer) Release() {
	if b == nil || b.pool == nil {
		return
	}
	b.b = b.b[:cap(b.b)]
	b.pool.Put(b)
}

// bufferSize is the size of a pooled read buffer. Reads asking for more
// get a buffer of their own.
const bufferSize = 16 << 10

// bufferPool holds read buffers of bufferSize bytes. It is a pool of
// scratch buffers, the one kind of package-level state we allow.
var bufferPool = sync.Pool{New: func() any { return &Buffer{b: make([]byte, bufferSize)} }}

// getBuffer returns a buffer of length n.
func getBuffer(n int) *Buffer {
	if n > bufferSize {
		return &Buffer{b: make([]byte, n)}
	}
	b := bufferPool.Get().(*Buffer)
	b.pool = &bufferPool
	b.b = b.b[:n]
	return b
}
