package websocket_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	cws "github.com/coder/websocket"

	"github.com/netrun/netrun/internal/testpeer"
	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
	"github.com/netrun/netrun/runtime/websocket"
)

// rawServer serves handler on an httptest server: a peer written directly
// on net/http and coder/websocket, not on this package. It returns the
// ws:// URL. Every connection the handler accepted is closed, and every
// handler has returned, when the test ends.
func rawServer(t *testing.T, handler func(w http.ResponseWriter, r *http.Request)) string {
	t.Helper()
	var wg sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wg.Add(1)
		defer wg.Done()
		handler(w, r)
	}))
	t.Cleanup(func() { srv.Close(); wg.Wait() })
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// rawAccept accepts a coder/websocket connection, closed at cleanup.
func rawAccept(t *testing.T, w http.ResponseWriter, r *http.Request, opts *cws.AcceptOptions) *cws.Conn {
	c, err := cws.Accept(w, r, opts)
	if err != nil {
		t.Errorf("raw accept: %v", err)
		return nil
	}
	return c
}

func TestRequestHeadersAndCredential(t *testing.T) {
	got := make(chan http.Header, 1)
	url := rawServer(t, func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
		c := rawAccept(t, w, r, nil)
		if c != nil {
			c.Close(cws.StatusNormalClosure, "")
		}
	})
	c := websocket.NewMessageWebSocket(nil)
	defer c.Close()
	for _, h := range [][2]string{{"X-Token", "abc"}, {"cookie", "k=v"}, {"Authorization", "Bearer replaced"}} {
		if err := c.SetRequestHeader(h[0], h[1]); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range []string{"Connection", "upgrade", "Host", "Sec-WebSocket-Key", "Sec-WebSocket-Protocol",
		"Sec-WebSocket-Extensions", "Transfer-Encoding", "Keep-Alive", "TE", "Content-Length", "bad name", ""} {
		err := c.SetRequestHeader(h, "x")
		if socketerror.HResultOf(err) != socketerror.EInvalidArg {
			t.Errorf("SetRequestHeader(%q) = %v, want E_INVALIDARG", h, err)
		}
	}
	if err := c.SetRequestHeader("X-Bad", "line\r\nbreak"); socketerror.HResultOf(err) != socketerror.EInvalidArg {
		t.Errorf("a value with CRLF = %v", err)
	}
	if err := c.Control().SetServerCredential(&websocket.PasswordCredential{UserName: "ann", Password: "s3cret"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(testCtx(t), url+"/path?q=1"); err != nil {
		t.Fatal(err)
	}
	h := <-got
	req := &http.Request{Header: h}
	if user, pass, ok := req.BasicAuth(); !ok || user != "ann" || pass != "s3cret" {
		t.Errorf("basic auth %q %q %v", user, pass, ok)
	}
	if h.Get("X-Token") != "abc" || h.Get("Cookie") != "k=v" {
		t.Errorf("headers %v", h)
	}
	if err := c.SetRequestHeader("X-Late", "1"); socketerror.HResultOf(err) != socketerror.EIllegalMethodCall {
		t.Errorf("SetRequestHeader after Connect = %v", err)
	}
	if err := c.Control().SetMaxMessageSize(5); socketerror.HResultOf(err) != socketerror.EIllegalMethodCall {
		t.Errorf("SetMaxMessageSize after Connect = %v", err)
	}
}

func TestClientHandshakeRefused(t *testing.T) {
	url := rawServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/forbidden":
			http.Error(w, "go away", http.StatusForbidden)
		case "/moved":
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		case "/teapot":
			w.WriteHeader(http.StatusTeapot)
		case "/ok":
			w.Write([]byte("not a websocket"))
		case "/bad-accept":
			w.Header().Set("Upgrade", "websocket")
			w.Header().Set("Connection", "Upgrade")
			w.Header().Set("Sec-WebSocket-Accept", "wrong")
			w.WriteHeader(http.StatusSwitchingProtocols)
		default:
			http.NotFound(w, r)
		}
	})
	for _, tc := range []struct {
		path string
		want websocket.WebErrorStatus
		code int
	}{
		{"/forbidden", websocket.Forbidden, 403},
		{"/nowhere", websocket.NotFound, 404},
		{"/moved", websocket.Found, 302},
		{"/teapot", websocket.UnexpectedClientError, 418},
		{"/ok", websocket.UnexpectedStatusCode, 200},
		{"/bad-accept", websocket.ErrorHttpInvalidServerResponse, 0},
	} {
		t.Run(tc.path, func(t *testing.T) {
			c := websocket.NewMessageWebSocket(nil)
			defer c.Close()
			err := c.Connect(testCtx(t), url+tc.path)
			wantWebStatus(t, err, tc.want)
			var we *websocket.Error
			if !errors.As(err, &we) || we.HTTPStatus != tc.code {
				t.Fatalf("error %v: HTTPStatus %d, want %d", err, we.HTTPStatus, tc.code)
			}
			if tc.code >= 300 {
				wantHResult(t, err, socketerror.HResult(0x80190000|tc.code))
			}
		})
	}
}

