// Package connlog is netrun's first-party connection logger: a TCP relay
// that listens on an address (127.0.0.1:7091 unless -addr says
// otherwise), forwards each connection to -target (or, without one,
// echoes it), and writes one JSON line per connection event to -out (a
// file, appended to; "-" or nothing means the plugin's stderr, whose lines
// the host logs with their keys as attributes):
//
//	{"time":"...","event":"open","conn":1,"remote":"127.0.0.1:50312","local_port":"7091","target":"127.0.0.1:8080"}
//	{"time":"...","event":"close","conn":1,"bytes_in":5,"bytes_out":5,"duration_ms":12}
//
// bytes_in counts what the client sent, bytes_out what it was sent back.
// A failed connect to the target is an "error" event and closes the
// client's connection.
package connlog

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netrun/netrun/bindings/plugin/sdk"
	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
)

// DefaultAddr is where connlog listens without -addr.
const DefaultAddr = "127.0.0.1:7091"

// Plugin is the connection logger.
type Plugin struct {
	// Addr is host:port to listen on.
	Addr string
	// Target is host:port to relay to; "" echoes.
	Target string
	// Out is the file JSON lines are appended to; "" or "-" is stderr.
	Out string
	// Linger is how long, after the client has finished sending, the
	// relay waits for more from the target before it closes both sides
	// (the protocol has no half-close): each byte from the target restarts
	// the wait.
	Linger time.Duration

	mu   sync.Mutex // serialises lines
	w    io.Writer
	next atomic.Uint64
}

// New parses args (-addr, -target, -out) into a Plugin.
func New(args []string) (sdk.Plugin, error) {
	fs := flag.NewFlagSet("connlog", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	p := &Plugin{}
	fs.StringVar(&p.Addr, "addr", DefaultAddr, "host:port to listen on")
	fs.StringVar(&p.Target, "target", "", "host:port to relay each connection to (default: echo)")
	fs.StringVar(&p.Out, "out", "", "file to append JSON lines to (default: stderr)")
	fs.DurationVar(&p.Linger, "linger", 500*time.Millisecond, "after the client has finished sending, close once the target has been quiet this long")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, errors.New("connlog: unexpected argument " + fs.Arg(0))
	}
	return p, nil
}

// Event is one JSON line.
type Event struct {
	Time       time.Time `json:"time"`
	Event      string    `json:"event"` // open, close, error
	Conn       uint64    `json:"conn"`
	Remote     string    `json:"remote,omitempty"`
	LocalPort  string    `json:"local_port,omitempty"`
	Target     string    `json:"target,omitempty"`
	BytesIn    int64     `json:"bytes_in,omitempty"`
	BytesOut   int64     `json:"bytes_out,omitempty"`
	DurationMS int64     `json:"duration_ms,omitempty"`
	Error      string    `json:"error,omitempty"`
}

func (p *Plugin) emit(e Event) {
	e.Time = time.Now().UTC()
	b, _ := json.Marshal(e)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.w.Write(append(b, '\n'))
}

// Run listens and relays until ctx ends.
func (p *Plugin) Run(ctx context.Context, h *sdk.Host) error {
	p.w = h.Stderr()
	if p.Out != "" && p.Out != "-" {
		f, err := os.OpenFile(p.Out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		p.w = f
	}
	host, port, err := net.SplitHostPort(p.Addr)
	if err != nil {
		return err
	}
	hn, err := networking.NewHostName(host)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	l := h.NewStreamSocketListener()
	defer l.Close()
	l.ConnectionReceived().Add(func(a *sdk.ConnectionReceivedEventArgs) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.serve(ctx, h, a.Socket)
		}()
	})
	if err := l.BindEndpoint(ctx, hn, port); err != nil {
		return err
	}
	h.Logger().Info("connlog listening", "port", l.Information().LocalPort(), "target", p.Target)
	<-ctx.Done()
	return nil
}

// serve relays (or echoes) one connection and logs it.
func (p *Plugin) serve(ctx context.Context, h *sdk.Host, s *sdk.StreamSocket) {
	defer s.Close()
	id := p.next.Add(1)
	start := time.Now()
	info := s.Information()
	p.emit(Event{Event: "open", Conn: id, Remote: net.JoinHostPort(info.RemoteAddress().String(), info.RemotePort()),
		LocalPort: info.LocalPort(), Target: p.Target})
	var in, out atomic.Int64
	var err error
	if p.Target == "" {
		n, e := pump(ctx, s, s, nil)
		in.Store(n)
		out.Store(n)
		err = e
	} else {
		err = p.relay(ctx, h, s, &in, &out)
	}
	e := Event{Event: "close", Conn: id, BytesIn: in.Load(), BytesOut: out.Load(), DurationMS: time.Since(start).Milliseconds()}
	if err != nil {
		e.Error = err.Error()
	}
	p.emit(e)
}

// relay connects to the target and pumps both ways. Once the client has
// finished sending, the target gets Linger of quiet, restarted by each
// byte it sends, before both sides are closed.
func (p *Plugin) relay(ctx context.Context, h *sdk.Host, client *sdk.StreamSocket, in, out *atomic.Int64) error {
	host, port, err := net.SplitHostPort(p.Target)
	if err != nil {
		return err
	}
	hn, err := networking.NewHostName(host)
	if err != nil {
		return err
	}
	up := h.NewStreamSocket()
	defer up.Close()
	if err := up.Connect(ctx, hn, port, sockets.PlainSocket); err != nil {
		return err
	}
	var mu sync.Mutex
	var linger *time.Timer // set once the client is done
	errs := make(chan error, 1)
	go func() {
		n, err := pump(ctx, client, up, nil)
		in.Store(n)
		mu.Lock()
		linger = time.AfterFunc(p.Linger, func() { up.Close() })
		mu.Unlock()
		errs <- err
	}()
	n, err := pump(ctx, up, client, func() {
		mu.Lock()
		if linger != nil {
			linger.Reset(p.Linger)
		}
		mu.Unlock()
	})
	out.Store(n)
	client.Close()
	up.Close()
	mu.Lock()
	if linger != nil {
		linger.Stop()
	}
	mu.Unlock()
	return errors.Join(err, <-errs)
}

// pump copies from src to dst until src ends, and returns the bytes
// copied; progress, if set, is called after each write. End of stream and
// a socket closed by this relay are not errors.
func pump(ctx context.Context, src, dst *sdk.StreamSocket, progress func()) (int64, error) {
	buf := make([]byte, 16<<10)
	var total int64
	for {
		n, err := src.InputStream().Read(ctx, buf, sockets.Partial)
		if err != nil {
			if err == io.EOF || closedHere(err) || ctx.Err() != nil {
				return total, nil
			}
			return total, err
		}
		if _, err := dst.OutputStream().Write(ctx, buf[:n]); err != nil {
			if closedHere(err) {
				return total, nil
			}
			return total, err
		}
		total += int64(n)
		if progress != nil {
			progress()
		}
	}
}

// closedHere reports whether err is what an operation gets when the
// relay closed its socket: RO_E_CLOSED, or a read aborted by the close.
func closedHere(err error) bool {
	return errors.Is(err, net.ErrClosed) || socketerror.GetStatus(err) == socketerror.OperationAborted
}
