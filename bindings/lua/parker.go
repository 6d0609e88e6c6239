package lua

import (
	"log/slog"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netrun/netrun/internal/epoll"
)

// idleAfter is how long a read waits on its own goroutine before it is
// parked: a connection that stays quiet this long gives up its goroutine.
// Busy connections, whose data comes sooner, never park.
const idleAfter = 250 * time.Millisecond

// parker holds reads of quiet connections without a goroutine each: the
// descriptor is registered with an epoll instance, and the read job is run
// again, on a new goroutine, once the kernel reports the descriptor
// readable, hung up or failed. Thousands of idle connections then cost a
// few hundred bytes each instead of a parked goroutine's stack.
//
// One goroutine waits in epoll_wait while anything is parked; it exits
// when nothing is. Registrations are made and removed inside
// RawConn.Control, so a descriptor number is never used after its socket
// closed.
type parker struct {
	log *slog.Logger

	mu      sync.Mutex
	epfd    int // -1 when no waiter runs
	wakefd  int // eventfd that wakes the waiter
	next    uint64
	jobs    map[uint64]*parked
	byConn  map[*lStreamSocket]uint64
	running bool
}

type parked struct {
	v  *vm
	ls *lStreamSocket
	rc syscall.RawConn
	j  job
}

// park registers ls's descriptor and keeps j until it is readable. It
// reports false if it could not (the socket closed meanwhile, or epoll is
// unavailable); the caller then runs j itself.
func (p *parker) park(v *vm, ls *lStreamSocket, j job) bool {
	rc, err := ls.s.SyscallConn()
	if err != nil {
		return false
	}
	p.mu.Lock()
	if err := p.startLocked(); err != nil {
		p.mu.Unlock()
		p.log.Warn("idle connections keep their goroutines: epoll unavailable", "err", err)
		return false
	}
	p.next++
	token := p.next
	p.jobs[token] = &parked{v: v, ls: ls, rc: rc, j: j}
	p.byConn[ls] = token
	epfd := p.epfd
	p.mu.Unlock()

	var cerr error
	err = rc.Control(func(fd uintptr) {
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT}
		*(*uint64)(unsafeEventData(&ev)) = token
		cerr = unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if err == nil {
		err = cerr
	}
	if err != nil {
		p.take(token)
		return false
	}
	return true
}

// startLocked starts the waiter if none runs. p.mu must be held.
func (p *parker) startLocked() error {
	if p.running {
		return nil
	}
	epfd, wakefd, err := epoll.NewWithWaker()
	if err != nil {
		return err
	}
	if p.jobs == nil {
		p.jobs = map[uint64]*parked{}
		p.byConn = map[*lStreamSocket]uint64{}
	}
	p.epfd, p.wakefd, p.running = epfd, wakefd, true
	go p.wait(epfd, wakefd)
	return nil
}

// wait runs the jobs whose descriptors become ready, until nothing is
// parked.
func (p *parker) wait(epfd, wakefd int) {
	events := make([]unix.EpollEvent, 128)
	for {
		n, err := unix.EpollWait(epfd, events, -1)
		if err != nil && err != unix.EINTR {
			p.log.Error("epoll_wait failed; releasing parked reads", "err", err)
			p.releaseAll()
		}
		for _, ev := range events[:max(n, 0)] {
			token := *(*uint64)(unsafeEventData(&ev))
			if token == epoll.WakeToken {
				var b [8]byte
				unix.Read(wakefd, b[:])
				continue
			}
			if e := p.take(token); e != nil {
				e.resume()
			}
		}
		p.mu.Lock()
		if len(p.jobs) == 0 {
			p.running = false
			p.epfd, p.wakefd = -1, -1
			p.mu.Unlock()
			unix.Close(epfd)
			unix.Close(wakefd)
			return
		}
		p.mu.Unlock()
	}
}

// take removes a parked job and its registration. Both system calls run
// under p.mu: the waiter closes its descriptors only after giving them up
// under p.mu, so they are still ours here.
func (p *parker) take(token uint64) *parked {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.jobs[token]
	if e == nil {
		return nil
	}
	delete(p.jobs, token)
	delete(p.byConn, e.ls)
	if p.epfd >= 0 {
		e.rc.Control(func(fd uintptr) { unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil) })
	}
	if len(p.jobs) == 0 && p.wakefd >= 0 {
		epoll.Wake(p.wakefd)
	}
	return e
}

// resume runs a parked job again on a goroutine of its worker.
func (e *parked) resume() { e.v.goDriveIfOpen(e.j) }

// unpark takes ls's parked read, if any, and runs it again at once: after
// a Close or a cancel it then fails as it should.
func (p *parker) unpark(ls *lStreamSocket) {
	p.mu.Lock()
	token, ok := p.byConn[ls]
	p.mu.Unlock()
	if ok {
		if e := p.take(token); e != nil {
			e.resume()
		}
	}
}

// dropVM forgets the parked reads of a stopping worker.
func (p *parker) dropVM(v *vm) {
	p.mu.Lock()
	var tokens []uint64
	for t, e := range p.jobs {
		if e.v == v {
			tokens = append(tokens, t)
		}
	}
	p.mu.Unlock()
	for _, t := range tokens {
		p.take(t)
	}
}

// releaseAll runs every parked job again, when epoll itself fails.
func (p *parker) releaseAll() {
	p.mu.Lock()
	var tokens []uint64
	for t := range p.jobs {
		tokens = append(tokens, t)
	}
	p.mu.Unlock()
	for _, t := range tokens {
		if e := p.take(t); e != nil {
			e.resume()
		}
	}
}
