package websocket_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/netrun/netrun/runtime/websocket"
)

// fuzzConn dials srv and writes data, then closes its write side, so
// that the server always comes to the end of what it reads. The reads of
// the returned connection end when the server closes it.
func fuzzConn(t *testing.T, srv *server, data []byte) *net.TCPConn {
	t.Helper()
	nc, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	c := nc.(*net.TCPConn)
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(wait))
	writeAndShut(t, c, data)
	return c
}

// writeAndShut writes data to c and closes c's write side, in the
// background: the server may answer before it has read it all. The test
// waits for it at cleanup.
func writeAndShut(t *testing.T, c *net.TCPConn, data []byte) {
	var wg sync.WaitGroup
	wg.Go(func() {
		c.Write(data)
		c.CloseWrite()
	})
	t.Cleanup(wg.Wait)
}

// FuzzServerHandshake sends arbitrary bytes as the opening handshake to
// AcceptMessage over loopback TCP. It must not panic or hang; it either
// accepts, having answered 101, or fails, having answered with an HTTP
// error response whose status its *Error carries. The only failures
// without a response are those where the client went away before its
// request was complete.
func FuzzServerHandshake(f *testing.F) {
	for _, s := range []string{
		upgradeRequest("/"),
		upgradeRequest("/chat", "Sec-WebSocket-Protocol: x, chat\r\n"),
		upgradeRequest("/", "Origin: http://evil.example\r\n"),
		upgradeRequest("/", "Origin: http://127.0.0.1\r\n", "Sec-WebSocket-Extensions: permessage-deflate\r\n"),
		upgradeRequest("/") + "\x81\x82\x00\x00\x00\x00hi",
		strings.Replace(upgradeRequest("/"), "Version: 13", "Version: 8", 1),
		strings.Replace(upgradeRequest("/"), "GET", "POST", 1),
		strings.Replace(upgradeRequest("/"), "HTTP/1.1", "HTTP/1.0", 1),
		strings.Replace(upgradeRequest("/"), "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "", 1),
		strings.Replace(upgradeRequest("/"), "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Key: short", 1),
		strings.ReplaceAll(upgradeRequest("/"), "\r\n", "\n"),
		strings.ToLower(upgradeRequest("/")),
		"GET http://127.0.0.1/abs HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
		upgradeRequest("/", "Transfer-Encoding: chunked\r\n") + "5\r\nhello\r\n0\r\n\r\n",
		upgradeRequest("/", "Content-Length: 3\r\n") + "abc",
		upgradeRequest("/", "X-Long: "+strings.Repeat("a", 70<<10)+"\r\n"),
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n",
		"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
		"GET /\xff HTTP/1.1\r\n\r\n",
		"",
	} {
		f.Add([]byte(s))
	}
	srv := listen(f, nil)
	f.Fuzz(func(t *testing.T, req []byte) {
		c := fuzzConn(t, srv, req)
		sock := srv.next(t)
		ws, err := websocket.AcceptMessage(testCtx(t), sock, websocket.AcceptOptions{Protocols: []string{"chat"}, HandshakeTimeout: wait})
		if err == nil {
			ws.Close() // the client sends no more: this ends at once
		}
		// The server closes the connection whether it accepted (Close) or
		// not, so this reads all it sent.
		out, _ := io.ReadAll(c)
		resp, rerr := http.ReadResponse(bufio.NewReader(bytes.NewReader(out)), nil)
		if rerr == nil {
			resp.Body.Close()
		}
		var we *websocket.Error
		switch {
		case err == nil:
			if rerr != nil || resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("accepted, but the response is %v (%v)", resp, rerr)
			}
		case !errors.As(err, &we):
			t.Fatalf("error %v (%T) is not a *websocket.Error", err, err)
		case we.HTTPStatus != 0:
			if rerr != nil || resp.StatusCode != we.HTTPStatus {
				t.Fatalf("refused with %d (%v), but the response is %v (%v)", we.HTTPStatus, err, resp, rerr)
			}
			if resp.StatusCode < 400 {
				t.Fatalf("refused with status %d", resp.StatusCode)
			}
		default:
			// No response: only when the request never ended.
			if we.Status != websocket.ConnectionAborted {
				t.Fatalf("failed without a response: %v (status %s)", err, we.Status)
			}
			if len(out) > 0 {
				t.Fatalf("failed (%v) but sent %q", err, out)
			}
		}
	})
}

