package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	lua "github.com/netrun/netrun/bindings/lua"
)

const (
	benchUsage = "[-mode tcp|udp] [-conns N] [-size BYTES] [-duration D] [-rounds N] [-workers N]"
	benchDoc   = "drive an echo workload through a raw-Go server and a Lua script in one run, and print msgs/s, latency and the ratio Lua/raw"
	benchHelp  = `Both servers run in this process on 127.0.0.1: a raw-Go echo server (net.Conn or
net.UDPConn) and netrun's Lua echo script. The same client load (conns
connections, each with one message of size bytes in flight) is run against
each for duration, alternating raw and Lua rounds times, so both see the same
machine. It prints msgs/s, p50 and p99 round-trip latency of each, and the
ratio of Lua's msgs/s to raw Go's.`
)

// luaTCPEcho and luaUDPEcho are the scripts the benchmark runs: the same
// echo loops a user would write.
const luaTCPEcho = `
local net = require("netrun")
local listener = net.StreamSocketListener.new()
listener.ConnectionReceived:add(function(_, args)
	local s = args.Socket
	local input, output = s.InputStream, s.OutputStream
	while true do
		local data = input:ReadAsync(65536):await()
		if data == "" then break end
		output:WriteAsync(data):await()
	end
	s:Close()
end)
listener:BindEndpointAsync("127.0.0.1", "0"):await()
print("listening " .. listener.Information.LocalPort)
`

const luaUDPEcho = `
local net = require("netrun")
local socket = net.DatagramSocket.new()
socket.MessageReceived:add(function(sender, args)
	local out = sender:GetOutputStreamAsync(args.RemoteAddress, args.RemotePort):await()
	local reader = args:GetDataReader()
	out:WriteAsync(reader:ReadBytes(reader.UnconsumedBufferLength)):await()
end)
socket:BindEndpointAsync("127.0.0.1", "0"):await()
print("listening " .. socket.Information.LocalPort)
`

// bench is "netrun bench".
func (c *cli) bench(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	mode := fs.String("mode", "tcp", "tcp or udp")
	conns := fs.Int("conns", 32, "client connections, each with one message in flight")
	size := fs.Int("size", 64, "message size in bytes")
	duration := fs.Duration("duration", 3*time.Second, "time each server is driven per round")
	rounds := fs.Int("rounds", 2, "rounds of raw then Lua")
	workers := fs.Int("workers", 1, "Lua workers")
	if err := fs.Parse(args); err != nil {
		return &usageError{msg: err.Error()}
	}
	switch {
	case *mode != "tcp" && *mode != "udp":
		return &usageError{msg: fmt.Sprintf("-mode %q: want tcp or udp", *mode)}
	case *conns < 1 || *conns > 10000:
		return &usageError{msg: fmt.Sprintf("-conns %d: want 1 to 10000", *conns)}
	case *size < 1 || (*mode == "udp" && *size > 65507) || *size > 16<<20:
		return &usageError{msg: fmt.Sprintf("-size %d: want 1 to %d", *size, map[string]int{"tcp": 16 << 20, "udp": 65507}[*mode])}
	case *duration <= 0 || *rounds < 1 || *workers < 1:
		return &usageError{msg: "-duration, -rounds and -workers must be positive"}
	case fs.NArg() > 0:
		return &usageError{msg: "unexpected argument " + fs.Arg(0)}
	}

	rawAddr, stopRaw, err := startRawEcho(*mode)
	if err != nil {
		return err
	}
	defer stopRaw()
	luaAddr, stopLua, err := startLuaEcho(*mode, *workers)
	if err != nil {
		return err
	}
	defer stopLua()

	fmt.Fprintf(c.stdout, "netrun bench %s: %d connections, %d-byte messages, %s per round, %d rounds, %d Lua worker(s)\n",
		*mode, *conns, *size, *duration, *rounds, *workers)
	var raw, lu result
	for r := 0; r < *rounds; r++ {
		for _, side := range []struct {
			addr string
			res  *result
		}{{rawAddr, &raw}, {luaAddr, &lu}} {
			res, err := drive(ctx, *mode, side.addr, *conns, *size, *duration)
			if err != nil {
				return err
			}
			side.res.add(res)
		}
	}
	tw := c.stdout
	fmt.Fprintf(tw, "%-8s %12s %10s %10s\n", "server", "msgs/s", "p50", "p99")
	for _, row := range []struct {
		name string
		r    *result
	}{{"raw-go", &raw}, {"lua", &lu}} {
		fmt.Fprintf(tw, "%-8s %12.0f %10s %10s\n", row.name, row.r.rate(), row.r.quantile(0.50), row.r.quantile(0.99))
	}
	fmt.Fprintf(tw, "ratio lua/raw: %.2f\n", lu.rate()/raw.rate())
	return nil
}

// result accumulates one server's messages and latencies.
type result struct {
	msgs    int64
	elapsed time.Duration
	hist    histogram
}

