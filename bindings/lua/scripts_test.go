package lua_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	lua "github.com/netrun/netrun/bindings/lua"
	"github.com/netrun/netrun/internal/testpeer"
	"github.com/netrun/netrun/runtime/isolation"
	"github.com/netrun/netrun/runtime/sockets"
)

// The tests in this file run the real default scripts of scripts/ as
// `netrun run` does: from their files (so that require finds scripts/lib),
// with only the loopback capability. The scripts listen on fixed ports, so
// these tests never call t.Parallel: two of them must not run at once.

// scriptsDir is the scripts folder, relative to this package.
const scriptsDir = "../../scripts/"

// loopbackEnv is the Env `netrun run` gives the default scripts: only the
// loopback capability.
func loopbackEnv(t testing.TB) *sockets.Env {
	t.Helper()
	caps, err := isolation.ParseCapabilities("loopback")
	if err != nil {
		t.Fatal(err)
	}
	return &sockets.Env{Guard: caps}
}

// startDefault starts scripts/name in the harness's engine with env (nil
// for loopbackEnv) and waits for each of the "listening ..." lines
// given. The script is stopped at cleanup.
func startDefault(t *testing.T, h *harness, name string, env *sockets.Env, listening ...string) *lua.Script {
	t.Helper()
	if env == nil {
		env = loopbackEnv(t)
	}
	s, err := h.engine.Start(scriptsDir+name, lua.ScriptOptions{Env: env})
	if err != nil {
		t.Fatalf("Start %s: %v", name, lua.ErrorText(err))
	}
	t.Cleanup(s.Stop)
	for _, l := range listening {
		h.out.wait(t, l)
	}
	return s
}

// lineConn is a Go client that reads lines in the background.
type lineConn struct {
	net.Conn
	lines chan string
}

func dialLines(t *testing.T, addr string) *lineConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	lc := &lineConn{Conn: c, lines: make(chan string, 1<<16)}
	go func() {
		defer close(lc.lines)
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			lc.lines <- strings.TrimRight(line, "\r\n")
		}
	}()
	return lc
}

func (c *lineConn) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		t.Fatal(err)
	}
}

// expect waits for a line equal to want, skipping others, and returns the
// lines skipped.
func (c *lineConn) expect(t *testing.T, want string) []string {
	t.Helper()
	var skipped []string
	timeout := time.After(10 * time.Second)
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				t.Fatalf("connection ended before %q; got %q", want, skipped)
			}
			if line == want {
				return skipped
			}
			skipped = append(skipped, line)
		case <-timeout:
			t.Fatalf("timed out waiting for %q; got %q", want, skipped)
		}
	}
}

// socatLines runs `socat -t 5 - TCP:addr`, sends input, closes socat's
// stdin and returns what socat printed once it exits.
func socatLines(t *testing.T, addr, input string) string {
	t.Helper()
	sc := testpeer.StartSocat(t, "-t", "5", "-", "TCP:"+addr)
	io.WriteString(sc.Stdin(), input)
	sc.Stdin().Close()
	if err := sc.Wait(); err != nil {
		t.Fatalf("socat: %v", err)
	}
	return sc.Stdout()
}

func TestScriptTCPEcho(t *testing.T) {
	h := newHarness(t, 0)
	startDefault(t, h, "tcp_echo.lua", nil,
		"listening tcp 127.0.0.1:7007 (tcp_echo)", "listening tcp [::1]:7007 (tcp_echo)")

	// socat, over both families.
	for _, addr := range []string{"TCP4:127.0.0.1:7007", "TCP6:[::1]:7007"} {
		sc := testpeer.StartSocat(t, "-", addr)
		for i := range 3 {
			msg := addr + " line " + strconv.Itoa(i)
			io.WriteString(sc.Stdin(), msg+"\n")
			sc.WaitOutput(t, msg)
		}
		sc.Stdin().Close()
		if err := sc.Wait(); err != nil {
			t.Fatalf("socat %s: %v", addr, err)
		}
	}

	// A Go client sends 4 MB while reading: far more than the socket
	// buffers hold, so the script's writes must wait for the client.
	c, err := net.Dial("tcp4", "127.0.0.1:7007")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	payload := make([]byte, 4<<20)
	rand.Read(payload)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(payload)
		c.(*net.TCPConn).CloseWrite()
		errc <- err
	}()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("echoed %d bytes, not the %d sent", len(got), len(payload))
	}
}

