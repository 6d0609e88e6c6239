package sockets

import (
	"context"

	"golang.org/x/sys/unix"
)

// SockoptInt reads an integer socket option of the bound socket, for tests
// that check a Control property reached the kernel.
func (d *DatagramSocket) SockoptInt(level, opt int) (int, error) {
	d.mu.Lock()
	raw := d.raw
	d.mu.Unlock()
	var v int
	var err error
	if cerr := raw.Control(func(fd uintptr) { v, err = unix.GetsockoptInt(int(fd), level, opt) }); cerr != nil {
		return 0, cerr
	}
	return v, err
}

// Unread returns the size of the next datagram waiting in the kernel's
// receive queue, 0 if none.
func (d *DatagramSocket) Unread() (int, error) {
	d.mu.Lock()
	raw := d.raw
	d.mu.Unlock()
	var v int
	var err error
	if cerr := raw.Control(func(fd uintptr) { v, err = unix.IoctlGetInt(int(fd), unix.SIOCINQ) }); cerr != nil {
		return 0, cerr
	}
	return v, err
}

// Refused returns how many datagrams the Guard refused.
func (d *DatagramSocket) Refused() uint64 { return d.refused.Load() }

// HoldWrites takes the socket's write queue, so that writes issued
// meanwhile wait, and returns the function that lets them go.
func (d *DatagramSocket) HoldWrites() (release func()) {
	if err := d.writeLock.Lock(context.Background()); err != nil {
		panic(err)
	}
	return d.writeLock.Unlock
}

// WritesIssued returns how many writes, flushes and CancelIO calls have
// reached the write queue.
func (d *DatagramSocket) WritesIssued() int {
	return int(d.writeLock.Entered())
}
