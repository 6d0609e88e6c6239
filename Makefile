# netrun's build and test entry points. `make test` is the command CI runs:
# it installs the real peers the tests talk to, then runs every test with -race.

GO ?= go
# Debian packages the tests drive as real peers (socat, openssl, dnsmasq,
# Python's websockets), plus iproute2 for network namespaces, netbase for
# /etc/services, and protoc (protobuf-compiler) to check the committed plugin
# protocol code, python3-grpcio and python3-protobuf for the Python plugin.
# Node and npm (for the ws peer) are installed from Debian only
# when no node or npm command exists, so that another install of Node is kept.
TEST_DEBS := socat openssl iproute2 netbase dnsmasq-base ca-certificates protobuf-compiler python3-grpcio python3-protobuf python3-websockets
# The WebSocket peers' folder; `npm ci` installs Node's ws there from the
# committed package-lock.json.
WSPEER := internal/testpeer/wspeer

.PHONY: test deps build bench fuzz vet

build:
	$(GO) build ./...

deps:
	@missing=""; for p in $(TEST_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	command -v node >/dev/null 2>&1 || missing="$$missing nodejs"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@[ -f $(WSPEER)/node_modules/ws/package.json ] || (cd $(WSPEER) && npm ci --no-audit --no-fund --loglevel=error)

vet:
	$(GO) vet ./...

# The allocation tests run a second time without -race: the race detector's
# sync.Pool drops items at random, so under it they skip.
test: deps vet
	$(GO) test -race -count=1 -timeout 12m ./...
	$(GO) test -count=1 -run 'Allocs' ./runtime/... ./bindings/...

bench:
	$(GO) test -run '^$$' -bench . -benchtime 40x ./runtime/sockets ./runtime/websocket ./bindings/lua

fuzz:
	@for pkg in ./runtime/networking ./runtime/isolation ./runtime/websocket ./bindings/lua ./bindings/plugin/host; do \
		for t in $$($(GO) test -list '^Fuzz' $$pkg | grep ^Fuzz); do \
			echo "fuzzing $$pkg $$t"; \
			$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $${FUZZTIME:-30s} $$pkg || exit 1; \
		done; \
	done
