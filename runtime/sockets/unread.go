package sockets

import (
	"context"
	"net"
)

// Unread puts p in front of the bytes the next reads return, so that they
// read p first and then the connection. It waits for the reads in
// progress to return, and fails only if ctx ends first, the socket is
// closed, or it is not connected. p is copied.
//
// It is for the socket broker (runtime/trigger), which reads a socket it
// holds and hands it back with the bytes that arrived meanwhile; a netrun
// extension. The bytes are returned by InputStream's Read, ReadBuffer and
// ReadBufferIdle, and by the net.Conn NetConn returns.
func (in *InputStream) Unread(ctx context.Context, p []byte) error {
	const op = "StreamSocket.InputStream.Unread"
	s := in.s
	if len(p) == 0 {
		return nil
	}
	if err := s.readLock.Lock(ctx); err != nil {
		return ctxError(ctx, op, "", err)
	}
	defer s.readLock.Unlock()
	if _, _, err := s.ioConn(op, s.cancelGen.Load()); err != nil {
		return err
	}
	s.unread = append(append(make([]byte, 0, len(p)+len(s.unread)), p...), s.unread...)
	return nil
}

// takeUnread copies unread bytes into p and reports how many. The caller
// holds the read lock.
func (s *StreamSocket) takeUnread(p []byte) int {
	n := copy(p, s.unread)
	s.unread = s.unread[n:]
	if len(s.unread) == 0 {
		s.unread = nil
	}
	return n
}

// unreadBuffer returns up to count unread bytes in a pooled buffer, or nil
// if there are none. The caller holds the read lock.
func (s *StreamSocket) unreadBuffer(count int) *Buffer {
	if len(s.unread) == 0 {
		return nil
	}
	b := getBuffer(min(count, len(s.unread), bufferSize))
	b.b = b.b[:s.takeUnread(b.b)]
	return b
}

// prefixConn is a net.Conn whose reads return p before the connection's
// bytes: NetConn's result while unread bytes are pending.
type prefixConn struct {
	net.Conn
	p []byte
}

func (c *prefixConn) Read(b []byte) (int, error) {
	if len(c.p) > 0 {
		n := copy(b, c.p)
		c.p = c.p[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}
