package websocket_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	cws "github.com/coder/websocket"

	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/websocket"
)

// pongServer is a coder/websocket echo server that reports each pong it
// receives on pongs.
func pongServer(t *testing.T) (url string, pongs <-chan struct{}) {
	ch := make(chan struct{}, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := cws.Accept(w, r, &cws.AcceptOptions{
			OnPongReceived: func(context.Context, []byte) { ch <- struct{}{} },
		})
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, p, err := c.Read(context.Background())
			if err != nil {
				return
			}
			if err := c.Write(context.Background(), typ, p); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http"), ch
}

func TestSendKeepAlive(t *testing.T) {
	url, pongs := pongServer(t)
	for _, kind := range []string{"message", "stream"} {
		t.Run(kind, func(t *testing.T) {
			var ws interface {
				Connect(context.Context, string) error
				SendKeepAlive() error
				Close() error
			}
			var socket func() bool
			if kind == "message" {
				m := websocket.NewMessageWebSocket(nil)
				ws, socket = m, func() bool { return m.Socket() != nil }
			} else {
				s := websocket.NewStreamWebSocket(nil)
				ws, socket = s, func() bool { return s.Socket() != nil }
			}
			if err := ws.SendKeepAlive(); socketerror.HResultOf(err) != socketerror.EIllegalMethodCall {
				t.Fatalf("SendKeepAlive before Connect = %v, want E_ILLEGAL_METHOD_CALL", err)
			}
			if socket() {
				t.Fatal("Socket before Connect is not nil")
			}
			if err := ws.Connect(testCtx(t), url); err != nil {
				t.Fatal(err)
			}
			if !socket() {
				t.Fatal("Socket after Connect is nil")
			}
			for i := 0; i < 3; i++ {
				if err := ws.SendKeepAlive(); err != nil {
					t.Fatal(err)
				}
				select {
				case <-pongs:
				case <-time.After(wait):
					t.Fatalf("pong %d never reached the server", i+1)
				}
			}
			ws.Close()
			if err := ws.SendKeepAlive(); socketerror.HResultOf(err) != socketerror.EClosed {
				t.Fatalf("SendKeepAlive after Close = %v, want RO_E_CLOSED", err)
			}
		})
	}
}
