package lua_test

import (
	"bufio"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	lua "github.com/netrun/netrun/bindings/lua"
)

// idleScript accepts connections and parks each one in a read that never
// completes, printing a count every 1000.
const idleScript = `
local net = require("netrun")
local count = 0
local listener = net.StreamSocketListener.new()
listener.ConnectionReceived:add(function(_, args)
	count = count + 1
	if count % 1000 == 0 then print("conns " .. count) end
	local s = args.Socket
	local data = s.InputStream:ReadAsync(1024):await()
	s:Close()
end)
listener:BindEndpointAsync("127.0.0.1", "0"):await()
print("listening " .. listener.Information.LocalPort)
`

// TestIdleMemoryChild is the host half of BenchmarkIdleConnectionRSS: it
// runs only in the child process the benchmark starts.
func TestIdleMemoryChild(t *testing.T) {
	if os.Getenv("NETRUN_IDLE_CHILD") == "" {
		t.Skip("run by BenchmarkIdleConnectionRSS")
	}
	dir := t.TempDir()
	path := dir + "/idle.lua"
	os.WriteFile(path, []byte(idleScript), 0o644)
	e, err := lua.NewEngine(lua.EngineOptions{Logger: slog.New(slog.DiscardHandler), Stdout: os.Stdout})
	if err != nil {
		t.Fatal(err)
	}
	s, err := e.Start(path, lua.ScriptOptions{Workers: 1})
	if err != nil {
		t.Fatal(lua.ErrorText(err))
	}
	defer s.Stop()
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if n, ok := strings.CutPrefix(in.Text(), "parked "); ok {
			want, _ := strconv.Atoi(n)
			for e.ParkedReads() < want {
				time.Sleep(10 * time.Millisecond)
			}
			fmt.Println("parked")
			continue
		}
		switch in.Text() {
		case "rss":
			runtime.GC()
			debug.FreeOSMemory()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			fmt.Printf("mem heap=%d stack=%d goroutines=%d\n", ms.HeapInuse, ms.StackInuse, runtime.NumGoroutine())
			fmt.Printf("rss %d\n", vmRSS(t))
		case "quit":
			return
		}
	}
}

func vmRSS(t testing.TB) int {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return kb * 1024
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// BenchmarkIdleConnectionRSS measures the resident memory an idle
// connection held by a Lua script costs the host: a child process runs the
// script, this process opens 15,000 connections to it, and the growth of
// the child's RSS (after a GC) is divided by the count.
func BenchmarkIdleConnectionRSS(b *testing.B) {
	const conns = 15000
	// The clients (here) and the host (the child) each hold one end of
	// every connection, so each process needs conns descriptors.
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	if lim.Cur < conns+500 {
		lim.Cur = max(lim.Max, conns+500)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			b.Skipf("cannot raise the descriptor limit to %d: %v", lim.Cur, err)
		}
	}
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestIdleMemoryChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "NETRUN_IDLE_CHILD=1")
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		lines := bufio.NewScanner(stdout)
		next := func(prefix string) string {
			for lines.Scan() {
				if strings.HasPrefix(lines.Text(), prefix) {
					return strings.TrimPrefix(lines.Text(), prefix)
				}
			}
			b.Fatalf("child ended before printing %q", prefix)
			return ""
		}
		port := next("listening ")
		fmt.Fprintln(stdin, "rss")
		b.Logf("before: %s", next("mem "))
		before, _ := strconv.Atoi(next("rss "))
		var held []net.Conn
		for j := 0; j < conns; j++ {
			c, err := net.Dial("tcp4", "127.0.0.1:"+port)
			if err != nil {
				b.Fatalf("connection %d: %v", j, err)
			}
			held = append(held, c)
		}
		next(fmt.Sprintf("conns %d", conns))
		fmt.Fprintf(stdin, "parked %d\n", conns)
		next("parked")
		fmt.Fprintln(stdin, "rss")
		b.Logf("after: %s", next("mem "))
		after, _ := strconv.Atoi(next("rss "))
		b.ReportMetric(float64(after-before)/conns, "B/conn")
		b.ReportMetric(float64(after)/(1<<20), "MiB-total")
		for _, c := range held {
			c.Close()
		}
		fmt.Fprintln(stdin, "quit")
		cmd.Wait()
	}
}
