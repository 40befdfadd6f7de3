# fastcapa-go container image: fastcapa (DPDK capture -> Kafka) and
# pcapstore (Kafka -> pcap files, query, index, inspect) on Debian 12.
#
# Build: make image (deploy/container/build.sh). There is no registry on the
# build host, so BASE is a Debian 12 root made with debootstrap and imported
# as localhost/debian:bookworm; any debian:bookworm image will do elsewhere
# (--build-arg BASE=docker.io/library/debian:bookworm).
#
# The binaries are built by `make build` on a Debian 12 host and copied from
# the build context (bin/): the image then links against exactly the
# libdpdk 22.11 ABI (librte_*.so.23) it was tested with, and no Go toolchain
# (Debian 12 has Go 1.19, go.mod needs 1.26) or libdpdk-dev (~300 MB of
# -dev packages) is downloaded into a build stage on every build. The
# "bins" stage checks that they are there and resolve against the runtime
# libraries before anything is published.
#
# Run (see README.md, "Container"):
#   pcapstore: no privileges at all, runs as user pcapstore (uid 10001).
#   fastcapa:  --network host, -v /dev/hugepages:/dev/hugepages,
#              --device /dev/vfio/vfio --device /dev/vfio/<group>,
#              --cap-add IPC_LOCK --cap-add SYS_RAWIO --cap-add SYS_ADMIN
#              (NET_RAW, NET_ADMIN for net_af_packet), --ulimit memlock=-1,
#              --user 0 --entrypoint fastcapa.
ARG BASE=localhost/debian:bookworm

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
      librte-eal23 librte-ethdev23 librte-mbuf23 librte-mempool23 librte-ring23 \
      librte-mempool-ring23 librte-bus-pci23 librte-bus-vdev23 \
      librte-net-pcap23 librte-net-af-packet23 \
      librte-net-ixgbe23 librte-net-i40e23 librte-net-ice23 librte-net-e1000-23 \
      librte-net-virtio23 \
 && rm -rf /var/lib/apt/lists/*

FROM runtime-base AS bins
COPY bin/fastcapa bin/pcapstore /out/
# Fail the build here, not at run time, if a library is missing.
RUN ! ldd /out/fastcapa /out/pcapstore | grep 'not found' \
 && /out/pcapstore -h >/dev/null 2>&1 \
 && /out/fastcapa -h >/dev/null 2>&1

FROM runtime-base
COPY --from=bins /out/fastcapa /out/pcapstore /usr/bin/
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
