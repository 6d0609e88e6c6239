package testpeer

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// WSPeerKind names a WebSocket implementation netrun did not write that
// StartWSServer and StartWSClient can run.
type WSPeerKind string

// The WebSocket peers. Both speak the same command set (see
// wspeer/peer.js).
const (
	// NodeWS is Node's ws package (wspeer/peer.js; `npm ci` in
	// internal/testpeer/wspeer installs it, as `make deps` does).
	NodeWS WSPeerKind = "node-ws"
	// PythonWebsockets is Python's websockets package from the Debian
	// package python3-websockets (wspeer/peer.py), run by
	// /usr/bin/python3: the Debian module is not on another python3
	// that may come first on PATH.
	PythonWebsockets WSPeerKind = "python-websockets"
)

// WSPeerKinds returns every WebSocket peer kind, for tests that run
// against each.
func WSPeerKinds() []WSPeerKind { return []WSPeerKind{NodeWS, PythonWebsockets} }

// debianPython is the interpreter with Debian's python3-websockets.
const debianPython = "/usr/bin/python3"

// WSPeerOptions configures a WebSocket peer.
type WSPeerOptions struct {
	// Protocols: for a server, the subprotocols it accepts, in its order
	// of preference; for a client, those it offers.
	Protocols []string
	// Leaf, for a server, makes it serve wss with this certificate.
	Leaf *Leaf
	// CAFile, for a client, is the CA a wss server must chain to.
	CAFile string
}

// WSPeer is a running WebSocket peer: a server on 127.0.0.1 or a client.
//
// Every connection echoes each message back with its type, except text
// messages that start with "cmd:", which are commands (wspeer/peer.js
// lists them: fragmented and large sends, close with a code, ping, counts
// of unsolicited pongs, the subprotocol, a handshake header, invalid
// UTF-8). The peer prints "closed CODE REASON" when a connection closes;
// a client then exits.
type WSPeer struct {
	Kind WSPeerKind
	// URL is a server's ws:// or wss:// URL; "" for a client.
	URL string

	p *proc
}

// wspeerDir returns the folder holding the peer programs, found from this
// source file so that any package's tests can start them.
func wspeerDir(tb testing.TB) string {
	tb.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("testpeer: cannot locate the wspeer folder")
	}
	return filepath.Join(filepath.Dir(file), "wspeer")
}

// wsPeerCommand returns the command line that runs a peer of kind with
// args.
func wsPeerCommand(tb testing.TB, kind WSPeerKind, args []string) *exec.Cmd {
	tb.Helper()
	dir := wspeerDir(tb)
	switch kind {
	case NodeWS:
		node := tool(tb, "node", "nodejs")
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "ws", "package.json")); err != nil {
			tb.Fatalf("testpeer: Node's ws package is not installed in %s: run `make deps` (npm ci there)", dir)
		}
		cmd := exec.Command(node, append([]string{filepath.Join(dir, "peer.js")}, args...)...)
		cmd.Dir = dir
		return cmd
	case PythonWebsockets:
		if _, err := os.Stat(debianPython); err != nil {
			tb.Fatalf("testpeer: %s not found: install the Debian packages python3 and python3-websockets (`make deps` does)", debianPython)
		}
		return exec.Command(debianPython, append([]string{"-u", filepath.Join(dir, "peer.py")}, args...)...)
	}
	tb.Fatalf("testpeer: unknown WebSocket peer %q", kind)
	return nil
}

func (o WSPeerOptions) args() []string {
	var a []string
	if len(o.Protocols) > 0 {
		a = append(a, "--protocols", strings.Join(o.Protocols, ","))
	}
	if o.Leaf != nil {
		a = append(a, "--cert", o.Leaf.ChainFile, "--key", o.Leaf.KeyFile)
	}
	if o.CAFile != "" {
		a = append(a, "--ca", o.CAFile)
	}
	return a
}

var listeningLine = regexp.MustCompile(`(?m)^listening ([0-9]+)$`)

// StartWSServer starts a WebSocket server of kind on 127.0.0.1 (port 0)
// and returns once it listens. It is killed when the test ends.
func StartWSServer(tb testing.TB, kind WSPeerKind, opts WSPeerOptions) *WSPeer {
	tb.Helper()
	cmd := wsPeerCommand(tb, kind, append([]string{"server"}, opts.args()...))
	p, err := startProc(string(kind)+" server", cmd)
	if err != nil {
		tb.Fatalf("testpeer: %v", err)
	}
	tb.Cleanup(p.kill)
	p.waitOutput(tb, "listening ")
	m := listeningLine.FindStringSubmatch(p.stdout.String())
	if m == nil {
		p.waitOutput(tb, "\n") // the line may still be arriving
		if m = listeningLine.FindStringSubmatch(p.stdout.String()); m == nil {
			tb.Fatalf("testpeer: no port in the ready line\n%s", p.shown())
		}
	}
	scheme := "ws"
	if opts.Leaf != nil {
		scheme = "wss"
	}
	return &WSPeer{Kind: kind, URL: fmt.Sprintf("%s://127.0.0.1:%s", scheme, m[1]), p: p}
}

// StartWSClient starts a WebSocket client of kind connecting to url and
// returns at once; it prints "open PROTOCOL" once connected (WaitOutput).
// It is killed when the test ends, if it has not exited.
func StartWSClient(tb testing.TB, kind WSPeerKind, url string, opts WSPeerOptions) *WSPeer {
	tb.Helper()
	cmd := wsPeerCommand(tb, kind, append([]string{"client", url}, opts.args()...))
	p, err := startProc(string(kind)+" client", cmd)
	if err != nil {
		tb.Fatalf("testpeer: %v", err)
	}
	tb.Cleanup(p.kill)
	return &WSPeer{Kind: kind, p: p}
}

// WaitOutput waits until the peer's output contains substr, failing tb
// with the output if the peer exits or WaitTimeout passes first.
func (w *WSPeer) WaitOutput(tb testing.TB, substr string) {
	tb.Helper()
	w.p.waitOutput(tb, substr)
}

// Output returns everything the peer printed, stdout and stderr
// interleaved.
func (w *WSPeer) Output() string { return w.p.all.String() }

// Wait waits up to WaitTimeout for a client to exit by itself and returns
// its exit status as an error, with its output.
func (w *WSPeer) Wait() error { return w.p.wait() }
