package trigger_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/netrun/netrun/runtime/sockets"
	"github.com/netrun/netrun/runtime/trigger"
)

// TestControlChannelScale measures many control channels with keep-alive
// on one host: the RSS each costs and the CPU they use while idle. It
// runs only when NETRUN_SCALE is set to the number of channels, since it
// takes minutes and thousands of descriptors:
//
//	NETRUN_SCALE=10000 go test -run ControlChannelScale -v -timeout 20m ./runtime/trigger/
//
// NETRUN_SCALE_MINUTES sets the keep-alive interval (default 1 minute, so
// that every channel's keep-alive fires during the window; WinRT's least
// is 15), and NETRUN_SCALE_WINDOW how long CPU is measured (default 2m).
// The peer holding the other ends runs in a process of its own (this test
// binary again), so that the figures are the host's alone and each
// process stays within its descriptor limit. Results go to the log, for
// docs/benchmarks.md.
func TestControlChannelScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("NETRUN_SCALE"))
	if n <= 0 {
		t.Skip("set NETRUN_SCALE to the number of channels to run the scale measurement")
	}
	minutes := 1.0
	if v, err := strconv.ParseFloat(os.Getenv("NETRUN_SCALE_MINUTES"), 64); err == nil {
		minutes = v
	}
	window := 2 * time.Minute
	if v, err := time.ParseDuration(os.Getenv("NETRUN_SCALE_WINDOW")); err == nil {
		window = v
	}

	peer := exec.Command(os.Args[0], "-test.run=^TestScalePeer$")
	peer.Env = append(os.Environ(), "NETRUN_SCALE_PEER=1")
	peer.Stderr = os.Stderr
	stdin, _ := peer.StdinPipe()
	stdout, _ := peer.StdoutPipe()
	if err := peer.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		peer.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("peer: %v", err)
	}
	port := strings.TrimSpace(strings.TrimPrefix(line, "port "))

	b := trigger.NewBroker(trigger.Options{})
	defer b.Close()
	var keepAlives, resets atomic.Int64
	start := time.Now()
	runtime.GC()
	rss0 := rss(t)
	socks := make([]*sockets.StreamSocket, 0, n)
	chans := make([]*trigger.ControlChannelTrigger, 0, n)
	defer func() {
		for _, c := range chans {
			c.Close()
		}
		for _, s := range socks {
			s.Close()
		}
	}()
	for i := 0; i < n; i++ {
		c, err := b.NewControlChannelTrigger("scale-"+strconv.Itoa(i), minutes, trigger.RequestSoftwareSlot)
		if err != nil {
			t.Fatal(err)
		}
		chans = append(chans, c)
		c.KeepAliveTrigger().Add(func(*trigger.ControlChannelTriggerEventDetails) { keepAlives.Add(1) })
		c.ResetTrigger().Add(func(d *trigger.ControlChannelTriggerResetEventDetails) {
			if resets.Add(1) <= 3 {
				t.Logf("reset at %v: %v", time.Since(start).Round(time.Millisecond), d.Err)
			}
		})
		s := sockets.NewStreamSocket()
		socks = append(socks, s)
		c.UsingTransport(s)
		if err := s.Connect(testCtx(t), loopback(t), port, sockets.PlainSocket); err != nil {
			t.Fatalf("connect %d: %v", i, err)
		}
		if st, err := c.WaitForPushEnabled(); err != nil || st != trigger.SoftwareSlotAllocated {
			t.Fatalf("channel %d: %v, %v", i, st, err)
		}
	}
	setup := time.Since(start)
	runtime.GC()
	rss1 := rss(t)

	// Idle: measure the process's CPU time over the window while the
	// keep-alives come.
	keepAlives.Store(0)
	cpu0, wall0 := cpuTime(t), time.Now()
	time.Sleep(window)
	cpu1, wall1 := cpuTime(t), time.Now()
	cpuPct := 100 * float64(cpu1-cpu0) / float64(wall1.Sub(wall0))
	live := 0
	for _, c := range chans {
		if c.Status() == trigger.SoftwareSlotAllocated {
			live++
		}
	}
	perChannel := float64(rss1-rss0) / float64(n)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("%d channels over loopback StreamSockets, keep-alive every %v minutes, set up in %v", n, minutes, setup.Round(time.Millisecond))
	t.Logf("RSS %.1f MiB before, %.1f MiB after: %.0f bytes (%.2f KiB) per channel; heap in use %.1f MiB, %d goroutines",
		float64(rss0)/(1<<20), float64(rss1)/(1<<20), perChannel, perChannel/1024, float64(ms.HeapInuse)/(1<<20), runtime.NumGoroutine())
	t.Logf("idle CPU over %v: %.3f%% of one core; %d keep-alives raised (%.1f/s)",
		window, cpuPct, keepAlives.Load(), float64(keepAlives.Load())/wall1.Sub(wall0).Seconds())
	t.Logf("%d channels live at the end, %d resets", live, resets.Load())
	if live != n {
		t.Errorf("%d of %d channels lost their transport", n-live, n)
	}
	if perChannel > 8<<10 {
		t.Errorf("%.0f bytes of RSS per channel, over the 8 KiB goal", perChannel)
	}
	if cpuPct > 2 {
		t.Errorf("idle CPU %.2f%% of one core, over the 2%% goal", cpuPct)
	}
}

// TestScalePeer is the far end for TestControlChannelScale, run in a
// process of its own: it accepts connections and holds them, without a
// goroutine each, until its stdin closes.
func TestScalePeer(t *testing.T) {
	if os.Getenv("NETRUN_SCALE_PEER") == "" {
		t.Skip("the peer process of TestControlChannelScale")
	}
	// No TCP keep-alive of the peer's own (Go's default for accepted
	// connections): only the host's is measured.
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	fmt.Printf("port %s\n", port)
	done := make(chan int)
	go func() {
		var held []net.Conn
		for {
			c, err := ln.Accept()
			if err != nil {
				for _, c := range held {
					c.Close()
				}
				done <- len(held)
				return
			}
			held = append(held, c)
		}
	}()
	os.Stdin.Read(make([]byte, 1))
	ln.Close()
	fmt.Fprintf(os.Stderr, "scale peer: held %d connections\n", <-done)
}

// rss returns the process's resident set size in bytes.
func rss(t testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// cpuTime returns the user and system CPU time the process has used.
func cpuTime(t testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
