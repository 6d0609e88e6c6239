package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	lua "github.com/netrun/netrun/bindings/lua"
	"github.com/netrun/netrun/internal/echobench"
)

const (
	benchUsage = "[-mode tcp|udp|ws|plugin] [-conns N] [-size BYTES] [-duration D] [-rounds N] [-workers N]"
	benchDoc   = "drive an echo workload through a raw-Go server and a Lua script in one run, and print msgs/s, latency and the ratio Lua/raw"
	benchHelp  = `Both servers run in this process on 127.0.0.1: a raw-Go echo server (net.Conn,
net.UDPConn, or for ws coder/websocket's Accept behind net/http) and netrun's
Lua echo script (for ws, a ServerMessageWebSocket echo; messages are binary). The same client load (conns
connections, each with one message of size bytes in flight) is run against
each for duration, alternating raw and Lua rounds times, so both see the same
machine. It prints msgs/s, p50 and p99 round-trip latency of each, and the
ratio of Lua's msgs/s to raw Go's.

-mode plugin runs the TCP echo through a third server too: the first-party
echo plugin, a process of its own (this binary re-executed as
"netrun plugin echo") behind the plugin host, and prints its ratio as well.`
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

const luaWSEcho = `
local net = require("netrun")
local listener = net.StreamSocketListener.new()
listener.ConnectionReceived:add(function(_, args)
	local ws = net.ServerMessageWebSocket.AcceptAsync(args.Socket):await()
	ws.MessageReceived:add(function(sender, a)
		local reader = a:GetDataReader()
		sender.Control.MessageType = a.MessageType
		sender.OutputStream:WriteAsync(reader:ReadBytes(reader.UnconsumedBufferLength)):await()
	end)
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
	mode := fs.String("mode", "tcp", "tcp, udp, ws, or plugin (tcp with the echo plugin as a third server)")
	conns := fs.Int("conns", 32, "client connections, each with one message in flight")
	size := fs.Int("size", 64, "message size in bytes")
	duration := fs.Duration("duration", 3*time.Second, "time each server is driven per round")
	rounds := fs.Int("rounds", 2, "rounds of raw then Lua")
	workers := fs.Int("workers", 1, "Lua workers")
	if err := fs.Parse(args); err != nil {
		return &usageError{msg: err.Error()}
	}
	switch {
	case *mode != "tcp" && *mode != "udp" && *mode != "ws" && *mode != "plugin":
		return &usageError{msg: fmt.Sprintf("-mode %q: want tcp, udp, ws or plugin", *mode)}
	case *conns < 1 || *conns > 10000:
		return &usageError{msg: fmt.Sprintf("-conns %d: want 1 to 10000", *conns)}
	case *size < 1 || (*mode == "udp" && *size > 65507) || *size > 16<<20:
		return &usageError{msg: fmt.Sprintf("-size %d: want 1 to %d", *size, map[string]int{"tcp": 16 << 20, "udp": 65507, "ws": 16 << 20, "plugin": 16 << 20}[*mode])}
	case *duration <= 0 || *rounds < 1 || *workers < 1:
		return &usageError{msg: "-duration, -rounds and -workers must be positive"}
	case fs.NArg() > 0:
		return &usageError{msg: "unexpected argument " + fs.Arg(0)}
	}

	withPlugin := *mode == "plugin"
	if withPlugin {
		*mode = "tcp"
	}
	var rawAddr string
	var stopRaw func()
	var err error
	if *mode == "ws" {
		rawAddr, stopRaw, err = echobench.StartRawWS()
	} else {
		rawAddr, stopRaw, err = echobench.StartRaw(*mode)
	}
	if err != nil {
		return err
	}
	defer stopRaw()
	luaAddr, stopLua, err := startLuaEcho(*mode, *workers)
	if err != nil {
		return err
	}
	defer stopLua()
	if *mode == "ws" {
		luaAddr = "ws://" + luaAddr + "/"
	}
	servers := []server{{"raw-go", rawAddr, &result{}}, {"lua", luaAddr, &result{}}}
	if withPlugin {
		plugAddr, stopPlugin, err := startPluginEcho(ctx)
		if err != nil {
			return err
		}
		defer stopPlugin()
		servers = append(servers, server{"plugin", plugAddr, &result{}})
	}

	label := *mode
	if withPlugin {
		label = "tcp with the echo plugin"
	}
	fmt.Fprintf(c.stdout, "netrun bench %s: %d connections, %d-byte messages, %s per round, %d rounds, %d Lua worker(s)\n",
		label, *conns, *size, *duration, *rounds, *workers)
	for r := 0; r < *rounds; r++ {
		for _, sv := range servers {
			if err := sv.res.drive(ctx, *mode, sv.addr, *conns, *size, *duration); err != nil {
				return fmt.Errorf("%s: %w", sv.name, err)
			}
		}
	}
	fmt.Fprintf(c.stdout, "%-8s %12s %10s %10s\n", "server", "msgs/s", "p50", "p99")
	for _, sv := range servers {
		fmt.Fprintf(c.stdout, "%-8s %12.0f %10s %10s\n", sv.name, sv.res.rate(), sv.res.hist.Quantile(0.50), sv.res.hist.Quantile(0.99))
	}
	for _, sv := range servers[1:] {
		fmt.Fprintf(c.stdout, "ratio %s/raw: %.2f\n", sv.name, sv.res.rate()/servers[0].res.rate())
	}
	return nil
}

// server is one echo server the benchmark drives.
type server struct {
	name string
	addr string
	res  *result
}

// result accumulates one server's messages, time and latencies.
type result struct {
	msgs    int64
	elapsed time.Duration
	hist    echobench.Histogram
}

// drive runs conns ping-pong clients against addr (a ws:// URL for ws)
// for d and adds what they measured.
func (r *result) drive(ctx context.Context, mode, addr string, conns, size int, d time.Duration) error {
	var clients *echobench.Clients
	var err error
	if mode == "ws" {
		clients, err = echobench.DialWS(addr, conns, size)
	} else {
		clients, err = echobench.Dial(mode, addr, conns, size)
	}
	if err != nil {
		return err
	}
	defer clients.Close()
	n, elapsed, err := clients.Run(ctx, d, &r.hist)
	r.msgs += n
	r.elapsed += elapsed
	return err
}

func (r *result) rate() float64 { return float64(r.msgs) / r.elapsed.Seconds() }

// startLuaEcho runs the Lua echo script in an engine of its own and
// returns the address it listens on.
func startLuaEcho(mode string, workers int) (string, func(), error) {
	dir, err := os.MkdirTemp("", "netrun-bench-")
	if err != nil {
		return "", nil, err
	}
	src := map[string]string{"tcp": luaTCPEcho, "udp": luaUDPEcho, "ws": luaWSEcho}[mode]
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
