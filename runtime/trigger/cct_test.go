package trigger_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	cws "github.com/coder/websocket"
	"golang.org/x/sys/unix"

	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
	"github.com/netrun/netrun/runtime/trigger"
	"github.com/netrun/netrun/runtime/websocket"
)

// channelEvents collects a channel's events on channels.
type channelEvents struct {
	keepAlive chan time.Time
	push      chan struct{}
	reset     chan *trigger.ControlChannelTriggerResetEventDetails
}

func watchChannel(c *trigger.ControlChannelTrigger) *channelEvents {
	e := &channelEvents{keepAlive: make(chan time.Time, 64), push: make(chan struct{}, 64),
		reset: make(chan *trigger.ControlChannelTriggerResetEventDetails, 4)}
	c.KeepAliveTrigger().Add(func(d *trigger.ControlChannelTriggerEventDetails) {
		if d.ControlChannelTrigger == c {
			e.keepAlive <- time.Now()
		}
	})
	c.PushNotificationTrigger().Add(func(*trigger.ControlChannelTriggerEventDetails) { e.push <- struct{}{} })
	c.ResetTrigger().Add(func(d *trigger.ControlChannelTriggerResetEventDetails) { e.reset <- d })
	return e
}

// wantKeepAlives waits for n keep-alives and checks them against the
// interval: none early (the k-th no sooner than k intervals after start,
// when start is when the schedule began), and their mean spacing within 20% of it. The mean, not each gap, is held
// to 20%: the schedule runs on due times, so one event made late by a
// loaded machine does not move the others, and the fake-time tests
// (scheduler_test.go) check the exact times.
func wantKeepAlives(t *testing.T, e *channelEvents, start time.Time, anchored bool, interval time.Duration, n int) {
	t.Helper()
	var prev time.Time
	for i := 1; i <= n; i++ {
		prev = recv(t, e.keepAlive, "a keep-alive")
		if early := start.Add(time.Duration(i) * interval).Sub(prev); anchored && early > 5*time.Millisecond {
			t.Errorf("keep-alive %d came %v early", i, early)
		}
	}
	if mean := prev.Sub(start) / time.Duration(n); mean < interval*8/10 || mean > interval*12/10 {
		t.Errorf("keep-alives came every %v on average, want %v ± 20%%", mean, interval)
	}
}

func TestControlChannelStreamSocket(t *testing.T) {
	b := newBroker(t, trigger.Options{})
	const minutes = 0.005 // 300 ms
	interval := time.Duration(minutes * float64(time.Minute))
	c, err := b.NewControlChannelTrigger("stream", minutes, trigger.RequestSoftwareSlot)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	e := watchChannel(c)
	if _, err := c.WaitForPushEnabled(); socketerror.HResultOf(err) != socketerror.EIllegalMethodCall {
		t.Fatalf("WaitForPushEnabled without a transport = %v, want E_ILLEGAL_METHOD_CALL", err)
	}
	s, peer := pair(t, func(s *sockets.StreamSocket) {
		if err := c.UsingTransport(s); err != nil {
			t.Fatal(err)
		}
		if st, err := c.WaitForPushEnabled(); err != nil || st != trigger.TransportDisconnected {
			t.Fatalf("WaitForPushEnabled before connect = %v, %v; want TransportDisconnected", st, err)
		}
	})
	if c.TransportObject() != s {
		t.Fatal("TransportObject is not the socket")
	}
	start := time.Now()
	if st, err := c.WaitForPushEnabled(); err != nil || st != trigger.SoftwareSlotAllocated {
		t.Fatalf("WaitForPushEnabled = %v, %v", st, err)
	}

	// TCP keep-alive is on, at the current interval (1 s at least).
	rc, _ := s.SyscallConn()
	rc.Control(func(fd uintptr) {
		on, _ := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE)
		idle, _ := unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_KEEPIDLE)
		if on != 1 || idle != 1 {
			t.Errorf("SO_KEEPALIVE %d, TCP_KEEPIDLE %d; want 1, 1", on, idle)
		}
	})

	wantKeepAlives(t, e, start, true, interval, 5)

	// Data from the peer raises a push; the owner reads it.
	peer.Write([]byte("push me"))
	recv(t, e.push, "a push")
	if got := readString(t, s, 7); got != "push me" {
		t.Fatalf("read %q", got)
	}
	if c.Status() != trigger.SoftwareSlotAllocated {
		t.Fatalf("Status = %v", c.Status())
	}

	// The peer closes: one reset, and the channel is disconnected.
	peer.Close()
	d := recv(t, e.reset, "the reset")
	if d.ControlChannelTrigger != c || d.Err != nil {
		t.Fatalf("reset details %+v", d)
	}
	if c.Status() != trigger.TransportDisconnected {
		t.Fatalf("Status after the peer closed = %v", c.Status())
	}
	if st, _ := c.WaitForPushEnabled(); st != trigger.TransportDisconnected {
		t.Fatalf("WaitForPushEnabled on a transport whose peer closed = %v", st)
	}
	if err := c.FlushTransport(testCtx(t)); err != nil {
		t.Fatalf("FlushTransport = %v", err)
	}
}