func (r *result) add(o *result) {
	r.msgs += o.msgs
	r.elapsed += o.elapsed
	r.hist.merge(&o.hist)
}

func (r *result) rate() float64 { return float64(r.msgs) / r.elapsed.Seconds() }

func (r *result) quantile(q float64) time.Duration { return r.hist.quantile(q) }

// histogram counts latencies in buckets that grow by 5%, from 1 µs to
// about 10 s: enough to read p50 and p99 to within 5% without keeping
// every sample.
type histogram struct{ counts [340]int64 }

const histBase = 1.05

func (h *histogram) record(d time.Duration) {
	us := float64(d) / float64(time.Microsecond)
	i := 0
	if us > 1 {
		i = int(math.Log(us) / math.Log(histBase))
	}
	h.counts[min(i, len(h.counts)-1)]++
}

func (h *histogram) merge(o *histogram) {
	for i, n := range o.counts {
		h.counts[i] += n
	}
}

func (h *histogram) quantile(q float64) time.Duration {
	var total int64
	for _, n := range h.counts {
		total += n
	}
	if total == 0 {
		return 0
	}
	want := int64(math.Ceil(q * float64(total)))
	var seen int64
	for i, n := range h.counts {
		seen += n
		if seen >= want {
			us := math.Pow(histBase, float64(i+1))
			return time.Duration(us * float64(time.Microsecond)).Round(time.Microsecond)
		}
	}
	return 0
}

// drive runs conns ping-pong clients against addr for d.
func drive(ctx context.Context, mode, addr string, conns, size int, d time.Duration) (*result, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	results := make([]result, conns)
	errs := make([]error, conns)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < conns; i++ {
		c, err := net.Dial(mode+"4", addr)
		if err != nil {
			return nil, fmt.Errorf("connecting to %s: %w", addr, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			errs[i] = pingPong(ctx, c, size, &results[i])
		}()
	}
	wg.Wait()
	total := &result{elapsed: time.Since(start)}
	for i := range results {
		total.msgs += results[i].msgs
		total.hist.merge(&results[i].hist)
	}
	return total, errors.Join(errs...)
}

// pingPong sends a message, waits for its echo, and repeats until ctx
// ends. A UDP datagram lost on loopback fails the run after a second.
func pingPong(ctx context.Context, c net.Conn, size int, r *result) error {
	out := bytes.Repeat([]byte{'x'}, size)
	in := make([]byte, size+1)
	_, udp := c.(*net.UDPConn)
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	for ctx.Err() == nil {
		t0 := time.Now()
		if _, err := c.Write(out); err != nil {
			return ignoreEnd(ctx, err)
		}
		if udp {
			c.SetReadDeadline(t0.Add(time.Second))
			n, err := c.Read(in)
			if err != nil {
				return ignoreEnd(ctx, err)
			}
			if n != size {
				return fmt.Errorf("echo of %d bytes came back as %d", size, n)
			}
		} else if _, err := io.ReadFull(c, in[:size]); err != nil {
			return ignoreEnd(ctx, err)
		}
		r.hist.record(time.Since(t0))
		r.msgs++
	}
	return nil
}

// ignoreEnd drops the error of the operation the end of the run cut off.
func ignoreEnd(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// startRawEcho starts the raw-Go echo server.
func startRawEcho(mode string) (string, func(), error) {
	var wg sync.WaitGroup
	if mode == "udp" {
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
				buf := make([]byte, 65536)
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

// startLuaEcho runs the Lua echo script in an engine of its own and
// returns the address it listens on.
func startLuaEcho(mode string, workers int) (string, func(), error) {
	dir, err := os.MkdirTemp("", "netrun-bench-")
	if err != nil {
		return "", nil, err
	}
	src := map[string]string{"tcp": luaTCPEcho, "udp": luaUDPEcho}[mode]
	path := filepath.Join(dir, "bench_echo.lua")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	out := &portWatcher{found: make(chan string, 1)}
	e, err := lua.NewEngine(lua.EngineOptions{Logger: slog.New(slog.DiscardHandler), Stdout: out})
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	s, err := e.Start(path, lua.ScriptOptions{Workers: workers})
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, errors.New(lua.ErrorText(err))
	}
	stop := func() { s.Stop(); os.RemoveAll(dir) }
	select {
	case port := <-out.found:
		return "127.0.0.1:" + port, stop, nil
	case <-time.After(10 * time.Second):
		stop()
		return "", nil, errors.New("the Lua echo script did not start listening within 10 s")
	}
}

// portWatcher picks the port out of the script's "listening PORT" line.
type portWatcher struct {
	mu    sync.Mutex
	buf   strings.Builder
	found chan string
	done  bool
}

func (w *portWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.done {
		if _, rest, ok := strings.Cut(w.buf.String(), "listening "); ok {
			if port, _, ok := strings.Cut(rest, "\n"); ok {
				w.done = true
				w.found <- port
			}
		}
	}
	return len(p), nil
}
