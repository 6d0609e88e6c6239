package main

import "context"

// "netrun bench" is a skeleton: its table entry in main.go refers to the
// names below, so implementing it touches this file only.
const (
	benchUsage = "..."
	benchDoc   = "drive echo workloads (tcp, udp, ws) against a raw-Go baseline, a Lua script and a plugin, and print ratios (not implemented yet)"
	benchHelp  = ""
)

// bench is "netrun bench".
func (c *cli) bench(ctx context.Context, args []string) error {
	return &exitError{code: 2, msg: "netrun bench: not implemented yet"}
}
