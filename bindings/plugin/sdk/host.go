package sdk

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/netrun/netrun/bindings/plugin/proto/pluginv1"
	"github.com/netrun/netrun/runtime/socketerror"
)

// Host is the netrun host as a plugin sees it during one session: it
// makes sockets, whose real counterparts live in the host and are checked
// against the plugin's capabilities, and it hands back the sockets an
// earlier instance of the plugin transferred. All methods are safe for
// concurrent use.
type Host struct {
	s      *session
	log    *slog.Logger
	stderr io.Writer

	mu   sync.Mutex
	open map[socket]struct{} // made during this session and not closed
}

// socket is any of the three classes, for closeAll.
type socket interface {
	Close() error
	isTransferred() bool
}

// Name returns the plugin's name in the host's config.
func (h *Host) Name() string { return h.s.hello.PluginName }

// Instance returns how many times the host has started the plugin,
// this time included.
func (h *Host) Instance() int { return int(h.s.hello.Instance) }

// Capabilities returns the capabilities the host grants the plugin, as
// WinRT manifests name them.
func (h *Host) Capabilities() []string { return h.s.hello.Capabilities }

// Stderr returns the process's stderr: each line written there is logged
// by the host with the plugin's name (a JSON object's keys become the
// record's attributes). os.Stderr itself is redirected by go-plugin
// once Serve runs, and its output may be discarded.
func (h *Host) Stderr() io.Writer { return h.stderr }

// Logger returns the plugin's logger: JSON lines on stderr, which the
// host logs as the plugin's.
func (h *Host) Logger() *slog.Logger { return h.log }

// SocketKind is the kind of a transferred socket: WinRT's
// SocketActivityKind.
type SocketKind int32

// The kinds of socket, with WinRT's values; KindMessageWebSocket and
// KindStreamWebSocket are netrun's (WebSockets are never transferred).
const (
	KindNone                 SocketKind = 0
	KindStreamSocketListener SocketKind = 1
	KindDatagramSocket       SocketKind = 2
	KindStreamSocket         SocketKind = 3
	KindMessageWebSocket     SocketKind = 4
	KindStreamWebSocket      SocketKind = 5
)

// String returns the WinRT name of k.
func (k SocketKind) String() string {
	switch k {
	case KindStreamSocketListener:
		return "StreamSocketListener"
	case KindDatagramSocket:
		return "DatagramSocket"
	case KindStreamSocket:
		return "StreamSocket"
	case KindMessageWebSocket:
		return "MessageWebSocket"
	case KindStreamWebSocket:
		return "StreamWebSocket"
	}
	return "None"
}

// TransferredSocket is a socket an earlier instance of the plugin
// transferred with TransferOwnership, kept by the host since: WinRT's
// SocketActivityInformation. Take it back with the Reclaim method of its
// kind.
type TransferredSocket struct {
	// ID is the socket's id.
	ID uint64
	// Kind says which Reclaim method takes it back.
	Kind SocketKind
	// Context is what TransferOwnership was given.
	Context []byte
	// LocalPort is the socket's local port.
	LocalPort string
	// RemoteAddress and RemotePort are a stream socket's peer.
	RemoteAddress, RemotePort string
	// Buffered counts the bytes of a stream socket that the host read
	// meanwhile; the first reads return them.
	Buffered uint64
}

// Transferred returns the sockets earlier instances transferred and that
// are waiting to be reclaimed.
func (h *Host) Transferred() []TransferredSocket {
	var out []TransferredSocket
	for _, t := range h.s.hello.Transferred {
		out = append(out, TransferredSocket{
			ID: t.Socket, Kind: SocketKind(t.Kind), Context: t.Context,
			LocalPort: t.GetInfo().GetLocalPort(), RemoteAddress: t.GetInfo().GetRemoteAddress(),
			RemotePort: t.GetInfo().GetRemotePort(), Buffered: t.Buffered,
		})
	}
	return out
}

