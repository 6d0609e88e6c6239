package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"maps"

	"github.com/netrun/netrun/bindings/plugin/sdk"
	"github.com/netrun/netrun/plugins"
)

const (
	pluginUsage = "NAME [ARGS ...]"
	pluginDoc   = "serve a first-party plugin (netrun runs this itself for a [[plugin]] without a command)"
)

// pluginHelp lists the first-party plugins.
func pluginHelp() string {
	return "First-party plugins: " + strings.Join(firstPartyNames(), ", ") + `.
netrun starts a plugin in this mode when a config's [[plugin]] table names
one without a command; run by hand it only says so. Nothing is written to
stdout before go-plugin's handshake line.
`
}

// firstPartyNames lists the first-party plugins, sorted.
func firstPartyNames() []string {
	return slices.Sorted(maps.Keys(plugins.FirstParty()))
}

// plugin is "netrun plugin NAME ARGS...": it serves the plugin and exits
// the process when its session ends.
func (c *cli) plugin(ctx context.Context, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			c.flags(command{name: "plugin", usage: pluginUsage, doc: pluginDoc, help: pluginHelp()}).Usage()
			return nil
		}
		return &usageError{msg: "name a first-party plugin: " + strings.Join(firstPartyNames(), ", ")}
	}
	newPlugin, ok := plugins.FirstParty()[args[0]]
	if !ok {
		return &usageError{msg: fmt.Sprintf("%q is not a first-party plugin (those are: %s)", args[0], strings.Join(firstPartyNames(), ", "))}
	}
	p, err := newPlugin(args[1:])
	if err != nil {
		return &usageError{msg: err.Error()}
	}
	sdk.Serve(p) // exits the process
	return nil
}
