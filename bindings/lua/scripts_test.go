package lua_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	glua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"

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

// waitCount waits until the output holds substr n times.
func waitCount(t *testing.T, o *output, substr string, n int) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		o.mu.Lock()
		s, ch := o.buf.String(), o.changed
		o.mu.Unlock()
		if strings.Count(s, substr) >= n {
			return
		}
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("timed out waiting for %d times %q in the script's output:\n%s", n, substr, s)
		}
	}
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

	// Many targets on one line: the answers, written by many tasks,
	// arrive one whole line each.
	var targets, want []string
	for i := range 40 {
		if i%2 == 0 {
			targets = append(targets, openAddr)
			want = append(want, openAddr+" open")
		} else {
			targets = append(targets, closedAddr)
			want = append(want, closedAddr+" closed")
		}
	}
	got := strings.Split(strings.TrimSuffix(socatLines(t, "127.0.0.1:7071", strings.Join(targets, " ")+"\n"), "\r\n"), "\r\n")
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("40 checks answered\n%q\nwant\n%q", got, want)
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

func TestScriptUDPEcho(t *testing.T) {
	h := newHarness(t, 0)
	startDefault(t, h, "udp_echo.lua", nil,
		"listening udp 127.0.0.1:7007 (udp_echo)", "listening udp [::1]:7007 (udp_echo)")

	// socat sends each line as one datagram and prints the replies.
	for _, addr := range []string{"UDP4:127.0.0.1:7007", "UDP6:[::1]:7007"} {
		sc := testpeer.StartSocat(t, "-", addr)
		for i := range 3 {
			msg := addr + " datagram " + strconv.Itoa(i)
			io.WriteString(sc.Stdin(), msg+"\n")
			sc.WaitOutput(t, msg)
		}
		sc.Kill()
	}

	// A Go client: binary payloads, empty to near the UDP maximum, each
	// echoed whole to the port it came from.
	c, err := net.Dial("udp4", "127.0.0.1:7007")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 65536)
	for _, size := range []int{1, 512, 1472, 9000, 60000} {
		payload := make([]byte, size)
		rand.Read(payload)
		if _, err := c.Write(payload); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		if !bytes.Equal(buf[:n], payload) {
			t.Fatalf("sent %d bytes, got back %d different ones", size, n)
		}
	}
}

// kvClient speaks framed_kv's protocol.
type kvClient struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialKV(t *testing.T) *kvClient {
	t.Helper()
	c, err := net.Dial("tcp4", "127.0.0.1:7073")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return &kvClient{t: t, c: c, r: bufio.NewReader(c)}
}

func kvFrame(op byte, key, value string) []byte {
	b := []byte{op, byte(len(key) >> 8), byte(len(key))}
	b = append(b, key...)
	if op == 'P' {
		b = binary.BigEndian.AppendUint32(b, uint32(len(value)))
		b = append(b, value...)
	}
	return b
}

// do sends one request and returns the response's status and value.
func (k *kvClient) do(op byte, key, value string) (byte, string) {
	k.t.Helper()
	if _, err := k.c.Write(kvFrame(op, key, value)); err != nil {
		k.t.Fatal(err)
	}
	return k.response()
}

func (k *kvClient) response() (byte, string) {
	k.t.Helper()
	head := make([]byte, 5)
	if _, err := io.ReadFull(k.r, head); err != nil {
		k.t.Fatalf("reading a response: %v", err)
	}
	value := make([]byte, binary.BigEndian.Uint32(head[1:]))
	if _, err := io.ReadFull(k.r, value); err != nil {
		k.t.Fatalf("reading a value: %v", err)
	}
	return head[0], string(value)
}

