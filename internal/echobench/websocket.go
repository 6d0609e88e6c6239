package echobench

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"

	"github.com/coder/websocket"
)

// StartRawWS starts the raw WebSocket echo server: coder/websocket's
// Accept behind net/http on 127.0.0.1, each connection on a goroutine of
// its own reading every message into one reused buffer and writing it
// back, with its type, as one frame. It returns the server's ws:// URL and the function that stops it
// and waits for its goroutines.
func StartRawWS() (url string, stop func(), err error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			defer c.CloseNow()
			c.SetReadLimit(64 << 20)
			var msg bytes.Buffer // reused: one allocation per connection, not per message
			for {
				typ, rd, err := c.Reader(ctx)
				if err != nil {
					return
				}
				msg.Reset()
				if _, err := msg.ReadFrom(rd); err != nil {
					return
				}
				if err := c.Write(ctx, typ, msg.Bytes()); err != nil {
					return
				}
			}
		}),
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		srv.Serve(ln)
	}()
	return "ws://" + ln.Addr().String() + "/", func() {
		cancel() // ends the handlers' reads: hijacked connections are not the server's to close
		srv.Close()
		wg.Wait()
	}, nil
}

// DialWS opens conns WebSocket connections to url for Round and Run: each
// message is one binary message of size bytes, and its echo must come
// back as one.
func DialWS(url string, conns, size int) (*Clients, error) {
	c := &Clients{size: size}
	for i := 0; i < conns; i++ {
		ws, _, err := websocket.Dial(context.Background(), url, nil)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("echobench: connecting to %s: %w", url, err)
		}
		ws.SetReadLimit(64 << 20)
		// NetConn makes each Write one binary message and reads messages
		// as a byte stream, which is what pingPong expects of a TCP
		// connection.
		c.conns = append(c.conns, websocket.NetConn(context.Background(), ws, websocket.MessageBinary))
	}
	return c, nil
}