func TestConnectErrors(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := ln.Addr().String()
		ln.Close()
		c := websocket.NewMessageWebSocket(nil)
		defer c.Close()
		err := c.Connect(testCtx(t), "ws://"+addr+"/")
		wantWebStatus(t, err, websocket.CannotConnect)
		if socketerror.GetStatus(err) != socketerror.ConnectionRefused {
			t.Fatalf("socket status %s", socketerror.GetStatus(err))
		}
		wantHResult(t, err, 0x8007274D)
	})
	t.Run("unresolvable", func(t *testing.T) {
		dns := testpeer.StartDNS(t, "known.test=127.0.0.1")
		env := &sockets.Env{Resolver: &networking.Resolver{DNS: dns.Resolver()}}
		c := websocket.NewStreamWebSocket(env)
		defer c.Close()
		err := c.Connect(testCtx(t), "ws://unknown.test./")
		wantWebStatus(t, err, websocket.HostNameNotResolved)
		if socketerror.GetStatus(err) != socketerror.HostNotFound {
			t.Fatalf("socket status %s", socketerror.GetStatus(err))
		}
	})
	t.Run("denied", func(t *testing.T) {
		env := &sockets.Env{Guard: denyAll{}}
		c := websocket.NewMessageWebSocket(env)
		defer c.Close()
		err := c.Connect(testCtx(t), "ws://127.0.0.1:9/")
		wantHResult(t, err, socketerror.EAccessDenied)
	})
	t.Run("timeout and cancel", func(t *testing.T) {
		// A server that accepts TCP but never answers the handshake.
		srv := listen(t, nil)
		for _, cancelIt := range []bool{false, true} {
			c := websocket.NewMessageWebSocket(nil)
			ctx, cancel := context.WithTimeout(testCtx(t), 50*time.Millisecond)
			if cancelIt {
				ctx, cancel = context.WithCancel(testCtx(t))
				time.AfterFunc(50*time.Millisecond, cancel)
			}
			err := c.Connect(ctx, srv.URL)
			cancel()
			if cancelIt {
				wantWebStatus(t, err, websocket.OperationCanceled)
			} else {
				wantWebStatus(t, err, websocket.Timeout)
			}
			c.Close()
			srv.next(t).Close()
		}
	})
	t.Run("server hangs up", func(t *testing.T) {
		srv := listen(t, nil)
		go func() {
			s := srv.next(t)
			s.InputStream().Read(testCtx(t), make([]byte, 1), sockets.Partial)
			s.Close()
		}()
		c := websocket.NewMessageWebSocket(nil)
		defer c.Close()
		wantWebStatus(t, c.Connect(testCtx(t), srv.URL), websocket.ConnectionAborted)
	})
	t.Run("invalid URIs", func(t *testing.T) {
		for _, u := range []string{"http://127.0.0.1/", "ws://", "ws://u:p@127.0.0.1/", "ws://127.0.0.1/#frag", "ws://127.0.0.1:70000/", "::"} {
			c := websocket.NewMessageWebSocket(nil)
			if err := c.Connect(testCtx(t), u); socketerror.HResultOf(err) != socketerror.EInvalidArg {
				t.Errorf("Connect(%q) = %v, want E_INVALIDARG", u, err)
			}
			c.Close()
		}
	})
	t.Run("state", func(t *testing.T) {
		c := websocket.NewMessageWebSocket(nil)
		c.Close()
		if err := c.Connect(testCtx(t), "ws://127.0.0.1:9/"); socketerror.HResultOf(err) != socketerror.EClosed {
			t.Errorf("Connect after Close = %v", err)
		}
		if err := c.Send(testCtx(t), nil); socketerror.HResultOf(err) != socketerror.EClosed {
			t.Errorf("Send after Close = %v", err)
		}
		c2 := websocket.NewMessageWebSocket(nil)
		defer c2.Close()
		if err := c2.Send(testCtx(t), nil); socketerror.HResultOf(err) != socketerror.EIllegalMethodCall {
			t.Errorf("Send before Connect = %v", err)
		}
	})
}