func TestScriptFramedKV(t *testing.T) {
	h := newHarness(t, 0)
	startDefault(t, h, "framed_kv.lua", nil, "framed_kv: 0 keys in store", "listening tcp 127.0.0.1:7073 (framed_kv)")

	k := dialKV(t)
	binaryValue := string([]byte{0, 1, 2, 0xff, '\r', '\n', 0})
	big := strings.Repeat("0123456789abcdef", 64<<10) // 1 MB, the limit
	for _, step := range []struct {
		op          byte
		key, value  string
		status      byte
		wantedValue string
	}{
		{'G', "missing", "", 1, ""},
		{'P', "greeting", "hello", 0, ""},
		{'G', "greeting", "", 0, "hello"},
		{'P', "bin", binaryValue, 0, ""},
		{'G', "bin", "", 0, binaryValue},
		{'P', "", "empty key", 0, ""},
		{'G', "", "", 0, "empty key"},
		{'P', "big", big, 0, ""},
		{'G', "big", "", 0, big},
		{'D', "big", "", 0, ""},
		{'D', "big", "", 1, ""},
		{'G', "big", "", 1, ""},
	} {
		status, value := k.do(step.op, step.key, step.value)
		if status != step.status || value != step.wantedValue {
			t.Fatalf("%c %q: status %d, %d bytes; want %d, %d bytes", step.op, step.key, status, len(value), step.status, len(step.wantedValue))
		}
	}

	// Pipelined requests, written in one go, answered in order.
	var batch []byte
	for i := range 50 {
		batch = append(batch, kvFrame('P', "k"+strconv.Itoa(i), strconv.Itoa(i*i))...)
		batch = append(batch, kvFrame('G', "k"+strconv.Itoa(i), "")...)
	}
	if _, err := k.c.Write(batch); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if status, _ := k.response(); status != 0 {
			t.Fatalf("pipelined put %d: status %d", i, status)
		}
		if status, value := k.response(); status != 0 || value != strconv.Itoa(i*i) {
			t.Fatalf("pipelined get %d: status %d, %q", i, status, value)
		}
	}

	// socat runs the example of the script's comment, byte for byte.
	out := socatLines(t, "127.0.0.1:7073", "P\x00\x01k\x00\x00\x00\x02hiG\x00\x01k")
	if out != "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02hi" {
		t.Errorf("the comment's example got %q", out)
	}

	// A bad request is answered 2, and the connection closed.
	bad := dialKV(t)
	if status, _ := bad.do('X', "k", ""); status != 2 {
		t.Errorf("unknown op: status %d, want 2", status)
	}
	if _, err := bad.r.ReadByte(); err != io.EOF {
		t.Errorf("after a bad request: %v, want EOF", err)
	}
	if _, err := bad.c.Write(append([]byte{'P', 0xff, 0xff}, make([]byte, 100)...)); err != nil {
		t.Fatal(err)
	}
	tooLong := dialKV(t)
	if status, _ := tooLong.do('P', strings.Repeat("k", 1025), "v"); status != 2 {
		t.Errorf("a key over 1024 bytes: status %d, want 2", status)
	}
}

// getA asks framed_kv for "a" on a new connection and checks the answer.
func getA() error {
	c, err := net.Dial("tcp4", "127.0.0.1:7073")
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(kvFrame('G', "a", "")); err != nil {
		return err
	}
	resp := make([]byte, 10)
	if _, err := io.ReadFull(c, resp); err != nil {
		return err
	}
	if string(resp) != "\x00\x00\x00\x00\x05alpha" {
		return fmt.Errorf("got %q", resp)
	}
	return nil
}

// TestScriptFramedKVReload reloads framed_kv as the host does on an edit:
// the new version starts with the old one's net.state while the old one
// still runs, takes over its listening socket, and the old one drains.
// The store survives, and no connect is refused in between.
func TestScriptFramedKVReload(t *testing.T) {
	h := newHarness(t, 0)
	v1 := startDefault(t, h, "framed_kv.lua", nil, "framed_kv: 0 keys in store", "listening tcp 127.0.0.1:7073 (framed_kv)")
	k := dialKV(t)
	k.do('P', "a", "alpha")
	k.do('P', "b", "beta")
	k.do('P', "gone", "x")
	k.do('D', "gone", "")
	k.c.Close()

	// Clients keep connecting and reading "a" throughout the reload.
	stop := make(chan struct{})
	stopLoad := sync.OnceFunc(func() { close(stop) })
	defer stopLoad() // on a failure before the end, too
	errc := make(chan error, 1)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				if n == 0 {
					errc <- errors.New("no request was made during the reload")
				} else {
					errc <- nil
				}
				return
			default:
			}
			if err := getA(); err != nil {
				errc <- fmt.Errorf("request %d during the reload: %w", n, err)
				return
			}
			n++
		}
	}()

	s, err := h.engine.Start(scriptsDir+"framed_kv.lua", lua.ScriptOptions{Env: loopbackEnv(t), State: v1.State()})
	if err != nil {
		t.Fatalf("reload: %v", lua.ErrorText(err))
	}
	t.Cleanup(s.Stop)
	h.out.wait(t, "framed_kv: 2 keys in store")
	waitCount(t, h.out, "listening tcp 127.0.0.1:7073 (framed_kv)", 2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	v1.Drain(ctx)
	cancel()
	stopLoad()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}

	k2 := dialKV(t)
	for key, want := range map[string]string{"a": "alpha", "b": "beta"} {
		if status, value := k2.do('G', key, ""); status != 0 || value != want {
			t.Errorf("after the reload, %q: status %d, %q; want %q", key, status, value, want)
		}
	}
	if status, _ := k2.do('G', "gone", ""); status != 1 {
		t.Errorf("after the reload, the deleted key: status %d, want 1", status)
	}
}

// TestDocExamplesCompile compiles every Lua block of docs/lua.md, so the
// reference's examples stay valid Lua.
func TestDocExamplesCompile(t *testing.T) {
	doc, err := os.ReadFile("../../docs/lua.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```lua\n(.*?)```").FindAllSubmatch(doc, -1)
	if len(blocks) < 10 {
		t.Fatalf("found only %d Lua blocks in docs/lua.md", len(blocks))
	}
	for i, b := range blocks {
		chunk, err := parse.Parse(bytes.NewReader(b[1]), "docs/lua.md block "+strconv.Itoa(i+1))
		if err == nil {
			_, err = glua.Compile(chunk, "block")
		}
		if err != nil {
			t.Errorf("docs/lua.md Lua block %d does not compile: %v\n%s", i+1, err, b[1])
		}
	}
}

