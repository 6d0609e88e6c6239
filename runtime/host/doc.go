// Package host runs guests (Lua scripts and plugins) with the network
// capabilities each is granted.
//
// Its configuration is a TOML file: [Load] reads it into a [Config],
// strictly, with defaults applied and paths resolved against the file's
// directory.
package host
