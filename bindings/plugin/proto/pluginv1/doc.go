// Package pluginv1 is the netrun plugin protocol, version 1: the Go code
// generated from plugin.proto, which is the contract for plugins in any
// language. Go plugins use bindings/plugin/sdk rather than this package;
// the host side is bindings/plugin/host.
//
// The generated files are committed. After editing plugin.proto, run
//
//	go generate ./bindings/plugin/proto/...
//
// which needs protoc (Debian's protobuf-compiler) and fetches the pinned
// protoc-gen-go and protoc-gen-go-grpc (see gen.sh). TestGenerated fails
// when the committed files differ from what the generators produce.
package pluginv1

//go:generate sh gen.sh
