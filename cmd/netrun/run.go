package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	lua "github.com/netrun/netrun/bindings/lua"
	pluginhost "github.com/netrun/netrun/bindings/plugin/host"
	"github.com/netrun/netrun/runtime/host"
	"github.com/netrun/netrun/runtime/isolation"
	"github.com/netrun/netrun/runtime/trigger"
)

const (
	runUsage = "[--config FILE] [--allow CAPS] [--workers N] [PATH ...]"
	runDoc   = "run scripts, reloading them as they change, until SIGINT or SIGTERM"
	runHelp  = `PATH is a .lua file, or a folder whose *.lua files (not *_test.lua) run,
including those created there later. With no PATH and no --config, netrun
runs the default scripts: the folder "scripts" in the current directory
(run it from the repository root).

--allow grants capabilities to the scripts named by PATH; without it they
get loopback only, a safe default. The config file grants each of its
scripts its own. print goes to stdout, logs to stderr.
`
	// defaultScripts is the folder run when neither PATH nor --config is
	// given, relative to the current directory.
	defaultScripts = "scripts"
)

// capsFlag is --allow: a capability list, parsed when given.
type capsFlag struct {
	caps isolation.Capabilities
	set  bool
}

func (f *capsFlag) String() string { return f.caps.String() }

func (f *capsFlag) Set(s string) error {
	c, err := isolation.ParseCapabilities(s)
	if err != nil {
		return err
	}
	f.caps, f.set = c, true
	return nil
}

// run is "netrun run".
func (c *cli) run(ctx context.Context, args []string) error {
	var configFile string
	var allow capsFlag
	var workers int
	fl, err := c.parse("run", args, func(fl *flag.FlagSet) {
		fl.IntVar(&workers, "workers", 0, "run each script named by PATH in `N` workers (Lua states), to use N cores;\n"+
			"a script's state (net.state, its tables) is then per worker (default: the config's workers, else 1)")
		fl.StringVar(&configFile, "config", "", "read the host configuration (TOML) from `FILE`")
		fl.Var(&allow, "allow", "grant the comma-separated `CAPS` to the scripts named by PATH: internetClient,\n"+
			"internetClientServer, privateNetworkClientServer, loopback (default loopback)")
	})
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(c.stderr, nil))

	var cfg *host.Config
	if configFile != "" {
		if cfg, err = host.Load(configFile); err != nil {
			return err
		}
		if cfg.Host.Admin != "" {
			log.Warn("the admin API is not supported yet; not listening", "admin", cfg.Host.Admin)
		}
	}
	paths := fl.Args()
	if cfg == nil && len(paths) == 0 {
		dir, err := filepath.Abs(defaultScripts)
		if err != nil {
			return err
		}
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			if err == nil || errors.Is(err, fs.ErrNotExist) {
				return &usageError{msg: fmt.Sprintf("no PATH given, and there is no folder %s of default scripts: name scripts to run, or run netrun from the repository root", dir)}
			}
			return err
		}
		log.Info("no PATH and no --config: running the default scripts", "folder", dir)
		paths = []string{dir}
	}
	caps := isolation.Capabilities(isolation.Loopback)
	if allow.set {
		caps = allow.caps
	} else if len(paths) > 0 {
		log.Info("no --allow: the scripts named on the command line get loopback only, a safe default; grant more with --allow")
	}

	budget := time.Duration(0) // the engine's default
	if cfg != nil {
		budget = cfg.Host.CPUBudget.Duration
	}
	broker := trigger.NewBroker(trigger.Options{Logger: log})
	engine, err := lua.NewEngine(lua.EngineOptions{Logger: log, Stdout: c.stdout, CPUBudget: budget, Broker: broker})
	if err != nil {
		return err
	}
	if workers < 0 || workers > 1024 {
		return &usageError{msg: fmt.Sprintf("-workers %d: want 1 to 1024", workers)}
	}
	var runner *pluginhost.Runner
	if cfg != nil && len(cfg.Plugins) > 0 {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("finding the netrun binary for first-party plugins: %w", err)
		}
		runner = pluginhost.New(pluginhost.Options{Logger: log, Executable: exe, FirstParty: firstPartyNames(), Broker: broker})
	}
	opts := host.Options{Config: cfg, Paths: paths, Allow: caps, Workers: workers, Scripts: engine, Broker: broker, Logger: log}
	if runner != nil {
		opts.Plugins = runner
	}
	h, err := host.New(opts)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal, a second one ends netrun at once.
	context.AfterFunc(ctx, func() {
		log.Info("stopping: closing every script's sockets", "cause", context.Cause(ctx))
		stop()
	})
	return h.Run(ctx)
}