func TestScriptChat(t *testing.T) {
	h := newHarness(t, 0)
	startDefault(t, h, "chat.lua", nil, "listening tcp 127.0.0.1:7070 (chat)")

	// Three socat clients. Nicknames are handed out in order of arrival.
	a := testpeer.StartSocat(t, "-", "TCP:127.0.0.1:7070")
	a.WaitOutput(t, "* welcome, guest1;")
	b := testpeer.StartSocat(t, "-", "TCP:127.0.0.1:7070")
	b.WaitOutput(t, "* welcome, guest2;")
	a.WaitOutput(t, "* guest2 joined")
	c := testpeer.StartSocat(t, "-", "TCP:127.0.0.1:7070")
	c.WaitOutput(t, "* welcome, guest3;")
	a.WaitOutput(t, "* guest3 joined")
	b.WaitOutput(t, "* guest3 joined")

	// /nick is announced to everyone, the renamed client included.
	io.WriteString(a.Stdin(), "/nick alice\n")
	for _, sc := range []*testpeer.Socat{a, b, c} {
		sc.WaitOutput(t, "* guest1 is now known as alice")
	}

	// A message reaches the two others, under the new name.
	io.WriteString(a.Stdin(), "hello, room\r\n")
	b.WaitOutput(t, "<alice> hello, room\r\n")
	c.WaitOutput(t, "<alice> hello, room\r\n")
	io.WriteString(c.Stdin(), "hi alice\n")
	a.WaitOutput(t, "<guest3> hi alice")
	b.WaitOutput(t, "<guest3> hi alice")
	// ... but not its sender: a's lines arrive in order, so once the
	// answer to its /who is there, the message would be too.
	io.WriteString(a.Stdin(), "/who\n")
	a.WaitOutput(t, "* here: alice, guest2, guest3")
	if strings.Contains(a.Stdout(), "<alice>") {
		t.Errorf("the sender got its own message:\n%s", a.Stdout())
	}

	// c leaves by closing its side; the others are told, and the
	// script closes c's connection, which ends socat.
	c.Stdin().Close()
	a.WaitOutput(t, "* guest3 left")
	b.WaitOutput(t, "* guest3 left")
	if err := c.Wait(); err != nil {
		t.Fatalf("socat c: %v", err)
	}
	// /quit works too.
	io.WriteString(b.Stdin(), "/quit\n")
	a.WaitOutput(t, "* guest2 left")
	if err := b.Wait(); err != nil {
		t.Fatalf("socat b: %v", err)
	}
}

