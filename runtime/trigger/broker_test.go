package trigger_test

import (
	"bytes"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
	"github.com/netrun/netrun/runtime/trigger"
)

// task registers a task and collects its triggers on a channel.
func task(t testing.TB, b *trigger.Broker, id string) <-chan *trigger.SocketActivityTriggerDetails {
	ch := make(chan *trigger.SocketActivityTriggerDetails, 256)
	t.Cleanup(b.RegisterTask(id, func(d *trigger.SocketActivityTriggerDetails) bool { ch <- d; return true }))
	return ch
}

// nextReason waits for a trigger with the given reason, skipping others.
func nextReason(t testing.TB, ch <-chan *trigger.SocketActivityTriggerDetails, r trigger.SocketActivityTriggerReason) *trigger.SocketActivityTriggerDetails {
	t.Helper()
	for {
		d := recv(t, ch, r.String())
		if d.Reason == r {
			return d
		}
	}
}

func TestTransferStreamSocket(t *testing.T) {
	b := newBroker(t, trigger.Options{})
	triggers := task(t, b, "client")
	s, peer := pair(t, nil)
	if err := b.TransferOwnership(testCtx(t), s, "conn", nil, 0); socketerror.HResultOf(err) != socketerror.EIllegalMethodCall {
		t.Fatalf("TransferOwnership before EnableTransferOwnership = %v, want E_ILLEGAL_METHOD_CALL", err)
	}
	if err := b.EnableTransferOwnership(s, "client"); err != nil {
		t.Fatal(err)
	}
	if id, ok := b.TaskID(s); !ok || id != "client" {
		t.Fatalf("TaskID = %q, %v", id, ok)
	}
	if err := b.TransferOwnership(testCtx(t), s, "conn", []byte("ctx-data"), 0); err != nil {
		t.Fatal(err)
	}
	if err := b.TransferOwnership(testCtx(t), s, "conn", nil, 0); socketerror.HResultOf(err) != socketerror.EInvalidArg {
		t.Fatalf("TransferOwnership with a held id = %v, want E_INVALIDARG", err)
	}

	peer.Write([]byte("while "))
	d := nextReason(t, triggers, trigger.SocketActivity)
	peer.Write([]byte("held"))
	info := d.SocketInformation
	if info.Id() != "conn" || info.TaskId() != "client" || info.SocketKind() != trigger.KindStreamSocket || string(info.Context()) != "ctx-data" {
		t.Fatalf("information: %q %q %v %q", info.Id(), info.TaskId(), info.SocketKind(), info.Context())
	}
	all := b.AllSockets("client")
	if len(all) != 1 || all["conn"] != info {
		t.Fatalf("AllSockets = %v", all)
	}
	if _, _, err := info.StreamSocketListener(); socketerror.HResultOf(err) != socketerror.EIllegalMethodCall {
		t.Fatalf("StreamSocketListener of a stream socket = %v", err)
	}
	for info.Buffered() < 10 {
		nextReason(t, triggers, trigger.SocketActivity)
	}
	got, err := info.StreamSocket()
	if err != nil || got != s {
		t.Fatalf("StreamSocket() = %v, %v", got, err)
	}
	if _, err := info.StreamSocket(); socketerror.HResultOf(err) != socketerror.EIllegalMethodCall {
		t.Fatalf("a second reclaim = %v, want E_ILLEGAL_METHOD_CALL", err)
	}
	if len(b.AllSockets("client")) != 0 {
		t.Fatal("a reclaimed socket is still listed")
	}
	// What arrived while held comes first, then the live connection.
	peer.Write([]byte(" and after"))
	if got := readString(t, s, 20); got != "while held and after" {
		t.Fatalf("read %q", got)
	}
	s.OutputStream().Write(testCtx(t), []byte("still mine"))
	buf := make([]byte, 10)
	if _, err := io.ReadFull(peer, buf); err != nil || string(buf) != "still mine" {
		t.Fatalf("peer read %q, %v", buf, err)
	}
}

