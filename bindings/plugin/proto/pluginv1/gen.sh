#!/bin/sh
# Regenerates plugin.pb.go, plugin_grpc.pb.go and plugin_pb2.py (for
# Python plugins, protoc's own generator) from plugin.proto with
# pinned generators: protoc from Debian's protobuf-compiler (3.21.12 on
# Debian 12), protoc-gen-go and protoc-gen-go-grpc at the versions below.
# Run it through `go generate ./bindings/plugin/proto/...`.
set -eu
PROTOC_GEN_GO=google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.11
PROTOC_GEN_GO_GRPC=google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
cd "$(dirname "$0")"
command -v protoc >/dev/null || { echo "gen.sh: protoc not found: apt-get install protobuf-compiler" >&2; exit 1; }
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
GOBIN="$bin" go install "$PROTOC_GEN_GO"
GOBIN="$bin" go install "$PROTOC_GEN_GO_GRPC"
protoc --plugin=protoc-gen-go="$bin/protoc-gen-go" --plugin=protoc-gen-go-grpc="$bin/protoc-gen-go-grpc" \
	--go_out=. --go_opt=paths=source_relative \
	--go-grpc_out=. --go-grpc_opt=paths=source_relative \
	--python_out=. \
	plugin.proto
