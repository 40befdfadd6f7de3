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

DEB_PKGS := gcc pkg-config libdpdk-dev libpcap-dev kcat tcpdump tshark wireshark-common tcpreplay iproute2 ethtool procps prometheus python3-scapy \
	curl gzip zstd lz4 rclone chromium
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
	@missing=$$(for p in $(sort $(DEB_PKGS) $(DEPLOY_DEB_PKGS) $(SYSTEMD_DEB_PKGS) $(ANSIBLE_DEB_PKGS) $(CONTAINER_DEB_PKGS) $(VAGRANT_DEB_PKGS)); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
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
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory bench-smoke

# The deployment's own checks that are not Go tests (issue 11): the
# ansible roles' lint and the container image (its two linters, build and
# run). lintian, systemd-analyze verify/security and vagrant validate are
# Go tests in ./test (TestDebPackage, TestUnitsVerify, TestVagrantLab).
.PHONY: lint
lint: ansible-lint image-test

# The benchmarks once, briefly: they must run and account for every
# packet; their figures mean little at this length.
bench-smoke: build $(MINIO)
	BENCH_FLOWS=20000 $(GO) test -count=1 -run '^$$' -bench . -benchtime 200x ./pipeline/ ./filter/ ./pattern/ ./index/ ./pcap/ ./sink/ ./records/
	$(GO) test -count=1 -run '^$$' -bench . -benchtime 1x ./store/ ./objstore/
	BENCH_ROUNDS=1 BENCH_SECONDS=0.2 $(GO) test -count=1 -run '^$$' -bench 'RxFilter|RxOutputs' -benchtime 1x ./dpdk/
	BENCH_ROUNDS=1 BENCH_SECONDS=2 ./test/bench.sh
	BENCH_RECORDS=100000 BENCH_ROUNDS=1 ./test/bench_sink.sh
	BENCH_QUERY_BYTES=268435456 BENCH_ROUNDS=1 ./test/bench_query.sh
	BENCH_SERVE_BYTES=67108864 BENCH_ROUNDS=1 ./test/bench_serve.sh
	BENCH_RECORDS_BYTES=33554432 BENCH_RECORDS=50000 BENCH_ROUNDS=1 ./test/bench_records.sh

bench: build $(MINIO)
	$(GO) test -run '^$$' -bench . -benchtime 2s ./pipeline/ ./filter/ ./store/ ./pattern/ ./index/ ./query/ ./pcap/ ./sink/ ./records/
	$(GO) test -run '^$$' -bench . -benchtime 10x -count 3 ./objstore/
	$(GO) test -run '^$$' -bench 'RxFilter|RxOutputs' -benchtime 1x ./dpdk/
	./test/bench.sh
	./test/bench_sink.sh
	./test/bench_query.sh
	./test/bench_serve.sh
	./test/bench_records.sh

clean:
	rm -rf bin out

# --- issue 11, H1: the Debian package -------------------------------------
# make deb builds out/fastcapa_<version>_amd64.deb with nfpm (pinned, from
# the module proxy, into .tools/bin); deploy/deb/build.sh says how.
# help2man writes the man pages, lintian checks the result, dpkg-dev
# provides dpkg-shlibdeps, binutils strip.
DEPLOY_DEB_PKGS += help2man lintian dpkg-dev binutils fakeroot
.PHONY: deb
deb: deps
	GO=$(GO) ./deploy/deb/build.sh

# H2, issue 11: systemd units (deploy/systemd). `make test` runs
# TestUnitsVerify (systemd-analyze verify and security, 0.2 s) and
# TestUnitsBoot (the units under a real systemd in systemd-nspawn,
# about 10 s; the first run debootstraps a Debian 12 root into
# /var/cache/fastcapa-nspawn: about 300 MB and 80 s).
SYSTEMD_DEB_PKGS += systemd systemd-container debootstrap dpdk
.PHONY: systemd-boot-test
systemd-boot-test: build
	./deploy/systemd/test/boot.sh

# --- issue 11, H3: the ansible roles --------------------------------------
# deploy/ansible: roles fastcapa (capture hosts) and pcapstore (storage
# hosts), site.yml, an example inventory. make ansible-lint checks them
# (production profile, offline); test/ansible_test.go runs them against
# this machine. Debian's ansible carries community.general (modprobe).
ANSIBLE_DEB_PKGS += ansible ansible-lint
.PHONY: ansible-lint
ansible-lint:
	cd deploy/ansible && ansible-lint --offline site.yml roles

# --- issue 11, H4: the container image (Dockerfile, deploy/container/) ---
# make image: buildah bud of ./Dockerfile on a Debian 12 base made with
# debootstrap (cached in .tools/debian-bookworm, about 25 s and 210 MB
# once; the image is 275 MB; BINS=source builds the binaries inside,
# about 4 min and 2 GB). make image-test: builds it (seconds when
# cached, about 90 s cold) and runs pcapstore unprivileged and fastcapa
# (net_pcap vdev into bin/devbroker; -no-huge, then on 256 reserved 2 MB
# hugepages under /run/lock/fastcapa-hugepages.lock) and pcapstore sink
# inside it with podman run: about 12 s warm. runc: crun cannot start
# containers here.
# npm is not listed: here it comes with NodeSource's nodejs, and Debian's
# npm package would conflict with it; on a fresh Debian 12 add npm.
CONTAINER_DEB_PKGS := buildah podman debootstrap runc
.PHONY: image image-test image-lint
image: build
	./deploy/container/build.sh
image-test: build image-lint
	./deploy/container/test.sh
# Two pinned npm Dockerfile linters (hadolint is not reachable), installed
# once into .tools/npm (about 4 s).
image-lint:
	./deploy/container/lint.sh

# --- issue 11, H5: the vagrant lab (deploy/vagrant) ---
# Its checks are Go tests (test/vagrant_test.go), so `make test` runs them:
# TestVagrantLab (vagrant validate, syntax check, ansible-lint; ~10 s) and
# TestVagrantLabMachines (lab.yml, as vagrant up would run it, on two
# systemd-nspawn machines in place of the VMs; root, ~50 s). lint-vagrant
# runs only those. vagrant-libvirt lets `vagrant validate`
# check the libvirt block without a hypervisor; ruby comes with vagrant.
VAGRANT_DEB_PKGS := vagrant vagrant-libvirt ruby ansible ansible-lint
lint-vagrant:
	$(GO) test -count=1 -run '^TestVagrantLab' ./test/
.PHONY: lint-vagrant