// TestControlChannelLocalClose checks that a transport the owner closes
// is noticed by the next keep-alive at the latest.
func TestControlChannelLocalClose(t *testing.T) {
	b := newBroker(t, trigger.Options{})
	c, _ := b.NewControlChannelTrigger("local", 0.005, trigger.RequestSoftwareSlot)
	defer c.Close()
	e := watchChannel(c)
	s, _ := pair(t, func(s *sockets.StreamSocket) { c.UsingTransport(s) })
	c.WaitForPushEnabled()
	s.Close()
	recv(t, e.reset, "the reset")
	if c.Status() != trigger.TransportDisconnected {
		t.Fatalf("Status = %v", c.Status())
	}
}

// TestControlChannelDecrease checks that DecreaseNetworkKeepAliveInterval
// halves the interval of a live channel.
func TestControlChannelDecrease(t *testing.T) {
	b := newBroker(t, trigger.Options{})
	c, _ := b.NewControlChannelTrigger("decrease", 0.01, trigger.RequestSoftwareSlot) // 600 ms
	defer c.Close()
	e := watchChannel(c)
	pair(t, func(s *sockets.StreamSocket) { c.UsingTransport(s) })
	start := time.Now()
	c.WaitForPushEnabled()
	wantKeepAlives(t, e, start, true, 600*time.Millisecond, 1)
	c.DecreaseNetworkKeepAliveInterval()
	if got := c.CurrentKeepAliveIntervalInMinutes(); got != 0.005 {
		t.Fatalf("CurrentKeepAliveIntervalInMinutes = %v, want 0.005", got)
	}
	if got := c.ServerKeepAliveIntervalInMinutes(); got != 0.01 {
		t.Fatalf("ServerKeepAliveIntervalInMinutes = %v, want 0.01", got)
	}
	// The keep-alive due 600 ms after the last may come up to 300 ms
	// after the decrease; from then on they come every 300 ms.
	first := recv(t, e.keepAlive, "a keep-alive")
	wantKeepAlives(t, e, first, false, 300*time.Millisecond, 3)
}