type denyAll struct{}

func (denyAll) Check(sockets.Direction, netip.Addr) error {
	return socketerror.AccessDenied("connect", "", "internetClient")
}

// serverRefuses runs AcceptMessage with opts against a raw request and
// returns the response status line and the accept error.
func serverRefuses(t *testing.T, opts websocket.AcceptOptions, request string) (string, error) {
	t.Helper()
	srv := listen(t, nil)
	ch := srv.acceptMessage(t, opts)
	c := rawDial(t, srv.Addr)
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	res := <-ch
	if res.err == nil {
		t.Fatal("AcceptMessage accepted")
	}
	c.SetReadDeadline(time.Now().Add(wait))
	line, _ := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), res.err
}

func upgradeRequest(path string, extra ...string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" + strings.Join(extra, "") + "\r\n"
}

func TestServerRefusals(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    websocket.AcceptOptions
		request string
		status  int
		want    websocket.WebErrorStatus
		says    string
	}{
		{"plain GET", websocket.AcceptOptions{}, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 426, websocket.UnexpectedClientError, "Upgrade"},
		{"wrong path", websocket.AcceptOptions{Path: "/chat"}, upgradeRequest("/other"), 404, websocket.NotFound, `"/other"`},
		{"foreign origin", websocket.AcceptOptions{}, upgradeRequest("/", "Origin: http://evil.example\r\n"), 403, websocket.Forbidden, "evil.example"},
		{"bad version", websocket.AcceptOptions{}, strings.Replace(upgradeRequest("/"), "Version: 13", "Version: 8", 1), 400, websocket.BadRequest, "version"},
		{"POST", websocket.AcceptOptions{}, strings.Replace(upgradeRequest("/"), "GET", "POST", 1), 405, websocket.MethodNotAllowed, "POST"},
		{"garbage", websocket.AcceptOptions{}, "\x16\x03\x01 not http\r\n\r\n", 400, websocket.BadRequest, "not valid HTTP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			line, err := serverRefuses(t, tc.opts, tc.request)
			if want := fmt.Sprintf("HTTP/1.1 %d ", tc.status); !strings.HasPrefix(line, want) {
				t.Fatalf("response %q, want %q...", line, want)
			}
			wantWebStatus(t, err, tc.want)
			if !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("error %q does not say %q", err, tc.says)
			}
		})
	}
	t.Run("allowed origin", func(t *testing.T) {
		srv := listen(t, nil)
		ch := srv.acceptMessage(t, websocket.AcceptOptions{OriginPatterns: []string{"*.example"}})
		c := rawDial(t, srv.Addr)
		defer c.Close() // before the server's Close waits for a close frame
		io.WriteString(c, upgradeRequest("/", "Origin: https://app.example\r\n"))
		get(t, ch)
		line, _ := bufio.NewReader(c).ReadString('\n')
		if !strings.HasPrefix(line, "HTTP/1.1 101") {
			t.Fatalf("response %q", line)
		}
	})
	t.Run("handshake timeout", func(t *testing.T) {
		srv := listen(t, nil)
		ch := srv.acceptMessage(t, websocket.AcceptOptions{HandshakeTimeout: 50 * time.Millisecond})
		rawDial(t, srv.Addr) // says nothing
		wantWebStatus(t, (<-ch).err, websocket.Timeout)
	})
}

// TestServerKeepsBytesAfterRequest sends the handshake and a first frame
// in one write: the frame must not be lost with the request's buffer.
func TestServerKeepsBytesAfterRequest(t *testing.T) {
	srv := listen(t, nil)
	ch := srv.acceptMessage(t, websocket.AcceptOptions{})
	c := rawDial(t, srv.Addr)
	defer c.Close() // before the server's Close waits for a close frame
	// A masked text frame "hi" (mask key 0: payload unchanged).
	frame := "\x81\x82\x00\x00\x00\x00hi"
	io.WriteString(c, upgradeRequest("/")+frame)
	s := get(t, ch)
	if m := recv(t, messages(s.MessageReceived())); string(m.data) != "hi" {
		t.Fatalf("got %q", m.data)
	}
}