// TestScriptChatSlowClient shows that a client that stops reading stalls
// no one: the others keep receiving while its queue fills, then it is
// dropped with a notice and its connection closed.
func TestScriptChatSlowClient(t *testing.T) {
	h := newHarness(t, 0)
	startDefault(t, h, "chat.lua", nil, "listening tcp 127.0.0.1:7070 (chat)")

	sender := dialLines(t, "127.0.0.1:7070")
	sender.expect(t, "* welcome, guest1; /nick NAME changes your name, /who lists who is here, /quit leaves")
	reader := dialLines(t, "127.0.0.1:7070")
	reader.expect(t, "* welcome, guest2; /nick NAME changes your name, /who lists who is here, /quit leaves")

	// The slow client never reads, with a small receive buffer so that
	// the script's writes to it block soon.
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return serr
	}}
	slow, err := d.Dial("tcp4", "127.0.0.1:7070")
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	reader.expect(t, "* guest3 joined")

	// The sender talks until the slow client is dropped; the reader
	// must get every line, in order, meanwhile.
	body := strings.Repeat("x", 900)
	dropped := false
	n := 0
	for ; n < 20000 && !dropped; n++ {
		sender.send(t, strconv.Itoa(n)+" "+body)
		for _, line := range reader.expect(t, "<guest1> "+strconv.Itoa(n)+" "+body) {
			if line == "* guest3 was dropped: not reading" {
				dropped = true
			} else {
				t.Fatalf("reader got %q before line %d", line, n)
			}
		}
	}
	if !dropped {
		// The notice may follow the last line.
		reader.expect(t, "* guest3 was dropped: not reading")
	}
	t.Logf("the slow client was dropped after %d lines", n)
	sender.expect(t, "* guest3 was dropped: not reading")

	// The room goes on.
	sender.send(t, "still here")
	reader.expect(t, "<guest1> still here")

	// The script closed the slow client's connection: reading it ends
	// (EOF or a reset) rather than waiting.
	slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.Copy(io.Discard, slow)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the dropped client's connection was not closed")
	}
}

// hangingPort returns a loopback port whose listener never accepts and
// whose accept queue is full, so that a new connect gets no answer.
func hangingPort(t *testing.T) int {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	port := sa.(*syscall.SockaddrInet4).Port
	// Fill the queue: with a backlog of 0, Linux queues one connection.
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp4", "127.0.0.1:"+strconv.Itoa(port), 500*time.Millisecond)
		if err != nil {
			break
		}
		t.Cleanup(func() { c.Close() })
		if i > 8 {
			t.Skip("the kernel keeps accepting connections into a full queue")
		}
	}
	return port
}

func TestScriptPortCheck(t *testing.T) {
	open, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	openAddr := open.Addr().String()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	ln.Close()

	h := newHarness(t, 0)
	startDefault(t, h, "port_check.lua", nil, "listening tcp 127.0.0.1:7071 (port_check)")

	out := socatLines(t, "127.0.0.1:7071",
		openAddr+" "+closedAddr+"\n192.0.2.1:80 [::1]:"+strings.Split(closedAddr, ":")[1]+" nonsense\n")
	for _, want := range []string{
		openAddr + " open\r\n",
		closedAddr + " closed\r\n",
		// Only loopback is granted: the connect is refused before any
		// packet leaves.
		"192.0.2.1:80 error AccessDenied\r\n",
		"nonsense error InvalidArgument\r\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("port_check's answers lack %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "[::1]:") {
		t.Errorf("no answer for the IPv6 target:\n%s", out)
	}
}

// TestScriptPortCheckTimeout shows the checks running concurrently: a
// target that never answers times out after the script's 3 seconds, and
// the open port asked after it on the same line is answered first.
func TestScriptPortCheckTimeout(t *testing.T) {
	hang := "127.0.0.1:" + strconv.Itoa(hangingPort(t))
	open, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()

	h := newHarness(t, 0)
	startDefault(t, h, "port_check.lua", nil, "listening tcp 127.0.0.1:7071 (port_check)")
	c := dialLines(t, "127.0.0.1:7071")
	start := time.Now()
	c.send(t, hang+" "+open.Addr().String())
	if skipped := c.expect(t, open.Addr().String()+" open"); len(skipped) > 0 {
		t.Fatalf("answers before the open port's: %q", skipped)
	}
	c.expect(t, hang+" error ConnectionTimedOut")
	if d := time.Since(start); d < 2*time.Second {
		t.Errorf("the hanging connect timed out after %v, before the script's 3 s", d)
	}
}

