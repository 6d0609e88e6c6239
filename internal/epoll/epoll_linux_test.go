package epoll

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestWake checks that EpollWait sees nothing before Wake, and the
// eventfd's event, with WakeToken, after it.
func TestWake(t *testing.T) {
	epfd, wakefd, err := NewWithWaker()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(epfd)
	defer unix.Close(wakefd)
	events := make([]unix.EpollEvent, 4)
	if n, err := unix.EpollWait(epfd, events, 0); err != nil || n != 0 {
		t.Fatalf("before Wake: %d events, %v; want none", n, err)
	}
	Wake(wakefd)
	n, err := unix.EpollWait(epfd, events, 5000)
	if err != nil || n != 1 || *(*uint64)(unsafe.Pointer(&events[0].Fd)) != WakeToken || events[0].Events&unix.EPOLLIN == 0 {
		t.Fatalf("after Wake: %d events %+v, %v; want EPOLLIN with WakeToken", n, events[:max(n, 0)], err)
	}
}