// TestTransferStreamClosed checks SocketClosed, and that the bytes before
// the peer's close are read before the end of stream.
func TestTransferStreamClosed(t *testing.T) {
	b := newBroker(t, trigger.Options{})
	triggers := task(t, b, "closer")
	s, peer := pair(t, nil)
	b.EnableTransferOwnership(s, "closer")
	if err := b.TransferOwnership(testCtx(t), s, "c", nil, 0); err != nil {
		t.Fatal(err)
	}
	peer.Write([]byte("last words"))
	peer.Close()
	d := nextReason(t, triggers, trigger.SocketClosed)
	s2, err := d.SocketInformation.StreamSocket()
	if err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(readerOf(t, s2))
	if err != nil || string(all) != "last words" {
		t.Fatalf("read %q, %v", all, err)
	}
}

// readerOf is an io.Reader over a StreamSocket's input.
func readerOf(t testing.TB, s *sockets.StreamSocket) io.Reader {
	return readerFunc(func(p []byte) (int, error) { return s.InputStream().Read(testCtx(t), p, sockets.Partial) })
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// TestTransferStreamBound checks that at the buffer bound the broker stops
// reading and the peer waits, with nothing lost.
func TestTransferStreamBound(t *testing.T) {
	const bound = 64 << 10
	b := newBroker(t, trigger.Options{MaxBufferedBytes: bound})
	triggers := task(t, b, "bounded")
	s, peer := pair(t, nil)
	b.EnableTransferOwnership(s, "bounded")
	b.TransferOwnership(testCtx(t), s, "big", nil, 0)
	data := pattern(4 << 20)
	wrote := make(chan error, 1)
	go func() {
		_, err := peer.Write(data)
		wrote <- err
	}()
	d := nextReason(t, triggers, trigger.SocketActivity)
	for d.SocketInformation.Buffered() < bound {
		nextReason(t, triggers, trigger.SocketActivity)
	}
	if n := d.SocketInformation.Buffered(); n > bound+16<<10 {
		t.Fatalf("the broker holds %d bytes, over its bound %d and one read", n, bound)
	}
	s, err := d.SocketInformation.StreamSocket()
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(data))
	if _, err := io.ReadFull(readerOf(t, s), got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("the bytes read differ from the bytes sent")
	}
	if err := recv(t, wrote, "the peer's write"); err != nil {
		t.Fatal(err)
	}
}

// pattern returns n bytes that tell their position: no byte lost or moved
// goes unseen.
func pattern(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + i/251)
	}
	return p
}

// TestTransferRoundTrips moves a socket in and out of the broker while
// the peer streams, many times: the reader sees every byte, in order.
func TestTransferRoundTrips(t *testing.T) {
	b := newBroker(t, trigger.Options{})
	triggers := task(t, b, "mover")
	s, peer := pair(t, nil)
	b.EnableTransferOwnership(s, "mover")
	data := pattern(512 << 10)
	go func() {
		for p := data; len(p) > 0; {
			n := min(len(p), 1000)
			if _, err := peer.Write(p[:n]); err != nil {
				return
			}
			p = p[n:]
		}
	}()
	var got []byte
	buf := make([]byte, 3000)
	for round := 0; len(got) < len(data); round++ {
		n, err := s.InputStream().Read(testCtx(t), buf, sockets.Partial)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
		if round%4 != 0 || len(got) == len(data) {
			continue
		}
		if err := b.TransferOwnership(testCtx(t), s, "s", nil, 0); err != nil {
			t.Fatal(err)
		}
		held := b.AllSockets("mover")["s"]
		d := nextReason(t, triggers, trigger.SocketActivity)
		for d.SocketInformation != held { // one of an earlier hold
			d = nextReason(t, triggers, trigger.SocketActivity)
		}
		if s, err = d.SocketInformation.StreamSocket(); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, data) {
		t.Fatal("bytes lost or reordered across transfers")
	}
}