// ReclaimStreamSocket takes back the transferred stream socket id.
func (h *Host) ReclaimStreamSocket(ctx context.Context, id uint64) (*StreamSocket, error) {
	const op = "Host.ReclaimStreamSocket"
	res, err := h.reclaim(ctx, op, id, KindStreamSocket, nil)
	if err != nil {
		return nil, err
	}
	s := h.NewStreamSocket()
	s.setConnected(res.GetCreated().Socket, res.GetCreated().Info)
	s.transferred.Store(true)
	return s, nil
}

// ReclaimStreamSocketListener takes back the transferred listener id. Its
// connections, held in the backlog meanwhile, are raised once a
// ConnectionReceived handler is added.
func (h *Host) ReclaimStreamSocketListener(ctx context.Context, id uint64) (*StreamSocketListener, error) {
	const op = "Host.ReclaimStreamSocketListener"
	l := h.NewStreamSocketListener()
	res, err := h.reclaim(ctx, op, id, KindStreamSocketListener, l)
	if err != nil {
		return nil, err
	}
	l.setBound(res.GetCreated().Socket, res.GetCreated().Info)
	l.transferred.Store(true)
	return l, nil
}

// ReclaimDatagramSocket takes back the transferred datagram socket id.
func (h *Host) ReclaimDatagramSocket(ctx context.Context, id uint64) (*DatagramSocket, error) {
	const op = "Host.ReclaimDatagramSocket"
	d := h.NewDatagramSocket()
	res, err := h.reclaim(ctx, op, id, KindDatagramSocket, d)
	if err != nil {
		return nil, err
	}
	d.setBound(res.GetCreated().Socket, res.GetCreated().Info)
	d.transferred.Store(true)
	return d, nil
}

func (h *Host) reclaim(ctx context.Context, op string, id uint64, kind SocketKind, sk sink) (*pluginv1.Completion, error) {
	found := false
	for _, t := range h.s.hello.Transferred {
		if t.Socket == id {
			if SocketKind(t.Kind) != kind {
				return nil, socketerror.InvalidArg(op, "id", "socket %d is a %s, not a %s", id, SocketKind(t.Kind), kind)
			}
			found = true
		}
	}
	if !found {
		return nil, socketerror.InvalidArg(op, "id", "socket %d is not among the transferred sockets", id)
	}
	return h.s.do(ctx, op, &pluginv1.Command{Command: &pluginv1.Command_Reclaim{Reclaim: &pluginv1.Reclaim{Socket: id}}}, sk)
}

// track and untrack keep the set of open sockets for closeAll.
func (h *Host) track(s socket) {
	h.mu.Lock()
	if h.open == nil {
		h.open = map[socket]struct{}{}
	}
	h.open[s] = struct{}{}
	h.mu.Unlock()
}

func (h *Host) untrack(s socket) {
	h.mu.Lock()
	delete(h.open, s)
	h.mu.Unlock()
}

// closeAll closes the sockets left open, except transferred ones, which
// the host keeps for the next instance.
func (h *Host) closeAll() {
	h.mu.Lock()
	list := make([]socket, 0, len(h.open))
	for s := range h.open {
		list = append(list, s)
	}
	h.mu.Unlock()
	for _, s := range list {
		if !s.isTransferred() {
			s.Close()
		}
	}
}

// transfer sends TransferOwnership for socket id.
func (h *Host) transfer(ctx context.Context, op string, id uint64, data []byte) error {
	if id == 0 {
		return socketerror.IllegalCall(op, "the socket is not connected or bound yet")
	}
	_, err := h.s.do(ctx, op, &pluginv1.Command{Command: &pluginv1.Command_TransferOwnership{
		TransferOwnership: &pluginv1.TransferOwnership{Socket: id, Context: data}}}, nil)
	return err
}

// closeID sends Close for socket id and waits for it.
func (h *Host) closeID(op string, id uint64) {
	if _, err := h.s.do(context.Background(), op, &pluginv1.Command{Command: &pluginv1.Command_Close{Close: &pluginv1.Close{Socket: id}}}, nil); err != nil {
		h.log.Debug("close failed", "socket", id, "err", err)
	}
}

// String names the plugin, for logs.
func (h *Host) String() string { return fmt.Sprintf("plugin %s #%d", h.Name(), h.Instance()) }
