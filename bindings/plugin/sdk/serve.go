package sdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/netrun/netrun/bindings/plugin/proto/pluginv1"
)

// windowSize is the HTTP/2 flow-control window of the session stream and
// its connection, both ways: large enough that the peers seldom send
// WINDOW_UPDATE frames, and it turns off gRPC's BDP pings.
const windowSize = 4 << 20

// helloTimeout bounds how long a new session waits for the host's Hello.
const helloTimeout = 30 * time.Second

// runGrace is how long Run may take to return after its context ends
// before the session ends without it.
const runGrace = 5 * time.Second

// Plugin is a netrun plugin.
type Plugin interface {
	// Run is called once per session with the host, that is once per
	// start of the plugin process. It sets up the plugin's sockets and
	// returns when the plugin is done; ctx ends when the host asks the
	// plugin to stop or goes away. When Run returns, the SDK closes the
	// sockets the plugin left open (except transferred ones) and the
	// process exits. An error is logged.
	Run(ctx context.Context, h *Host) error
}

// PluginFunc is a function used as a Plugin.
type PluginFunc func(ctx context.Context, h *Host) error

// Run calls f.
func (f PluginFunc) Run(ctx context.Context, h *Host) error { return f(ctx, h) }

// Options configures Serve.
type Options struct {
	// Logger receives the SDK's and the plugin's logs; nil means JSON
	// lines on the process's stderr, which the host relays to its own log
	// with the plugin's name.
	Logger *slog.Logger
	// Stderr is where Host.Stderr writes; nil means the process's stderr
	// as it was before go-plugin redirected os.Stderr.
	Stderr io.Writer
	// MaxProcs is the plugin's GOMAXPROCS. 0 means 1, unless the
	// GOMAXPROCS environment variable is set: a plugin mostly relays the
	// host's sockets, and with one P the hand-offs between its gRPC
	// goroutines and the plugin's stay on one thread instead of waking
	// another (measured: 5-15 % more echo throughput on two cores shared
	// with the host). Set it for a plugin that computes.
	MaxProcs int
}

// Serve serves p to the netrun host that started this process, and
// exits the process when the host ends the session. It must be called
// from main, before anything is written to stdout. Run outside netrun, it
// prints a hint and exits with status 1.
func Serve(p Plugin) { ServeWith(p, nil) }

// ServeWith is Serve with options.
func ServeWith(p Plugin, opts *Options) {
	o := Options{}
	if opts != nil {
		o = *opts
	}
	// go-plugin replaces os.Stderr by a pipe it may discard: write to the
	// real one, whose lines the host reads.
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewJSONHandler(o.Stderr, nil))
	}
	opts = &o
	switch {
	case o.MaxProcs > 0:
		runtime.GOMAXPROCS(o.MaxProcs)
	case os.Getenv("GOMAXPROCS") == "":
		runtime.GOMAXPROCS(1)
	}
	if os.Getenv(MagicCookieKey) != MagicCookieValue {
		fmt.Fprintln(os.Stderr, "This is a netrun plugin: netrun starts it (name it in a [[plugin]] table of netrun's config); it does nothing on its own.")
		os.Exit(1)
	}
	done := make(chan struct{})
	srv := &server{impl: p, opts: opts, done: done}
	stopProfile := sync.OnceFunc(startProfile(opts.Logger))
	defer stopProfile()
	srv.stopProfile = stopProfile
	go func() {
		// The session ended: the plugin has no reason to live on, even if
		// the host did not kill it (it may have been killed itself).
		<-done
		stopProfile()
		os.Exit(0)
	}()
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake(),
		Plugins:         plugin.PluginSet{PluginName: &servedPlugin{srv: srv}},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return plugin.DefaultGRPCServer(append(opts, grpc.InitialWindowSize(windowSize), grpc.InitialConnWindowSize(windowSize)))
		},
		Logger: hclog.New(&hclog.LoggerOptions{Name: "go-plugin", Output: os.Stderr, Level: hclog.Warn, JSONFormat: true}),
	})
}

