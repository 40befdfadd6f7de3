# fastcapa-go. Two commands on a fresh Debian 12 machine, as root:
#   make demo   replay the sample capture through DPDK into a local broker and read it back
#   make test   every test
SHELL := /bin/bash
GO ?= go
# pkg-config libdpdk emits "-include rte_config.h"; some Go versions only
# accept it when allowed.
export CGO_CFLAGS_ALLOW := -include|rte_config\.h|-march=.*
export CGO_LDFLAGS_ALLOW := -Wl,--(no-)?as-needed
PCAPS ?= $(abspath ../shared/pcaps)
export FASTCAPA_PCAPS := $(PCAPS)

DEB_PKGS := gcc pkg-config libdpdk-dev libpcap-dev kcat tcpdump tshark wireshark-common tcpreplay iproute2 procps prometheus
BINS := bin/fastcapa bin/devbroker

.PHONY: all deps build demo test bench bench-smoke vet clean

all: build

# Installs what is missing: Debian packages, then Go modules.
deps:
	@missing=$$(for p in $(DEB_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@command -v $(GO) >/dev/null || { echo "Go is not installed (https://go.dev/dl, or /usr/local/go/bin on PATH)"; exit 1; }
	$(GO) mod download

build: deps
	$(GO) build -o bin/ ./cmd/...

vet: deps
	$(GO) vet ./...

demo: build
	./test/demo.sh

test: build
	$(GO) vet ./...
	$(GO) test -count=1 -p 1 -timeout 40m ./...
	$(MAKE) --no-print-directory bench-smoke

# The benchmarks once, briefly: they must run and account for every
# packet; their figures mean little at this length.
bench-smoke: build
	$(GO) test -count=1 -run '^$$' -bench . -benchtime 200x ./kafka/ ./pipeline/
	BENCH_ROUNDS=1 BENCH_SECONDS=2 ./test/bench.sh
	BENCH_RECORDS=100000 BENCH_ROUNDS=1 ./test/bench_sink.sh

bench: build
	$(GO) test -run '^$$' -bench . -benchtime 2s ./kafka/ ./pipeline/
	./test/bench.sh
	./test/bench_sink.sh

clean:
	rm -rf bin out
