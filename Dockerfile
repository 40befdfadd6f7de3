# fastcapa-go container image: fastcapa (DPDK capture -> Kafka) and
# pcapstore (Kafka -> pcap files, query, index, inspect) on Debian 12.
#
# Build: make image (deploy/container/build.sh). There is no registry on the
# build host, so BASE is a Debian 12 root made with debootstrap and imported
# as localhost/debian:bookworm; any debian:bookworm image will do elsewhere
# (--build-arg BASE=docker.io/library/debian:bookworm).
#
# Where the binaries come from (BINS=host|source make image):
#   host (default): bin/fastcapa and bin/pcapstore from `make build` on a
#     Debian 12 host, copied from the build context: they link against the
#     same libdpdk 22.11 ABI (librte_*.so.23) and were tested there, and no
#     build stage downloads a Go toolchain and ~300 MB of -dev packages.
#   source: built in the "bins-source" stage from the tree: Debian 12's Go
#     (1.19) is too old and knows no GOTOOLCHAIN, so Go 1.23 comes from
#     bookworm-backports and, with GOTOOLCHAIN=auto, downloads the go.mod
#     toolchain (go1.26.x) from the Go module proxy; libdpdk-dev from Debian.
# Either way the last stage checks that they resolve against the runtime
# libraries and start, before anything is published.
#
# Run (see README.md, "Container"):
#   pcapstore: no privileges at all, runs as user pcapstore (uid 10001).
#   fastcapa:  --user 0 --entrypoint fastcapa --network host --cap-drop all;
#              hugepages: -v /dev/hugepages:/dev/hugepages, nothing more
#              (make image-test runs it so on 2 MB pages);
#              vfio NIC: --device /dev/vfio/vfio --device /dev/vfio/<group>,
#              --cap-add IPC_LOCK --ulimit memlock=-1 (DMA pinning), and
#              SYS_RAWIO, SYS_ADMIN without an IOMMU (IOVA as PA);
#              net_af_packet: --cap-add NET_RAW --cap-add NET_ADMIN.
ARG BASE=localhost/debian:bookworm
# The image holding /out/fastcapa and /out/pcapstore: one of the two bins-*
# stages below, built first with --target and tagged (deploy/container/
# build.sh does it). buildah 1.28 (Debian 12) neither resolves a stage name
# made from an ARG in FROM/COPY --from nor keeps such a stage from being
# skipped as unused, so the choice goes through an image name.
ARG BINS_IMAGE=localhost/fastcapa-bins:host

FROM ${BASE} AS runtime-base
# DPDK 22.11 runtime libraries only: the EAL, ethdev and the PMDs fastcapa
# uses: the PCI bus and the vfio-pci NIC drivers of common capture cards
# (Intel ixgbe, i40e, ice, e1000; virtio for VMs); the vdev bus with net_pcap
# and net_af_packet for tests and for hosts without a DPDK-bound NIC. Add
# librte-net-mlx5-23 etc. here for other cards.
# EAL loads every PMD in /usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0, so only
# what is installed here is loaded.
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libpcap0.8 libnuma1 \
      librte-eal23 librte-ethdev23 librte-mbuf23 librte-mempool23 librte-ring23 librte-bpf23 \
      librte-mempool-ring23 librte-bus-pci23 librte-bus-vdev23 \
      librte-net-pcap23 librte-net-af-packet23 \
      librte-net-ixgbe23 librte-net-i40e23 librte-net-ice23 librte-net-e1000-23 \
      librte-net-virtio23 \
 && rm -rf /var/lib/apt/lists/*

FROM runtime-base AS bins-host
COPY bin/fastcapa bin/pcapstore /out/

FROM ${BASE} AS bins-source
# hadolint ignore=DL3008
RUN echo 'deb http://deb.debian.org/debian bookworm-backports main' \
      >/etc/apt/sources.list.d/bookworm-backports.list \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates gcc libc6-dev pkg-config libdpdk-dev libpcap-dev \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      -t bookworm-backports golang-1.23-go \
 && rm -rf /var/lib/apt/lists/*
ENV PATH=/usr/lib/go-1.23/bin:$PATH \
    GOTOOLCHAIN=auto \
    CGO_CFLAGS_ALLOW='-include|rte_config\.h|-march=.*' \
    CGO_LDFLAGS_ALLOW='-Wl,--(no-)?as-needed'
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -trimpath -o /out/ ./cmd/fastcapa ./cmd/pcapstore

FROM ${BINS_IMAGE} AS bins
# (Also keeps buildah 1.28 from leaving a working container behind for a
# stage that is a bare FROM.)
RUN test -x /out/fastcapa && test -x /out/pcapstore

FROM runtime-base
COPY --from=bins /out/fastcapa /out/pcapstore /usr/bin/
# Fail the build here, not at run time, if a library is missing.
RUN ! ldd /usr/bin/fastcapa /usr/bin/pcapstore | grep 'not found' \
 && pcapstore -h >/dev/null 2>&1 \
 && fastcapa -h >/dev/null 2>&1
COPY config/fastcapa.example.yaml sink/pcapstore.example.yaml /etc/fastcapa/
RUN groupadd --gid 10001 pcapstore \
 && useradd --no-create-home --uid 10001 --gid pcapstore --home-dir /var/lib/pcapstore \
      --shell /usr/sbin/nologin pcapstore \
 && install -d -o pcapstore -g pcapstore -m 0750 /var/lib/pcapstore
VOLUME ["/var/lib/pcapstore"]
WORKDIR /var/lib/pcapstore
# The default is the unprivileged side. fastcapa needs root inside the
# container (--user 0) for /dev/hugepages, /dev/vfio and DPDK's /var/run/dpdk.
USER pcapstore
ENTRYPOINT ["/usr/bin/pcapstore"]
CMD ["-h"]
