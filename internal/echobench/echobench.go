// Package echobench holds what netrun's echo benchmarks compare against:
// raw-Go echo servers written directly on net.Conn and net.UDPConn, and
// the ping-pong clients that drive both them and netrun's servers. The
// runtime's and the Lua binding's `go test -bench` benchmarks and
// `netrun bench` all use it, so every ratio is measured the same way.
package echobench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// StartRaw starts the raw-Go echo server for network ("tcp" or "udp") on
// 127.0.0.1 and returns its address and the function that stops it and
// waits for its goroutines. TCP serves each connection on a goroutine of
// its own; UDP answers from one goroutine.
func StartRaw(network string) (addr string, stop func(), err error) {
	var wg sync.WaitGroup
	switch network {
	case "udp":
		pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return "", nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 65536)
			for {
				n, from, err := pc.ReadFromUDPAddrPort(buf)
				if err != nil {
					return
				}
				pc.WriteToUDPAddrPort(buf[:n], from)
			}
		}()
		return pc.LocalAddr().String(), func() { pc.Close(); wg.Wait() }, nil
	case "tcp":
	default:
		return "", nil, fmt.Errorf("echobench: network %q: want tcp or udp", network)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				buf := make([]byte, 16<<10)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					if _, err := c.Write(buf[:n]); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), func() {
		ln.Close()
		mu.Lock()
		for c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}, nil
}

// Clients are connections to an echo server, each keeping one message of
// size bytes in flight: it sends, waits for the echo, and sends again.
type Clients struct {
	conns []net.Conn
	size  int
}

// Dial opens conns connections ("tcp") or connected sockets ("udp") to
// addr.
func Dial(network, addr string, conns, size int) (*Clients, error) {
	c := &Clients{size: size}
	for i := 0; i < conns; i++ {
		conn, err := net.Dial(network+"4", addr)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("echobench: connecting to %s: %w", addr, err)
		}
		c.conns = append(c.conns, conn)
	}
	return c, nil
}

// Close closes every connection.
func (c *Clients) Close() {
	for _, conn := range c.conns {
		conn.Close()
	}
}

// Round sends msgs messages on every connection and returns how long that
// took.
func (c *Clients) Round(msgs int) (time.Duration, error) {
	start := time.Now()
	_, err := c.run(context.Background(), msgs, nil)
	return time.Since(start), err
}

// Run drives every connection until d has passed and returns the messages
// echoed and how long it took, adding each round trip's latency to hist if
// it is not nil.
func (c *Clients) Run(ctx context.Context, d time.Duration, hist *Histogram) (int64, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	n, err := c.run(ctx, -1, hist)
	return n, time.Since(start), err
}

// run drives every connection, each for msgs messages (msgs < 0: until ctx
// ends), and returns how many were echoed.
func (c *Clients) run(ctx context.Context, msgs int, hist *Histogram) (int64, error) {
	var wg sync.WaitGroup
	counts := make([]int64, len(c.conns))
	hists := make([]Histogram, len(c.conns))
	errs := make([]error, len(c.conns))
	for i, conn := range c.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			counts[i], errs[i] = pingPong(ctx, conn, c.size, msgs, &hists[i])
		}()
	}
	wg.Wait()
	var total int64
	for i := range counts {
		total += counts[i]
		if hist != nil {
			hist.Merge(&hists[i])
		}
	}
	return total, errors.Join(errs...)
}

// pingPong sends a message and waits for its echo, msgs times or, if msgs
// is negative, until ctx ends. A UDP datagram lost on loopback (none is
// expected) fails it after a second rather than hanging.
func pingPong(ctx context.Context, c net.Conn, size, msgs int, hist *Histogram) (int64, error) {
	out := bytes.Repeat([]byte{'x'}, size)
	in := make([]byte, size+1)
	_, udp := c.(*net.UDPConn)
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
		defer func() {
			if !stop() {
				c.SetDeadline(time.Time{})
			}
		}()
	}
	var n int64
	for msgs < 0 || n < int64(msgs) {
		if ctx.Err() != nil {
			return n, nil
		}
		t0 := time.Now()
		if _, err := c.Write(out); err != nil {
			return n, cutOff(ctx, err)
		}
		if udp {
			c.SetReadDeadline(t0.Add(time.Second))
			got, err := c.Read(in)
			if err != nil {
				return n, cutOff(ctx, err)
			}
			if got != size {
				return n, fmt.Errorf("echobench: a %d-byte datagram came back as %d bytes", size, got)
			}
		} else if _, err := io.ReadFull(c, in[:size]); err != nil {
			return n, cutOff(ctx, err)
		}
		hist.Record(time.Since(t0))
		n++
	}
	return n, nil
}

// cutOff drops the error of an operation the end of a timed run cut off.
func cutOff(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Compare runs n rounds through raw and through other, alternating which
// goes first so that drift of the machine hits both alike, after one
// warm-up round each, and returns the total time each took.
func Compare(n int, raw, other func() time.Duration) (rawTime, otherTime time.Duration) {
	raw()
	other()
	for i := 0; i < n; i++ {
		if i%2 == 0 {
			rawTime += raw()
			otherTime += other()
		} else {
			otherTime += other()
			rawTime += raw()
		}
	}
	return rawTime, otherTime
}
