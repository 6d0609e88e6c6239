package testpeer

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// tool returns the path of the binary name, failing tb with the Debian
// package to install when it is missing. A missing peer is a missing
// install step, so this fails rather than skips.
func tool(tb testing.TB, name, debianPackage string) string {
	tb.Helper()
	p, err := findTool(name)
	if err != nil {
		tb.Fatalf("testpeer: %s not found (%v): install the Debian package %q (`make deps` does)", name, err, debianPackage)
	}
	return p
}

// findTool looks for name in PATH, then in /usr/sbin and /sbin: a
// non-root PATH often lacks them, and ip and dnsmasq live there on Debian.
func findTool(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		c := filepath.Join(dir, name)
		if fi, statErr := os.Stat(c); statErr == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return c, nil
		}
	}
	return "", fmt.Errorf("%w, nor in /usr/sbin or /sbin", err)
}
