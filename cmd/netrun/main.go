// Command netrun is the netrun host: it runs Lua scripts on netrun's
// implementation of WinRT's Windows.Networking.Sockets and reloads them
// as they change.
//
// Usage:
//
//	netrun run [--config FILE] [--allow CAPS] [PATH ...]
//	netrun bench ...
//	netrun plugin NAME [ARGS ...]
//	netrun version
//	netrun help [COMMAND]
//
// Each subcommand is one entry of the table that (*cli).commands returns
// and, past the smallest ones, one file: run.go, bench.go, plugin.go.
//
// Exit status: 0 on success (and after SIGINT or SIGTERM), 2 for a
// mistake in the command line, 1 for any other error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
)

// version is netrun's version.
const version = "0.1.0-dev"

func main() {
	c := &cli{stdout: os.Stdout, stderr: os.Stderr}
	os.Exit(c.main(context.Background(), os.Args[1:]))
}

// cli is the command line's environment: where output goes.
type cli struct {
	stdout io.Writer // print output of the scripts, and what a command prints
	stderr io.Writer // logs, usage and errors
}

// command is one subcommand.
type command struct {
	name  string
	usage string // its arguments, as "netrun NAME" is followed
	doc   string // what it does, one line
	help  string // more, for "netrun help NAME"; may be empty
	run   func(ctx context.Context, args []string) error
}

// commands is the table of subcommands, in the order help lists them.
func (c *cli) commands() []command {
	return []command{
		{name: "run", usage: runUsage, doc: runDoc, help: runHelp, run: c.run},
		{name: "bench", usage: benchUsage, doc: benchDoc, help: benchHelp, run: c.bench},
		{name: "plugin", usage: pluginUsage, doc: pluginDoc, help: pluginHelp(), run: c.plugin},
		{name: "version", doc: "print the version of netrun, of Go and of the modules it was built from", run: c.version},
	}
}

// usageError is a mistake in the command line: it exits 2 after the
// command's usage.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// exitError ends netrun with its code after printing its message.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// errFlags is a command line the flag package rejected and reported.
var errFlags = errors.New("bad flags")

// main runs the command line args and returns the exit status.
func (c *cli) main(ctx context.Context, args []string) int {
	if len(args) == 0 {
		c.usage()
		return 2
	}
	name, args := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 0 {
			if cmd, ok := c.find(args[0]); ok {
				// The command's own -h prints its usage with its flags.
				if err := cmd.run(ctx, []string{"-h"}); !errors.Is(err, flag.ErrHelp) {
					c.flags(cmd).Usage()
				}
				return 0
			}
			fmt.Fprintf(c.stderr, "netrun help: unknown command %q\n\n", args[0])
			c.usage()
			return 2
		}
		c.usage()
		return 0
	}
	cmd, ok := c.find(name)
	if !ok {
		fmt.Fprintf(c.stderr, "netrun: unknown command %q\n\n", name)
		c.usage()
		return 2
	}
	err := cmd.run(ctx, args)
	var ue *usageError
	var ee *exitError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errFlags):
		return 2
	case errors.As(err, &ue):
		fmt.Fprintf(c.stderr, "netrun %s: %s\n", name, ue.msg)
		c.flags(cmd).Usage()
		return 2
	case errors.As(err, &ee):
		fmt.Fprintln(c.stderr, ee.msg)
		return ee.code
	}
	fmt.Fprintf(c.stderr, "netrun %s: %v\n", name, err)
	return 1
}

// find returns the subcommand called name.
func (c *cli) find(name string) (command, bool) {
	for _, cmd := range c.commands() {
		if cmd.name == name {
			return cmd, true
		}
	}
	return command{}, false
}

// usage prints the list of subcommands.
func (c *cli) usage() {
	var b strings.Builder
	b.WriteString("netrun runs Lua scripts on Windows.Networking.Sockets and reloads them as they change.\n\nUsage:\n\n")
	for _, cmd := range c.commands() {
		fmt.Fprintf(&b, "  netrun %s\n        %s\n", strings.TrimSpace(cmd.name+" "+cmd.usage), cmd.doc)
	}
	b.WriteString("  netrun help [COMMAND]\n        print this, or a command's usage and flags\n")
	io.WriteString(c.stderr, b.String())
}

// flags returns a FlagSet for cmd that reports errors and usage on
// stderr.
func (c *cli) flags(cmd command) *flag.FlagSet {
	fs := flag.NewFlagSet("netrun "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "usage: netrun %s\n\n%s\n", strings.TrimSpace(cmd.name+" "+cmd.usage), cmd.doc)
		if cmd.help != "" {
			fmt.Fprintf(c.stderr, "\n%s", cmd.help)
		}
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintf(c.stderr, "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parse parses args with the flags that define adds to the FlagSet of
// the command called name.
func (c *cli) parse(name string, args []string, define func(*flag.FlagSet)) (*flag.FlagSet, error) {
	cmd, _ := c.find(name)
	fs := c.flags(cmd)
	if define != nil {
		define(fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, errFlags // the flag package printed it with the usage
	}
	return fs, nil
}

// version prints netrun's version, Go's, and the build's modules.
func (c *cli) version(ctx context.Context, args []string) error {
	fs, err := c.parse("version", args, nil)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &usageError{msg: "takes no arguments"}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "netrun %s\n", version)
	fmt.Fprintf(&b, "go: %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if bi, ok := debug.ReadBuildInfo(); ok {
		fmt.Fprintf(&b, "module: %s %s\n", bi.Main.Path, bi.Main.Version)
		for _, s := range bi.Settings {
			if strings.HasPrefix(s.Key, "vcs.") {
				fmt.Fprintf(&b, "%s: %s\n", s.Key, s.Value)
			}
		}
		for _, d := range bi.Deps {
			v := d.Version
			if d.Replace != nil {
				v += " => " + d.Replace.Path + " " + d.Replace.Version
			}
			fmt.Fprintf(&b, "dep: %s %s\n", d.Path, v)
		}
	}
	_, err = io.WriteString(c.stdout, b.String())
	return err
}
