package sockets

import "golang.org/x/sys/unix"

// SockoptInt reads an integer socket option of the connection, for tests
// that check a Control property reached the kernel.
func (s *StreamSocket) SockoptInt(level, opt int) (int, error) {
	s.mu.Lock()
	raw := s.raw
	s.mu.Unlock()
	var v int
	var err error
	if cerr := raw.Control(func(fd uintptr) { v, err = unix.GetsockoptInt(int(fd), level, opt) }); cerr != nil {
		return 0, cerr
	}
	return v, err
}

// ListenerSockoptInt reads an integer socket option of the first
// listening socket.
func (l *StreamSocketListener) SockoptInt(level, opt int) (int, error) {
	l.mu.Lock()
	ln := l.listeners[0]
	l.mu.Unlock()
	raw, err := ln.SyscallConn()
	if err != nil {
		return 0, err
	}
	var v int
	if cerr := raw.Control(func(fd uintptr) { v, err = unix.GetsockoptInt(int(fd), level, opt) }); cerr != nil {
		return 0, cerr
	}
	return v, err
}

// WritesIssued returns how many writes and flushes have reached the write
// queue.
func (s *StreamSocket) WritesIssued() int {
	return int(s.writeLock.Entered())
}

// ReadPending reports whether a read holds the read lock.
func (s *StreamSocket) ReadPending() bool {
	return s.readLock.Held()
}

// Unread returns the bytes waiting in the kernel's receive queue.
func (s *StreamSocket) Unread() (int, error) {
	return s.SockoptIoctl(unix.SIOCINQ)
}

// SockoptIoctl runs an integer ioctl on the connection's descriptor.
func (s *StreamSocket) SockoptIoctl(req uint) (int, error) {
	s.mu.Lock()
	raw := s.raw
	s.mu.Unlock()
	var v int
	var err error
	if cerr := raw.Control(func(fd uintptr) { v, err = unix.IoctlGetInt(int(fd), req) }); cerr != nil {
		return 0, cerr
	}
	return v, err
}
