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

DEB_PKGS := gcc pkg-config libdpdk-dev libpcap-dev kcat tcpdump tshark wireshark-common tcpreplay iproute2 procps prometheus \
	curl gzip zstd lz4
BINS := bin/fastcapa bin/devbroker

# The MinIO server the S3 tests run against, built from the Go module
# proxy once (about 5 minutes and 150 MB) into .tools/bin, where
# internal/testenv finds it. MinIO has no semver tags: this is its
# newest pseudo-version on the proxy. A test tool only (AGPLv3): never
# linked into our binaries.
MINIO_VERSION := v0.0.0-20260212201848-7aac2a2c5b7c
TOOLS := $(CURDIR)/.tools/bin
MINIO := $(TOOLS)/minio-$(MINIO_VERSION)

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

$(MINIO):
	@echo "building the MinIO server $(MINIO_VERSION) for the S3 tests (about 5 minutes, once)"
	@mkdir -p $(TOOLS)/.gobin
	GOBIN=$(TOOLS)/.gobin $(GO) install github.com/minio/minio@$(MINIO_VERSION)
	mv $(TOOLS)/.gobin/minio $@
	rmdir $(TOOLS)/.gobin
	ln -sfn $(notdir $@) $(TOOLS)/minio

test: build $(MINIO)
	$(GO) vet ./...
	$(GO) test -count=1 -p 1 -timeout 40m ./...
	$(MAKE) --no-print-directory bench-smoke

# The benchmarks once, briefly: they must run and account for every
# packet; their figures mean little at this length.
bench-smoke: build $(MINIO)
	$(GO) test -count=1 -run '^$$' -bench . -benchtime 200x ./kafka/ ./pipeline/ ./filter/ ./pattern/ ./index/ ./pcap/ ./sink/
	$(GO) test -count=1 -run '^$$' -bench . -benchtime 1x ./store/ ./objstore/
	BENCH_ROUNDS=1 BENCH_SECONDS=2 ./test/bench.sh
	BENCH_RECORDS=100000 BENCH_ROUNDS=1 ./test/bench_sink.sh
	BENCH_QUERY_BYTES=268435456 BENCH_ROUNDS=1 ./test/bench_query.sh

bench: build $(MINIO)
	$(GO) test -run '^$$' -bench . -benchtime 2s ./kafka/ ./pipeline/ ./filter/ ./store/ ./pattern/ ./index/ ./query/ ./pcap/ ./sink/
	$(GO) test -run '^$$' -bench . -benchtime 10x -count 3 ./objstore/
	./test/bench.sh
	./test/bench_sink.sh
	./test/bench_query.sh

clean:
	rm -rf bin out

# --- issue 11, H5: the vagrant lab (deploy/vagrant) ---
# Its checks are Go tests (test/vagrant_test.go), so `make test` runs them:
# TestVagrantLab (vagrant validate, syntax check, ansible-lint; ~10 s) and
# TestVagrantLabValidation (the lab's validation plays against this machine,
# root; ~30 s). lint-vagrant runs only those. vagrant-libvirt lets `vagrant validate`
# check the libvirt block without a hypervisor; ruby comes with vagrant.
VAGRANT_DEB_PKGS := vagrant vagrant-libvirt ruby ansible ansible-lint
lint-vagrant:
	$(GO) test -count=1 -run '^TestVagrantLab' ./test/
.PHONY: lint-vagrant
