// Package plugins lists netrun's first-party plugins: the plugins the
// netrun binary serves itself (`netrun plugin NAME ARGS...`), so that a
// [[plugin]] table naming one needs no command and no build step. Each
// lives in a package of its own (plugins/echo, plugins/connlog) with a
// thin main package under its cmd/ for running it as a separate binary.
package plugins

import (
	"github.com/netrun/netrun/bindings/plugin/sdk"
	"github.com/netrun/netrun/plugins/connlog"
	"github.com/netrun/netrun/plugins/echo"
)

// New makes a plugin from its command-line arguments.
type New func(args []string) (sdk.Plugin, error)

// FirstParty returns the first-party plugins by name.
func FirstParty() map[string]New {
	return map[string]New{
		"echo":    echo.New,
		"connlog": connlog.New,
	}
}