// FuzzFrameReader sends arbitrary bytes as the frames that follow a valid
// handshake to a ServerMessageWebSocket (MaxMessageSize 4096). It must
// not panic or hang. It delivers only text that is UTF-8 and messages
// within the limit; its Closed event comes, with the peer's code (the
// peer's close frame, echoed) or with one of 1002, 1007, 1009 (its own
// close frame, of that code) or 1006 (no close frame: the bytes ran
// out); and what it writes parses as unmasked frames, the close frame
// last.
func FuzzFrameReader(f *testing.F) {
	masked := func(frames ...wsFrame) []byte { return encodeAll(true, frames...) }
	for _, s := range [][]byte{
		masked(textFrame("hi"), binFrame(fe(300)), pingFrame("p"), pongFrame("q"), closeFrame(1000, "bye")),
		masked(frag(opText, "caf\xc3", false), pingFrame(""), frag(opCont, "\xa9", true), closeFrame(4000, "")),
		masked(textFrame("ok \xff")),
		masked(frag(opText, "ok\xf4", false), frag(opCont, "\x90\x80\x80", true)),
		masked(binFrame(fe(4097))),
		masked(fragments(opBinary, fe(5000), 1000)...),
		masked(withRSV(textFrame("x"), 4)),
		masked(rawFrame(3, nil)),
		masked(rawFrame(11, []byte("x"))),
		masked(frag(opCont, "x", true)),
		masked(frag(opText, "a", false), textFrame("b")),
		masked(pingFrame(string(fe(126)))),
		masked(wsFrame{op: opPing, payload: []byte("a")}, frag(opCont, "b", true)),
		masked(closePayload([]byte{3})),
		masked(closeFrame(1005, "")),
		masked(closeFrame(1000, "\xed\xa0\x80")),
		masked(closePayload(nil)),
		encodeAll(false, textFrame("unmasked")),
		[]byte("\x82\xff\x7f\xff\xff\xff\xff\xff\xff\xff\x00\x00\x00\x00"),
		[]byte("\x81\xfe\x00"),
		nil,
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	srv := listen(f, nil)
	f.Fuzz(func(t *testing.T, data []byte, partial bool) {
		opts := websocket.AcceptOptions{MaxMessageSize: 4096}
		if partial {
			opts.ReceiveMode = websocket.PartialMessage
		}
		// The handshake first, so that the handlers are in place before
		// the frames can end the connection: a Closed event raised before
		// any handler is added is not held, as messages are.
		ch := srv.acceptMessage(t, opts)
		nc := rawDial(t, srv.Addr)
		c := nc.(*net.TCPConn)
		c.SetDeadline(time.Now().Add(wait))
		if _, err := io.WriteString(c, upgradeRequest("/")); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 101 {
			t.Fatalf("handshake: %v %v", resp, err)
		}
		ws := get(t, ch)
		var mu sync.Mutex
		var bad []string
		var cur []byte
		ws.MessageReceived().Add(func(a *websocket.MessageReceivedEventArgs) {
			mu.Lock()
			defer mu.Unlock()
			cur = append(cur, a.Data()...)
			if !a.IsMessageComplete() {
				return
			}
			if len(cur) > 4096 {
				bad = append(bad, fmt.Sprintf("a %d-byte message", len(cur)))
			}
			if a.MessageType() == websocket.Utf8 && !utf8.Valid(cur) {
				bad = append(bad, fmt.Sprintf("text that is not UTF-8: %q", cur))
			}
			cur = cur[:0]
		})
		closed := closings(ws.Closed())
		writeAndShut(t, c, data)
		// Read what the server writes, until it closes the connection.
		// A server that fails the connection closes it at once: if the
		// client is still sending, its unread bytes make TCP reset the
		// connection, which may lose what the server wrote last (Autobahn
		// accepts a dropped connection there).
		var frames []wsFrame
		var readErr error
		reset := false
		for {
			f, err := readFrameFrom(br, false)
			if err != nil {
				reset = errors.Is(err, syscall.ECONNRESET)
				if err != io.EOF && !reset {
					readErr = err
				}
				break
			}
			frames = append(frames, f)
		}
		var cl closedArgs
		select {
		case cl = <-closed:
		case <-time.After(wait):
			t.Fatal("no Closed event")
		}
		mu.Lock()
		defer mu.Unlock()
		if len(bad) > 0 {
			t.Fatalf("delivered %s", strings.Join(bad, "; "))
		}
		if readErr != nil {
			t.Fatalf("the server wrote a bad frame: %v (after %v; Closed %d)", readErr, frames, cl.code)
		}
		sent := uint16(1006)
		for i, f := range frames {
			switch {
			case f.op == opClose && i != len(frames)-1:
				t.Fatalf("the server wrote %v after its close frame", frames[i+1])
			case f.op == opClose:
				sent = closeCode(f)
			case f.op != opPong:
				t.Fatalf("the server wrote %v", f)
			}
		}
		if reset && sent == 1006 && cl.err != nil {
			sent = cl.code // its close frame may have been lost
		}
		if cl.code != sent {
			t.Fatalf("Closed %d (%v), but the close frame the server wrote says %d", cl.code, cl.err, sent)
		}
		if cl.err == nil { // the peer's close frame, echoed
			if !validWire(cl.code) || !utf8.ValidString(cl.reason) {
				t.Fatalf("Closed %d %q without an error", cl.code, cl.reason)
			}
		} else if !slices.Contains([]uint16{1002, 1007, 1009, 1006}, cl.code) {
			t.Fatalf("Closed %d (%v)", cl.code, cl.err)
		}
	})
}

// validWire reports whether a received close frame may carry code, or
// 1005 for none.
func validWire(code uint16) bool {
	switch {
	case code == 1005, code >= 1000 && code <= 1003, code >= 1007 && code <= 1014, code >= 3000 && code <= 4999:
		return true
	}
	return false
}