// wsServer is a coder/websocket server: it echoes messages, reports each
// pong it receives on pongs, and closes the connection when told "bye".
func wsServer(t *testing.T) (url string, pongs <-chan struct{}) {
	ch := make(chan struct{}, 1024)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := cws.Accept(w, r, &cws.AcceptOptions{
			OnPongReceived: func(context.Context, []byte) {
				select {
				case ch <- struct{}{}:
				default:
				}
			},
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
			if string(p) == "bye" {
				c.Close(cws.StatusGoingAway, "bye")
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

func TestControlChannelWebSockets(t *testing.T) {
	b := newBroker(t, trigger.Options{})
	type wsClient interface {
		Connect(context.Context, string) error
		Close() error
	}
	for _, kind := range []string{"MessageWebSocket", "StreamWebSocket"} {
		t.Run(kind, func(t *testing.T) {
			url, pongs := wsServer(t)
			c, err := b.NewControlChannelTrigger(kind, 0.005, trigger.RequestSoftwareSlot)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			e := watchChannel(c)
			var ws wsClient
			var send func(string)
			var receive func() string
			switch kind {
			case "MessageWebSocket":
				m := websocket.NewMessageWebSocket(nil)
				got := make(chan string, 8)
				m.MessageReceived().Add(func(a *websocket.MessageReceivedEventArgs) { got <- string(a.Data()) })
				ws = m
				send = func(s string) { m.Send(testCtx(t), []byte(s)) }
				receive = func() string { return recv(t, got, "a message") }
			default:
				s := websocket.NewStreamWebSocket(nil)
				ws = s
				send = func(p string) { s.OutputStream().Write(testCtx(t), []byte(p)) }
				receive = func() string {
					buf := make([]byte, 64)
					n, err := s.InputStream().Read(testCtx(t), buf, sockets.Partial)
					if err != nil {
						t.Fatal(err)
					}
					return string(buf[:n])
				}
			}
			defer ws.Close()
			if err := c.UsingTransport(ws); err != nil {
				t.Fatal(err)
			}
			if err := ws.Connect(testCtx(t), url); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if st, err := c.WaitForPushEnabled(); err != nil || st != trigger.SoftwareSlotAllocated {
				t.Fatalf("WaitForPushEnabled = %v, %v", st, err)
			}
			wantKeepAlives(t, e, start, true, 300*time.Millisecond, 3)
			// Each keep-alive sends an unsolicited pong, from a goroutine
			// of its own (it may wait behind a large frame): the server
			// gets one for each of the three.
			for k := range 3 {
				recv(t, pongs, fmt.Sprintf("pong %d", k+1))
			}
			send("ping?")
			if got := receive(); got != "ping?" {
				t.Fatalf("echo %q", got)
			}
			recv(t, e.push, "a push")
			if err := c.FlushTransport(testCtx(t)); err != nil {
				t.Fatal(err)
			}
			send("bye")
			d := recv(t, e.reset, "the reset")
			if d.ControlChannelTrigger != c || c.Status() != trigger.TransportDisconnected {
				t.Fatalf("reset %+v, status %v", d, c.Status())
			}
		})
	}
}

func TestControlChannelArguments(t *testing.T) {
	b := newBroker(t, trigger.Options{})
	for _, tc := range []struct {
		id      string
		minutes float64
		res     trigger.ControlChannelTriggerResourceType
	}{
		{"", 15, 0},
		{strings.Repeat("x", 65), 15, 0},
		{"x", 0, 0},
		{"x", -1, 0},
		{"x", 1440, 0},
		{"x", 0.0001, 0},
		{"x", 15, 2},
	} {
		if _, err := b.NewControlChannelTrigger(tc.id, tc.minutes, tc.res); socketerror.HResultOf(err) != socketerror.EInvalidArg {
			t.Errorf("NewControlChannelTrigger(%q, %v, %v) = %v, want E_INVALIDARG", tc.id, tc.minutes, tc.res, err)
		}
	}
	c, err := b.NewControlChannelTrigger(strings.Repeat("x", 64), 1439, trigger.RequestHardwareSlot)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.UsingTransport("a string"); socketerror.HResultOf(err) != socketerror.EInvalidArg {
		t.Fatalf("UsingTransport(string) = %v", err)
	}
	if err := c.UsingTransport((*sockets.StreamSocket)(nil)); socketerror.HResultOf(err) != socketerror.EInvalidArg {
		t.Fatalf("UsingTransport(nil socket) = %v", err)
	}
	if err := c.FlushTransport(testCtx(t)); socketerror.HResultOf(err) != socketerror.EIllegalMethodCall {
		t.Fatalf("FlushTransport without a transport = %v", err)
	}
	if c.IsWakeFromLowPowerSupported() || c.ResourceType() != trigger.RequestHardwareSlot || c.ControlChannelTriggerID() != strings.Repeat("x", 64) {
		t.Fatal("accessors")
	}
	c.Close()
	if err := c.UsingTransport(sockets.NewStreamSocket()); socketerror.HResultOf(err) != socketerror.EClosed {
		t.Fatalf("UsingTransport after Close = %v", err)
	}
	b.Close()
	if _, err := b.NewControlChannelTrigger("late", 15, 0); socketerror.HResultOf(err) != socketerror.EClosed {
		t.Fatalf("NewControlChannelTrigger after Broker.Close = %v", err)
	}
}
