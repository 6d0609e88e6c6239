package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/netrun/netrun/bindings/plugin/sdk"
	rthost "github.com/netrun/netrun/runtime/host"
	"github.com/netrun/netrun/runtime/sockets"
)

// maxRecvMsg is the largest stream message the host accepts from a
// plugin (the SDK sends at most 2 MiB; other plugins may batch more).
const maxRecvMsg = 16 << 20

// windowSize is the HTTP/2 flow-control window of the session stream and
// its connection (the SDK's server uses the same): large enough that
// WINDOW_UPDATE frames are rare, and it turns off gRPC's BDP pings.
const windowSize = 4 << 20

// supervisor keeps one plugin running: it starts an instance, waits for
// it to end, closes or parks its sockets, and starts the next one after a
// backoff. It is the Guest that StartPlugin returns.
type supervisor struct {
	// immutable after newSupervisor
	r      *Runner
	cfg    rthost.PluginConfig
	argv   []string
	env    *sockets.Env
	log    *slog.Logger
	ctx    context.Context // ends when Stop is called
	cancel context.CancelFunc
	done   chan struct{} // closed when the supervisor goroutine has returned
	broker *broker

	wg sync.WaitGroup // every goroutine of the plugin's instances and sockets

	mu       sync.Mutex // guards the fields below
	cur      *instance
	instance int // instances started
}

func newSupervisor(r *Runner, cfg rthost.PluginConfig, argv []string, env *sockets.Env, log *slog.Logger) *supervisor {
	ctx, cancel := context.WithCancel(context.Background())
	sv := &supervisor{r: r, cfg: cfg, argv: argv, env: env, log: log, ctx: ctx, cancel: cancel, done: make(chan struct{})}
	sv.broker = newBroker(sv)
	return sv
}

func (sv *supervisor) start() { go sv.run() }

// go runs f on a goroutine that Stop waits for.
func (sv *supervisor) goFunc(f func()) {
	sv.wg.Add(1)
	go func() {
		defer sv.wg.Done()
		f()
	}()
}

// run is the supervisor goroutine. It is locked to its OS thread, from
// which every instance's process is started: Pdeathsig fires when the
// thread that forked the child dies, so the thread must live as long as
// the children (golang/go#27505).
func (sv *supervisor) run() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer close(sv.done)
	backoff := sv.r.opts.MinBackoff
	for {
		if sv.cfg.Lazy && (sv.broker.holds() || sv.heldForTask() > 0) {
			sv.log.Info("plugin waits for activity on a socket it transferred before starting again")
			if !sv.waitActivity() {
				return
			}
		}
		started := time.Now()
		inst, err := sv.launch()
		var status string
		if err != nil {
			status = "failed to start: " + err.Error()
		} else {
			status = inst.wait(sv.ctx)
		}
		if sv.ctx.Err() != nil {
			return
		}
		if time.Since(started) >= stableAfter {
			backoff = sv.r.opts.MinBackoff
		}
		sv.log.Error("plugin exited; restarting it", "instance", sv.instanceNumber(), "status", status,
			"uptime", time.Since(started).Round(time.Millisecond), "retry_in", backoff,
			"transferred_kept", sv.broker.count())
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-sv.ctx.Done():
			t.Stop()
			return
		}
		backoff = min(2*backoff, sv.r.opts.MaxBackoff)
	}
}

func (sv *supervisor) instanceNumber() int {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return sv.instance
}

// launch starts the plugin's process, opens its session and sends Hello.
func (sv *supervisor) launch() (*instance, error) {
	sv.mu.Lock()
	sv.instance++
	n := sv.instance
	sv.mu.Unlock()

	cmd := exec.Command(sv.argv[0], sv.argv[1:]...)
	cmd.SysProcAttr = procAttr()
	stderr := &lineLogger{log: sv.log.With("instance", n)}
	// Managed is left off: go-plugin keeps managed clients in a global
	// list that only CleanupClients empties, which would grow with every
	// restart; the supervisor kills every client it starts itself.
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake(),
		Plugins:          plugin.PluginSet{sdk.PluginName: &sdk.GRPCPlugin{}},
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		StartTimeout:     sv.r.opts.StartTimeout,
		Logger:           hclog.NewNullLogger(),
		Stderr:           stderr,
		GRPCDialOptions: []grpc.DialOption{grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecvMsg)),
			grpc.WithInitialWindowSize(windowSize), grpc.WithInitialConnWindowSize(windowSize)},
	})
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("starting %s: %w", strings.Join(sv.argv, " "), err)
	}
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("dispensing the plugin: %w", err)
	}
	conn, ok := raw.(*sdk.Conn)
	if !ok {
		client.Kill()
		return nil, fmt.Errorf("dispensing the plugin: got %T", raw)
	}
	inst := newInstance(sv, n, client, cmd, conn)
	if err := inst.open(); err != nil {
		client.Kill()
		inst.cleanup()
		return nil, err
	}
	sv.mu.Lock()
	sv.cur = inst
	sv.mu.Unlock()
	pid := 0
	if cmd.Process != nil {
		pid = cmd.Process.Pid
	}
	sv.log.Info("plugin started", "instance", n, "pid", pid, "transferred", sv.broker.count())
	sv.r.observe(Event{Kind: Started, Plugin: sv.cfg.Name, Instance: n, PID: pid})
	return inst, nil
}

// Stop asks the running instance to shut down, kills it if it has not
// within the shutdown timeout, closes every socket the plugin had
// (transferred ones included) and waits for the plugin's goroutines.
func (sv *supervisor) Stop() {
	sv.cancel()
	<-sv.done
	sv.broker.closeAll()
	sv.wg.Wait()
}

// Drain is Stop: a plugin has no older version to drain.
func (sv *supervisor) Drain(context.Context) { sv.Stop() }

// exitStatus describes how the process of cmd ended, once it has.
func exitStatus(client *plugin.Client, cmd *exec.Cmd, cause error) string {
	var parts []string
	if cause != nil {
		parts = append(parts, cause.Error())
	}
	if client.Exited() && cmd.ProcessState != nil {
		parts = append(parts, "process "+cmd.ProcessState.String())
	}
	if len(parts) == 0 {
		return "unknown"
	}
	return strings.Join(parts, "; ")
}

// errStopping is the cause of an instance's end when the host stops.
var errStopping = errors.New("the host is stopping the plugin")