// startProfile writes a CPU profile of the plugin to the file
// $NETRUN_PLUGIN_CPUPROFILE names, if it is set, until the returned
// function is called: a plugin's profile, which `go test -cpuprofile` of
// the host does not include.
func startProfile(log *slog.Logger) func() {
	path := os.Getenv("NETRUN_PLUGIN_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(fmt.Sprintf("%s.%d", path, os.Getpid()))
	if err != nil {
		log.Warn("no CPU profile", "err", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		log.Warn("no CPU profile", "err", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// servedPlugin registers an already made server.
type servedPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	srv *server
}

var _ plugin.GRPCPlugin = (*servedPlugin)(nil)

// GRPCServer registers the Plugin service.
func (p *servedPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pluginv1.RegisterPluginServer(s, p.srv)
	return nil
}

// GRPCClient is not used: a plugin has no client side.
func (p *servedPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("sdk: a plugin has no client side")
}

// server implements the Plugin service for one Plugin.
type server struct {
	pluginv1.UnimplementedPluginServer
	impl Plugin
	opts *Options
	done chan struct{} // closed when a session ends; nil in tests
	// stopProfile stops a CPU profile started by ServeWith, if any.
	stopProfile func()
}

// Session runs one session: it waits for Hello, runs the plugin's Run
// beside the receive and send loops, and returns once the stream or Run
// has ended.
func (sv *server) Session(stream grpc.BidiStreamingServer[pluginv1.HostMessage, pluginv1.PluginMessage]) error {
	if sv.done != nil {
		defer close(sv.done)
	}
	if sv.stopProfile != nil {
		defer sv.stopProfile()
	}
	opts := sv.opts
	if opts == nil || opts.Logger == nil || opts.Stderr == nil {
		opts = &Options{Logger: slog.New(slog.NewJSONHandler(os.Stderr, nil)), Stderr: os.Stderr}
	}
	hello, err := recvHello(stream)
	if err != nil {
		opts.Logger.Error("no Hello from the host", "err", err)
		return err
	}
	log := opts.Logger.With("plugin", hello.PluginName, "instance", hello.Instance)
	s := newSession(stream, log, hello)
	h := &Host{s: s, log: log, stderr: opts.Stderr}

	sendDone := make(chan struct{})
	go func() {
		defer close(sendDone)
		s.sender()
	}()
	runDone := make(chan error, 1)
	go func() {
		runDone <- runPlugin(sv.impl, s.runCtx, h)
	}()
	recvDone := make(chan error, 1)
	go func() { recvDone <- s.receive() }()

	var runErr error
	select {
	case runErr = <-runDone:
		h.closeAll() // each Close waits for its completion
		s.end(errSessionEnded)
	case err := <-recvDone:
		s.end(fmt.Errorf("sdk: the stream from the host ended: %w", err))
		select {
		case runErr = <-runDone:
		case <-time.After(runGrace):
			log.Warn("Run did not return after the session ended", "waited", runGrace)
		}
	}
	<-sendDone
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		log.Error("plugin stopped with an error", "err", runErr)
	}
	return nil
}

// runPlugin runs impl.Run, turning a panic into an error.
func runPlugin(impl Plugin, ctx context.Context, h *Host) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sdk: Run panicked: %v", r)
		}
	}()
	return impl.Run(ctx, h)
}

// recvHello waits for the first event, which must be Hello.
func recvHello(stream grpc.BidiStreamingServer[pluginv1.HostMessage, pluginv1.PluginMessage]) (*pluginv1.Hello, error) {
	type result struct {
		msg *pluginv1.HostMessage
		err error
	}
	ch := make(chan result, 1)
	go func() {
		m, err := stream.Recv()
		ch <- result{m, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, r.err
		}
		if len(r.msg.Events) != 1 || r.msg.Events[0].GetHello() == nil {
			return nil, errors.New("the first message is not a lone Hello")
		}
		hello := r.msg.Events[0].GetHello()
		if hello.ProtocolVersion != ProtocolVersion {
			return nil, fmt.Errorf("the host speaks protocol version %d; this plugin speaks %d", hello.ProtocolVersion, ProtocolVersion)
		}
		return hello, nil
	case <-time.After(helloTimeout):
		return nil, fmt.Errorf("no Hello within %v", helloTimeout)
	}
}
