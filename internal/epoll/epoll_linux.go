// Package epoll holds what netrun's own epoll waiters share (the control
// channels' poller in runtime/trigger and the Lua binding's parker of idle
// connections): an epoll instance with an eventfd in it, through which
// another goroutine wakes the goroutine blocked in EpollWait.
package epoll

import "golang.org/x/sys/unix"

// WakeToken is the event data of the eventfd's events (the Fd and Pad of
// a unix.EpollEvent read as one uint64): waiters that store a token of
// their own in each descriptor's event data use tokens other than 0.
const WakeToken = 0

// NewWithWaker returns a new epoll descriptor and an eventfd registered in
// it for reading, with the event data [WakeToken]: a write to wakefd
// ([Wake]) makes EpollWait on epfd return. Both are close-on-exec; the
// caller closes both.
func NewWithWaker() (epfd, wakefd int, err error) {
	epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return -1, -1, err
	}
	wakefd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return -1, -1, err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return -1, -1, err
	}
	return epfd, wakefd, nil
}

// Wake makes the EpollWait on the epoll descriptor wakefd belongs to
// return, now or at its next call.
func Wake(wakefd int) {
	unix.Write(wakefd, []byte{1, 0, 0, 0, 0, 0, 0, 0})
}
