// Command netrun-echo is the echo plugin as a binary of its own, for a
// [[plugin]] table with a command; netrun also serves it itself
// (`netrun plugin echo`).
package main

import (
	"fmt"
	"os"

	"github.com/netrun/netrun/bindings/plugin/sdk"
	"github.com/netrun/netrun/plugins/echo"
)

func main() {
	p, err := echo.New(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	sdk.Serve(p)
}