func TestTransferKeepAlive(t *testing.T) {
	b := newBroker(t, trigger.Options{})
	triggers := task(t, b, "ka")
	s, peer := pair(t, nil)
	b.EnableTransferOwnership(s, "ka")
	start := time.Now()
	if err := b.TransferOwnership(testCtx(t), s, "k", nil, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	d := nextReason(t, triggers, trigger.KeepAliveTimerExpired)
	if since := time.Since(start); since < 100*time.Millisecond {
		t.Fatalf("KeepAliveTimerExpired after %v, before the keep-alive time", since)
	}
	nextReason(t, triggers, trigger.KeepAliveTimerExpired) // it repeats while the socket is quiet
	// The task sends its keep-alive on the reclaimed socket and gives it
	// back, as a WinRT task does.
	s, err := d.SocketInformation.StreamSocket()
	if err != nil {
		t.Fatal(err)
	}
	s.OutputStream().Write(testCtx(t), []byte("k"))
	if err := b.TransferOwnership(testCtx(t), s, "k", nil, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	if _, err := io.ReadFull(peer, buf); err != nil || buf[0] != 'k' {
		t.Fatal("the keep-alive did not arrive")
	}
	if err := b.TransferOwnership(testCtx(t), s, "k2", nil, -time.Second); socketerror.HResultOf(err) != socketerror.EInvalidArg {
		t.Fatalf("a negative keep-alive = %v", err)
	}
}

func TestTransferListener(t *testing.T) {
	b := newBroker(t, trigger.Options{MaxHeldConnections: 2})
	triggers := task(t, b, "server")
	l := sockets.NewStreamSocketListener()
	defer l.Close()
	b.EnableTransferOwnership(l, "server")
	if err := b.TransferOwnership(testCtx(t), l, "web", nil, 0); socketerror.HResultOf(err) != socketerror.EIllegalMethodCall {
		t.Fatalf("transferring an unbound listener = %v", err)
	}
	l.ConnectionReceived().Add(func(a *sockets.ConnectionReceivedEventArgs) { t.Error("the owner's handler ran after the transfer") })
	if err := l.BindEndpoint(testCtx(t), loopback(t), ""); err != nil {
		t.Fatal(err)
	}
	if err := b.TransferOwnership(testCtx(t), l, "web", nil, time.Second); socketerror.HResultOf(err) != socketerror.EInvalidArg {
		t.Fatalf("a listener with a keep-alive = %v", err)
	}
	if err := b.TransferOwnership(testCtx(t), l, "web", []byte("listener"), 0); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + l.Information().LocalPort()
	var clients []net.Conn
	for i := 0; i < 4; i++ {
		c, err := net.Dial("tcp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte{byte('a' + i)})
		clients = append(clients, c)
	}
	d := nextReason(t, triggers, trigger.ConnectionAccepted)
	for d.SocketInformation.Buffered() < 2 {
		nextReason(t, triggers, trigger.ConnectionAccepted)
	}
	ln, conns, err := d.SocketInformation.StreamSocketListener()
	if err != nil || ln != l || len(conns) != 2 {
		t.Fatalf("reclaim = %v, %d connections, %v; want the listener and the 2 held (the bound)", ln, len(conns), err)
	}
	// The held connections first, in order, then the ones in the backlog
	// through the new owner's handler.
	for i, c := range conns {
		if got := readString(t, c, 1); got != string(rune('a'+i)) {
			t.Fatalf("held connection %d sent %q", i, got)
		}
		c.Close()
	}
	l.ConnectionReceived().Clear()
	rest := make(chan *sockets.StreamSocket, 4)
	l.ConnectionReceived().Add(func(a *sockets.ConnectionReceivedEventArgs) { rest <- a.Socket })
	seen := ""
	for i := 0; i < 2; i++ {
		s := recv(t, rest, "a connection from the backlog")
		seen += readString(t, s, 1)
		s.Close()
	}
	if seen != "cd" && seen != "dc" {
		t.Fatalf("the backlog's connections sent %q", seen)
	}
}

func TestTransferDatagramSocket(t *testing.T) {
	b := newBroker(t, trigger.Options{MaxHeldDatagrams: 3})
	triggers := task(t, b, "udp")
	d := sockets.NewDatagramSocket()
	defer d.Close()
	if err := d.BindEndpoint(testCtx(t), loopback(t), ""); err != nil {
		t.Fatal(err)
	}
	b.EnableTransferOwnership(d, "udp")
	if err := b.TransferOwnership(testCtx(t), d, "dns", nil, 0); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("udp4", "127.0.0.1:"+d.Information().LocalPort())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, m := range []string{"one", "two", "three", "four"} {
		c.Write([]byte(m))
	}
	det := nextReason(t, triggers, trigger.SocketActivity)
	for det.SocketInformation.Buffered() < 3 {
		nextReason(t, triggers, trigger.SocketActivity)
	}
	sock, held, err := det.SocketInformation.DatagramSocket()
	if err != nil || sock != d {
		t.Fatal(err)
	}
	var got []string
	for _, h := range held {
		got = append(got, string(h.Data))
		if h.Remote.String() != c.LocalAddr().String() {
			t.Fatalf("datagram from %v, want %v", h.Remote, c.LocalAddr())
		}
		if a := h.Args(); string(a.Data()) != string(h.Data) || a.RemotePort() != strconv.Itoa(int(h.Remote.Port())) || !a.LocalAddr().IsLoopback() {
			t.Fatalf("Args() = %q from %s to %v", a.Data(), a.RemotePort(), a.LocalAddr())
		}
	}
	if len(got) != 3 || got[0] != "one" || got[1] != "two" || got[2] != "three" {
		t.Fatalf("held datagrams %q; want the first 3 (the bound), in order", got)
	}
	// The socket is the owner's again: later datagrams reach its handler.
	again := make(chan string, 4)
	d.MessageReceived().Add(func(a *sockets.DatagramSocketMessageReceivedEventArgs) { again <- string(a.Data()) })
	c.Write([]byte("five"))
	if m := recv(t, again, "a datagram"); m != "five" {
		t.Fatalf("got %q", m)
	}
}

// TestRegisterTask checks that triggers wait for a registration, and that
// the newest registration gets them.
func TestRegisterTask(t *testing.T) {
	b := newBroker(t, trigger.Options{})
	s, peer := pair(t, nil)
	b.EnableTransferOwnership(s, "late")
	b.TransferOwnership(testCtx(t), s, "s", nil, 0)
	peer.Write([]byte("x"))
	eventually(t, "the broker to read the byte", func() bool { return b.AllSockets("late")["s"].Buffered() > 0 })
	old := make(chan *trigger.SocketActivityTriggerDetails, 8)
	unregisterOld := b.RegisterTask("late", func(d *trigger.SocketActivityTriggerDetails) bool { old <- d; return true })
	recv(t, old, "the trigger held for a registration") // raised on registration
	newer := task(t, b, "late")
	peer.Write([]byte("y"))
	recv(t, newer, "a trigger for the newest registration")
	unregisterOld()
	if len(old) != 0 {
		t.Fatal("the older registration got a trigger the newer one took")
	}

	// A registration that does not take a trigger (its guest stops)
	// leaves it for the next one.
	refused := make(chan struct{}, 8)
	unregisterRefusing := b.RegisterTask("late", func(*trigger.SocketActivityTriggerDetails) bool { refused <- struct{}{}; return false })
	peer.Write([]byte("z"))
	recv(t, refused, "the trigger, refused")
	unregisterRefusing()
	if d := recv(t, newer, "the refused trigger, raised again"); d.Reason != trigger.SocketActivity {
		t.Fatalf("reason %v", d.Reason)
	}

	// One that goes away while its handler runs, and then refuses, leaves
	// the trigger for the registration still there.
	unregisterCh := make(chan func(), 1)
	gone := make(chan struct{}, 8)
	unregisterCh <- b.RegisterTask("late", func(*trigger.SocketActivityTriggerDetails) bool {
		(<-unregisterCh)()
		gone <- struct{}{}
		return false
	})
	peer.Write([]byte("w"))
	recv(t, gone, "the trigger, refused by a registration that went away")
	recv(t, newer, "the trigger refused by a registration that went away, raised again")
}

// TestBrokerClose checks that Close closes what the broker holds.
func TestBrokerClose(t *testing.T) {
	b := trigger.NewBroker(trigger.Options{})
	s, peer := pair(t, nil)
	b.EnableTransferOwnership(s, "t")
	b.TransferOwnership(testCtx(t), s, "s", nil, time.Hour)
	info := b.AllSockets("t")["s"]
	b.Close()
	if n, err := peer.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("the peer read %d, %v; want the end of the connection", n, err)
	}
	if _, err := info.StreamSocket(); socketerror.HResultOf(err) != socketerror.EClosed {
		t.Fatalf("reclaim after Close = %v, want RO_E_CLOSED", err)
	}
	if err := b.TransferOwnership(testCtx(t), s, "again", nil, 0); socketerror.HResultOf(err) != socketerror.EClosed {
		t.Fatalf("TransferOwnership after Close = %v", err)
	}
	if err := b.EnableTransferOwnership("nope", "t"); socketerror.HResultOf(err) != socketerror.EInvalidArg {
		t.Fatalf("EnableTransferOwnership(string) = %v", err)
	}
	if err := b.EnableTransferOwnership(s, ""); socketerror.HResultOf(err) != socketerror.EInvalidArg {
		t.Fatalf("EnableTransferOwnership with no task = %v", err)
	}
}