func TestInvalidUTF8Closes1007(t *testing.T) {
	for _, mode := range []websocket.MessageWebSocketReceiveMode{websocket.FullMessage, websocket.PartialMessage} {
		t.Run(mode.String(), func(t *testing.T) {
			srv := listen(t, nil)
			ch := srv.acceptMessage(t, websocket.AcceptOptions{ReceiveMode: mode})
			c, _, err := cws.Dial(testCtx(t), srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			s := get(t, ch)
			got, closed := messages(s.MessageReceived()), closings(s.Closed())
			// A rune split between frames is fine.
			w, _ := c.Writer(testCtx(t), cws.MessageText)
			w.Write([]byte("caf\xc3"))
			w.Write([]byte("\xa9"))
			w.Close()
			if m := recvWhole(t, got); string(m.data) != "café" {
				t.Fatalf("got %q", m.data)
			}
			c.Write(testCtx(t), cws.MessageText, []byte("ok \xff\xfe"))
			_, _, err = c.Read(testCtx(t))
			if cws.CloseStatus(err) != 1007 {
				t.Fatalf("peer read %v, want close 1007", err)
			}
			if cl := recvClosed(t, closed); cl.code != 1007 || cl.err == nil {
				t.Fatalf("server Closed %d %v", cl.code, cl.err)
			}
		})
	}
}

func TestAbruptClose(t *testing.T) {
	url := rawServer(t, func(w http.ResponseWriter, r *http.Request) {
		if c := rawAccept(t, w, r, nil); c != nil {
			c.CloseNow() // no close frame
		}
	})
	c := websocket.NewMessageWebSocket(nil)
	defer c.Close()
	closed := closings(c.Closed())
	if err := c.Connect(testCtx(t), url); err != nil {
		t.Fatal(err)
	}
	cl := recvClosed(t, closed)
	if cl.code != 1006 {
		t.Fatalf("Closed %d", cl.code)
	}
	wantWebStatus(t, cl.err, websocket.ConnectionAborted)
}

func TestPingAnswered(t *testing.T) {
	pinged := make(chan error, 1)
	url := rawServer(t, func(w http.ResponseWriter, r *http.Request) {
		c := rawAccept(t, w, r, nil)
		if c == nil {
			return
		}
		defer c.CloseNow()
		ctx := c.CloseRead(context.Background()) // reads, so that pongs are seen
		pctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		pinged <- c.Ping(pctx)
		<-ctx.Done()
	})
	for _, stream := range []bool{false, true} {
		var err error
		if stream {
			c := websocket.NewStreamWebSocket(nil)
			defer c.Close()
			err = c.Connect(testCtx(t), url)
		} else {
			c := websocket.NewMessageWebSocket(nil)
			defer c.Close()
			err = c.Connect(testCtx(t), url)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := <-pinged; err != nil {
			t.Fatalf("stream=%v: ping not answered: %v", stream, err)
		}
	}
}

func TestUnsolicitedPongs(t *testing.T) {
	pongs := make(chan struct{}, 100)
	big := make(chan []byte, 1)
	url := rawServer(t, func(w http.ResponseWriter, r *http.Request) {
		c := rawAccept(t, w, r, &cws.AcceptOptions{OnPongReceived: func(context.Context, []byte) {
			select {
			case pongs <- struct{}{}:
			default:
			}
		}})
		if c == nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(-1)
		_, data, err := c.Read(context.Background())
		if err == nil {
			big <- data
		}
		c.Read(context.Background()) // until the client closes
	})
	c := websocket.NewMessageWebSocket(nil)
	defer c.Close()
	if err := c.Control().SetDesiredUnsolicitedPongInterval(time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(testCtx(t), url); err != nil {
		t.Fatal(err)
	}
	if got := c.Control().ActualUnsolicitedPongInterval(); got != time.Millisecond {
		t.Fatalf("ActualUnsolicitedPongInterval = %v", got)
	}
	// Pongs must slip in between frames, never inside the large
	// message's frames, which are written in many pieces.
	data := pattern(8 << 20)
	for i := range 3 {
		if _, err := c.SendNonfinalFrame(testCtx(t), data[i*(2<<20):(i+1)*(2<<20)]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.SendFinalFrame(testCtx(t), data[6<<20:]); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-big:
		if len(got) != len(data) || string(got) != string(data) {
			t.Fatalf("peer got %d bytes, different", len(got))
		}
	case <-time.After(wait):
		t.Fatal("peer got no message")
	}
	for range 3 {
		select {
		case <-pongs:
		case <-time.After(wait):
			t.Fatal("fewer than 3 unsolicited pongs")
		}
	}
	if err := c.Control().SetDesiredUnsolicitedPongInterval(-1); socketerror.HResultOf(err) != socketerror.EInvalidArg {
		t.Errorf("negative interval: %v", err)
	}
}
