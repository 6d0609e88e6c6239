package lua

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// unsafeEventData points at the 8 bytes of an epoll_event's data union,
// which x/sys/unix splits into Fd and Pad on amd64 and arm64.
func unsafeEventData(ev *unix.EpollEvent) unsafe.Pointer { return unsafe.Pointer(&ev.Fd) }
