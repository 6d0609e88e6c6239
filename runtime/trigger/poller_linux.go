package trigger

import (
	"log/slog"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/netrun/netrun/internal/epoll"
)

// poller tells control channels when their transports receive data or
// drop, without a goroutine per transport: each transport's descriptor is
// registered, edge-triggered, with one epoll instance, and one goroutine
// waits in epoll_wait while anything is watched.
//
// The registration asks for EPOLLOUT besides EPOLLIN, on purpose. epoll
// checks a descriptor's readiness again when it hands out an event, and
// drops the event if nothing it asked for is ready then; a guest that
// keeps a read posted (as WinRT asks) takes the bytes before that, so an
// EPOLLIN-only registration would see almost nothing. A connected socket
// is writable, so with EPOLLOUT in the mask every wakeup is delivered; and
// TCP wakes writers only after a full send buffer drains, so the owner's
// own writes cost no events. What happened is then read from TCP_INFO
// (see sockState): the bytes received so far, and the connection's state.
//
// Registrations are made and removed inside RawConn.Control, so a
// descriptor number is never used after its socket closed; a socket that
// closes leaves the epoll set by itself.
type poller struct {
	log *slog.Logger
	wg  *sync.WaitGroup // the broker's

	mu      sync.Mutex // guards the fields below
	epfd    int        // -1 when no waiter runs
	wakefd  int        // eventfd that wakes the waiter
	next    uint64
	watches map[uint64]*watch
}

// watch is one registered descriptor and what to call on its events.
type watch struct {
	rc syscall.RawConn
	fn func()
}

func newPoller(log *slog.Logger, wg *sync.WaitGroup) *poller {
	return &poller{log: log, wg: wg, epfd: -1, wakefd: -1}
}

// add watches rc and calls fn, on the poller's goroutine, when bytes
// arrive or the connection ends, and possibly at other times (once when
// the watch starts, when a full send buffer drains); fn must find out
// what happened, and return soon. It returns the token that removes the
// watch.
func (p *poller) add(rc syscall.RawConn, fn func()) (uint64, error) {
	p.mu.Lock()
	if err := p.startLocked(); err != nil {
		p.mu.Unlock()
		return 0, err
	}
	p.next++
	token := p.next
	p.watches[token] = &watch{rc: rc, fn: fn}
	epfd := p.epfd
	p.mu.Unlock()

	var cerr error
	err := rc.Control(func(fd uintptr) {
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET}
		*(*uint64)(unsafe.Pointer(&ev.Fd)) = token
		cerr = unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if err == nil {
		err = cerr
	}
	if err != nil {
		p.remove(token)
		return 0, err
	}
	return token, nil
}

// remove stops watching token's descriptor; fn may still be running, or
// about to run once, when it returns. Both system calls run under p.mu:
// the waiter closes its descriptors only after giving them up under p.mu.
func (p *poller) remove(token uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.watches[token]
	if w == nil {
		return
	}
	delete(p.watches, token)
	if p.epfd >= 0 {
		w.rc.Control(func(fd uintptr) { unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil) })
	}
	if len(p.watches) == 0 && p.wakefd >= 0 {
		epoll.Wake(p.wakefd)
	}
}

// startLocked starts the waiter if none runs. p.mu must be held.
func (p *poller) startLocked() error {
	if p.epfd >= 0 {
		return nil
	}
	epfd, wakefd, err := epoll.NewWithWaker()
	if err != nil {
		return err
	}
	if p.watches == nil {
		p.watches = map[uint64]*watch{}
	}
	p.epfd, p.wakefd = epfd, wakefd
	p.wg.Add(1)
	go p.wait(epfd, wakefd)
	return nil
}

// wait reports events until nothing is watched.
func (p *poller) wait(epfd, wakefd int) {
	defer p.wg.Done()
	events := make([]unix.EpollEvent, 128)
	for {
		n, err := unix.EpollWait(epfd, events, -1)
		if err != nil && err != unix.EINTR {
			p.log.Error("epoll_wait failed; control channels no longer see pushes", "err", err)
			p.mu.Lock()
			clear(p.watches)
			p.mu.Unlock()
		}
		for _, ev := range events[:max(n, 0)] {
			token := *(*uint64)(unsafe.Pointer(&ev.Fd))
			if token == epoll.WakeToken {
				var b [8]byte
				unix.Read(wakefd, b[:])
				continue
			}
			p.mu.Lock()
			w := p.watches[token]
			p.mu.Unlock()
			if w != nil {
				w.fn()
			}
		}
		p.mu.Lock()
		if len(p.watches) == 0 {
			p.epfd, p.wakefd = -1, -1
			p.mu.Unlock()
			unix.Close(epfd)
			unix.Close(wakefd)
			return
		}
		p.mu.Unlock()
	}
}

// sockState reads, without waiting, how many bytes the socket behind rc
// has received in its life (tcpi_bytes_received) and whether its
// connection has left the established state: the peer closed it, reset
// it, or it failed. It fails if the socket is closed.
func sockState(rc syscall.RawConn) (received uint64, ended bool, err error) {
	cerr := rc.Control(func(fd uintptr) {
		var ti *unix.TCPInfo
		ti, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		if err == nil {
			received, ended = ti.Bytes_received, ti.State != tcpEstablished
		}
	})
	if cerr != nil {
		return 0, true, cerr
	}
	return received, ended, err
}

// tcpEstablished is TCP_ESTABLISHED, tcpi_state of an open connection.
const tcpEstablished = 1

// setTCPKeepAlive turns TCP keep-alive on for the socket behind rc, with
// probes after idle seconds of silence, every interval seconds, three of
// them before the connection is dropped.
func setTCPKeepAlive(rc syscall.RawConn, idle, interval int) error {
	var err error
	cerr := rc.Control(func(fd uintptr) {
		for _, o := range [...]struct{ level, opt, v int }{
			{unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
			{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, idle},
			{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, interval},
			{unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 3},
		} {
			if err = unix.SetsockoptInt(int(fd), o.level, o.opt, o.v); err != nil {
				return
			}
		}
	})
	if cerr != nil {
		return cerr
	}
	return err
}