// TestDocClaims checks what docs/lua.md says about the smaller classes
// (HostName, EndpointPair, Vector, Operation, DataWriter without a
// stream, SocketError) by running it.
func TestDocClaims(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()

	h := newHarness(t, 0)
	h.start(t, "claims.lua", `
local net = require("netrun")
local h = net.HostName.new("::1")
print("hostname", h.Type == net.HostNameType.Ipv6, h.CanonicalName, tostring(h), h.IPInformation)
print("compare", net.HostName.Compare("a.example", "b.example"), h:IsEqual("::1"))

local listener = net.StreamSocketListener.new()
listener.ConnectionReceived:add(function(_, args)
	print("accepted from", tostring(args.Socket.Information.RemoteAddress))
	args.Socket:Close()
end)
print("port before bind", "[" .. listener.Information.LocalPort .. "]")
listener:BindEndpointAsync("127.0.0.1", "0"):await()
local port = listener.Information.LocalPort

local s = net.StreamSocket.new()
s:ConnectAsync(net.EndpointPair.new("127.0.0.2", "", "127.0.0.1", port)):await()
print("connected from", tostring(s.Information.LocalAddress))
s:Close()
s:Close()

local v = net.StreamSocket.new().Control.IgnorableServerCertificateErrors
v:Append(net.ChainValidationResult.Untrusted)
v:Append(net.ChainValidationResult.Expired)
local size = v.Size
local first = v:GetAt(0)
v:RemoveAt(0)
local rest = v:ToTable()
v:Clear()
print("vector", size, first, #rest, rest[1], v.Size)
print("fatal", pcall(function() v:Append(net.ChainValidationResult.Revoked) end))

local failing = net.StreamSocket.new():ConnectAsync("127.0.0.1", "`+closedPort+`")
local ok, err = pcall(function() failing:await() end)
print("failed op", ok, failing.Status == net.AsyncStatus.Error, failing.ErrorCode.Status, err.Status,
	string.format("0x%08X", err.HResult), tostring(err):match("^%a+"), pcall(function() return failing:GetResults() end))

local timer = net.sleepAsync(60)
local ok1, err1 = pcall(function() return timer:GetResults() end)
timer:Cancel()
local ok2, err2 = pcall(function() timer:await() end)
print("timer", string.format("0x%08X", err1.HResult), timer.Status == net.AsyncStatus.Canceled, ok2,
	net.SocketError.GetStatus(err2) == net.SocketErrorStatus.OperationAborted)
local done = net.sleepAsync(0)
done:await()
local seen
done.Completed = function(op, status) seen = status end
net.sleep(0)
print("completed after the end", seen == net.AsyncStatus.Completed, done:GetResults())

local pairs_ = net.StreamSocket.GetEndpointPairsAsync("127.0.0.1", "80"):await()
print("pairs", #pairs_ >= 1, tostring(pairs_[1].RemoteHostName), pairs_[1].RemoteServiceName)

local w = net.DataWriter.new()
w:WriteUInt16(258)
print("writer", w:WriteString("hi"), w.UnstoredBufferLength, w:DetachBuffer() == "\1\2hi", w.UnstoredBufferLength)
print("getstatus", net.SocketError.GetStatus(0x8007274D) == net.SocketErrorStatus.ConnectionRefused,
	net.SocketError.GetStatus("a string") == net.SocketErrorStatus.Unknown)

local co = coroutine.create(function() net.sleep(0) end)
local cok, cerr = coroutine.resume(co)
print("coroutine", cok, string.format("0x%08X", cerr.HResult))
print("bad arg", pcall(function() net.StreamSocket.new():ConnectAsync("127.0.0.1", 80) end))
print("done")
`, 1, nil)
	out := h.out.wait(t, "done")
	for _, want := range []string{
		"hostname\ttrue\t::1\t::1\tnil",
		"compare\t-1\ttrue",
		"port before bind\t[]",
		"accepted from\t127.0.0.2",
		"connected from\t127.0.0.2",
		"vector\t2\t1\t1\t3\t0",
		"fatal\tfalse\tInvalidArgument",
		"failed op\tfalse\ttrue\t12\t12\t0x8007274D\tConnectionRefused\tfalse\tConnectionRefused",
		"timer\t0x8000000E\ttrue\tfalse\ttrue",
		"completed after the end\ttrue",
		"pairs\ttrue\t127.0.0.1\t80",
		"writer\t2\t4\ttrue\t0",
		"getstatus\ttrue\ttrue",
		"coroutine\tfalse\t0x8000000E",
		"bad arg\tfalse\tInvalidArgument",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
