// Package host runs guests (Lua scripts and plugins) with the network
// capabilities each is granted.
//
// Its configuration is a TOML file: [Load] reads it into a [Config],
// strictly, with defaults applied and paths resolved against the file's
// directory.
//
// A [Host] loads the scripts that a Config and a list of paths name, gives
// each a sockets.Env whose Guard is its capabilities, and keeps them
// running until its context ends. The language is not the host's
// business: a [Kind] starts guest versions (bindings/lua's *Engine for
// .lua files), handed to [New] by cmd/netrun, so runtime/ imports no
// binding.
//
// # Hot reload
//
// The host watches the folders of its scripts with fsnotify (folders, not
// files, because editors save by rename), ignores Chmod, and reloads a
// file [DebounceDelay] after its last event. A reload starts the new
// version beside the old one. If it fails to load (a *LoadError, logged
// with file:line at ERROR level) the old version keeps running. Otherwise
// the new version starts with the old one's state, takes over its
// listening sockets without closing them, so no connect is refused, and
// takes every new connection; the old version drains in the background:
// its open connections are served by the old code until they close or
// HostConfig.DrainTimeout passes. A script file that is deleted keeps its
// running version. A folder given as a path also runs the scripts created
// in it later.
package host