func TestScriptHTTPHello(t *testing.T) {
	h := newHarness(t, 0)
	startDefault(t, h, "http_hello.lua", nil, "listening tcp 127.0.0.1:7080 (http_hello)")

	// Go's HTTP client (speaking HTTP/1.1, answered in HTTP/1.0).
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://127.0.0.1:7080/some/path?q=1")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || string(body) != "hello from netrun; you asked for /some/path?q=1\n" ||
		resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("GET: %s %q %v", resp.Status, body, resp.Header)
	}
	resp, err = client.Head("http://127.0.0.1:7080/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != int64(len("hello from netrun; you asked for /\n")) {
		t.Errorf("HEAD: %s, Content-Length %d", resp.Status, resp.ContentLength)
	}
	req, _ := http.NewRequest("DELETE", "http://127.0.0.1:7080/", nil)
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Errorf("DELETE: %s, want 405", resp.Status)
	}

	// socat with a hand-written HTTP/1.0 request, and a malformed one.
	out := socatLines(t, "127.0.0.1:7080", "GET /hi HTTP/1.0\r\nHost: x\r\n\r\n")
	if !strings.HasPrefix(out, "HTTP/1.0 200 OK\r\n") || !strings.HasSuffix(out, "\r\n\r\nhello from netrun; you asked for /hi\n") {
		t.Errorf("socat GET got %q", out)
	}
	out = socatLines(t, "127.0.0.1:7080", "HELLO\r\n\r\n")
	if !strings.HasPrefix(out, "HTTP/1.0 400 Bad Request\r\n") {
		t.Errorf("socat malformed request got %q", out)
	}
}

func TestScriptTLSProbe(t *testing.T) {
	ca := testpeer.NewCA(t, "probe CA")
	trusted := testpeer.StartTLSServer(t, testpeer.TLSServerOptions{Leaf: ca.Issue(t, testpeer.LeafOptions{})})
	selfSigned := testpeer.StartTLSServer(t, testpeer.TLSServerOptions{Leaf: testpeer.SelfSigned(t, testpeer.LeafOptions{})})
	wrongName := testpeer.StartTLSServer(t, testpeer.TLSServerOptions{Leaf: testpeer.SelfSigned(t,
		testpeer.LeafOptions{DNSNames: []string{"elsewhere.example"}, IPs: []net.IP{}})})
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := ln.Addr().String()
	ln.Close()

	// Trust the test CA, as a host would with its own roots.
	env := loopbackEnv(t)
	env.RootCAs = ca.Pool
	h := newHarness(t, 0)
	startDefault(t, h, "tls_probe.lua", env, "listening tcp 127.0.0.1:7072 (tls_probe)")

	c := dialLines(t, "127.0.0.1:7072")
	check := func(target, prefix string, contains ...string) {
		t.Helper()
		c.send(t, target)
		var line string
		select {
		case line = <-c.lines:
		case <-time.After(15 * time.Second):
			t.Fatalf("no answer for %s", target)
		}
		if !strings.HasPrefix(line, target+" "+prefix) {
			t.Errorf("probe %s: got %q, want it to begin with %q", target, line, target+" "+prefix)
		}
		for _, s := range contains {
			if !strings.Contains(line, s) {
				t.Errorf("probe %s: got %q, want it to contain %q", target, line, s)
			}
		}
	}
	check(trusted.Addr, "ok errors=none severity=None", "subject=CN=localhost")
	// The retry flow: the first connect fails on the untrusted root, the
	// script ignores exactly that and connects again.
	check(selfSigned.Addr, "ok errors=Untrusted severity=Ignorable ignored=yes", "subject=CN=localhost")
	check(wrongName.Addr, "ok errors=", "InvalidName", "Untrusted", "severity=Ignorable ignored=yes")
	check(refused, "failed ConnectionRefused")
	check("192.0.2.1:443", "failed AccessDenied")
	// openssl saw the retried handshakes succeed.
	selfSigned.WaitOutput(t, "CONNECTION ESTABLISHED")
}
