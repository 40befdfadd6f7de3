#!/usr/bin/env bash
# make image-test: build the image (make image; cached layers make a rebuild
# take seconds) and check it with the binaries inside it:
#  1. pcapstore -h runs as the image's default user (uid 10001) with every
#     capability dropped (CapEff 0);
#  2. fastcapa from the image, as root with host networking, replays the
#     sample capture on a net_pcap vdev (-no-huge -no-pci) into bin/devbroker
#     on the host; kcat on the host counts the messages and bytes against
#     capinfos;
#  3. pcapstore sink from the image, as uid 10001 with no capabilities,
#     stores the topic into a host directory mounted at /var/lib/pcapstore;
#     capinfos on the host counts the packets in the stored files;
#  4. fastcapa as in 2, on 2 MB hugepages instead of -no-huge, with the
#     README's hugepage flags (-v /dev/hugepages:/dev/hugepages, every
#     capability dropped): the host reserves HUGE_PAGES (256) pages and
#     mounts hugetlbfs under /run/lock/fastcapa-hugepages.lock (waiting
#     up to HUGE_LOCK_WAIT, 900 s, for it), and puts both back at exit;
#     fastcapa's page files in /dev/hugepages and the host's free page
#     count show that DPDK used them.
# Containers run with podman run and the README's flags, with runc: crun
# (podman's default) fails on this machine ("setrlimit RLIMIT_NOFILE:
# Operation not permitted", then "cgroups in hybrid mode not supported"), and
# both runtimes fail to raise RLIMIT_NOFILE above the host's hard limit or
# RLIMIT_NPROC above some 4096 here, so the test sets both (PODMAN_RUN).
set -euo pipefail
cd "$(dirname "$0")/../.."

IMAGE=${IMAGE:-localhost/fastcapa:latest}
PCAP=${PCAP:-${FASTCAPA_PCAPS:-../shared/pcaps}/metron-example.pcap}
PCAP=$(readlink -f "$PCAP")
PORT=${BROKER_PORT:-19392}
TOPIC=pcap
NAME=fastcapa-image-test-$$
work=$(mktemp -d)
broker=""
HUGE_PAGES=${HUGE_PAGES:-256}
HUGE_SYS=/sys/kernel/mm/hugepages/hugepages-2048kB
HUGE_LOCK=/run/lock/fastcapa-hugepages.lock
HUGE_PREFIX=$NAME-huge
huge_held=""
huge_restore=""
huge_mounted=""
cleanup() {
	podman rm -f -t 0 "$NAME" "$NAME-huge" "$NAME-sink" >/dev/null 2>&1 || true
	[ -n "$broker" ] && kill "$broker" 2>/dev/null || true
	rm -rf "$work"
	# EAL leaves a page file behind at exit (a next run with the same
	# prefix would reuse it): it holds its page until removed.
	if [ -n "$huge_held" ]; then rm -f /dev/hugepages/"$HUGE_PREFIX"map_*; fi
	if [ -n "$huge_mounted" ]; then
		umount /dev/hugepages || echo "image-test: umount /dev/hugepages failed"
	fi
	if [ -n "$huge_restore" ]; then
		echo "$huge_restore" >"$HUGE_SYS/nr_hugepages"
		[ "$(cat "$HUGE_SYS/nr_hugepages")" = "$huge_restore" ] ||
			echo "image-test: nr_hugepages is $(cat "$HUGE_SYS/nr_hugepages"), not back to $huge_restore"
	fi
}
trap cleanup EXIT
fail() { echo "image-test: FAIL: $*"; exit 1; }

# hugepages_hold: HUGE_PAGES free 2 MB pages and hugetlbfs at /dev/hugepages
# for the rest of the run, under $HUGE_LOCK (flock, as the Go tests that
# reserve hugepages; released when this script exits). It reserves them
# only if none are reserved (cleanup writes 0 back), and refuses to touch
# someone else's reservation: with nr_hugepages not 0 it uses it only if
# HUGE_PAGES of it are free. It mounts hugetlbfs only if nothing is
# mounted at /dev/hugepages (cleanup unmounts it).
hugepages_hold() {
	local nr free
	exec 9>"$HUGE_LOCK"
	if ! flock -n 9; then
		echo "== waiting for $HUGE_LOCK (another test holds hugepages; up to ${HUGE_LOCK_WAIT:-900} s)"
		flock -w "${HUGE_LOCK_WAIT:-900}" 9 || fail "$HUGE_LOCK still held after ${HUGE_LOCK_WAIT:-900} s"
	fi
	huge_held=1
	nr=$(cat "$HUGE_SYS/nr_hugepages")
	free=$(cat "$HUGE_SYS/free_hugepages")
	if [ "$nr" != 0 ]; then
		[ "$free" -ge "$HUGE_PAGES" ] ||
			fail "2 MB hugepages are already reserved by someone else (nr_hugepages $nr, $free free, $HUGE_PAGES needed): free them or set HUGE_PAGES"
		echo "== using $HUGE_PAGES of the $free free 2 MB hugepages someone else reserved ($nr)"
	else
		huge_restore=0
		echo "$HUGE_PAGES" >"$HUGE_SYS/nr_hugepages"
		nr=$(cat "$HUGE_SYS/nr_hugepages")
		[ "$nr" = "$HUGE_PAGES" ] || fail "reserved $nr of $HUGE_PAGES 2 MB hugepages (memory too fragmented?)"
	fi
	if ! awk '$2 == "/dev/hugepages" && $3 == "hugetlbfs" {found=1} END {exit !found}' /proc/mounts; then
		mkdir -p /dev/hugepages
		mount -t hugetlbfs -o pagesize=2M nodev /dev/hugepages
		huge_mounted=1
	fi
}

[ -r "$PCAP" ] || fail "no capture at $PCAP (set PCAP=...)"
[ "$(id -u)" = 0 ] || fail "buildah needs root here"
deploy/container/build.sh >"$work/build.log" 2>&1 || { tail -30 "$work/build.log"; fail "image build"; }
n=$(ulimit -Hn)
read -r -a PODMAN_RUN <<<"${PODMAN_RUN:---runtime runc --ulimit nofile=$n:$n --ulimit nproc=4096:4096}"
run() { podman run "${PODMAN_RUN[@]}" "$@"; }

echo "== podman run --cap-drop all: pcapstore -h in the image as its default user"
out=$(run --rm --cap-drop all --entrypoint sh "$IMAGE" -c 'id -u; grep CapEff /proc/self/status; pcapstore -h 2>&1') ||
	{ echo "$out"; fail "podman run"; }
echo "$out" | head -3
[ "$(echo "$out" | sed -n 1p)" = 10001 ] || fail "pcapstore ran as uid $(echo "$out" | sed -n 1p), want 10001"
echo "$out" | grep -q 'CapEff:[[:space:]]*0000000000000000' || fail "capabilities left: $(echo "$out" | grep CapEff)"
echo "$out" | grep -q 'pcapstore sink' || fail "pcapstore -h printed no usage"

if (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null; then fail "127.0.0.1:$PORT is taken; set BROKER_PORT"; fi
bin/devbroker -listen 127.0.0.1:$PORT -topic $TOPIC >"$work/broker.log" 2>&1 &
broker=$!
for _ in $(seq 50); do grep -qs listening "$work/broker.log" && break; sleep 0.1; done
grep -q listening "$work/broker.log" || { cat "$work/broker.log"; fail "devbroker did not start"; }

in_pkts=$(capinfos -M -c "$PCAP" | awk -F': *' '/Number of packets/ {print $2}')
in_bytes=$(capinfos -M -d "$PCAP" | awk -F': *' '/Data size/ {print $2+0}')

# fastcapa_start NAME TOPIC PODMAN_FLAGS... -- FASTCAPA_FLAGS...: fastcapa
# from the image (--network host --user 0) replays the sample capture on a
# net_pcap vdev into TOPIC on bin/devbroker; it runs until signalled, so it
# is started detached and this returns once every packet is in the topic
# (or it exited, or after 60 s), with fastcapa still running.
# fastcapa_stop NAME TOPIC: podman kill -s INT, then kcat on the host counts
# the messages and bytes against capinfos, and fastcapa must exit 0.
fastcapa_start() {
	local name=$1 topic=$2 podman_flags=() n
	shift 2
	while [ "$1" != -- ]; do podman_flags+=("$1"); shift; done
	shift
	run -d --name "$name" --network host --user 0 --entrypoint fastcapa "${podman_flags[@]}" \
		-v "$PCAP:/capture.pcap:ro" "$IMAGE" "$@" -no-pci \
		-vdev net_pcap0,rx_pcap=/capture.pcap -port net_pcap0 \
		-brokers 127.0.0.1:$PORT -topic "$topic" -metrics-listen "" >/dev/null
	for _ in $(seq 600); do
		# (kcat fails until fastcapa's first message creates the topic)
		n=$(kcat -C -b 127.0.0.1:$PORT -t "$topic" -o beginning -e -q -f '.\n' 2>/dev/null | wc -l || true)
		[ "$n" -ge "$in_pkts" ] && break
		[ "$(podman inspect -f '{{.State.Running}}' "$name")" = true ] || break
		sleep 0.1
	done
}
fastcapa_stop() {
	local name=$1 topic=$2 status out_pkts out_bytes
	podman kill -s INT "$name" >/dev/null 2>&1 || true
	status=$(podman wait "$name")
	podman logs "$name" >"$work/$name.log" 2>&1
	out_pkts=$(kcat -C -b 127.0.0.1:$PORT -t "$topic" -o beginning -e -q -f '%S\n' 2>/dev/null | wc -l || true)
	out_bytes=$(kcat -C -b 127.0.0.1:$PORT -t "$topic" -o beginning -e -q -f '%S\n' 2>/dev/null | awk '{s+=$1} END {print s+0}' || true)
	echo "== kcat on the host: $out_pkts messages, $out_bytes bytes in $topic; fastcapa exit $status"
	if [ "$in_pkts" != "$out_pkts" ] || [ "$in_bytes" != "$out_bytes" ] || [ "$status" -ne 0 ]; then
		cat "$work/$name.log"
		fail "in $in_pkts/$in_bytes, out $out_pkts/$out_bytes, fastcapa exit $status"
	fi
}

echo "== fastcapa in the image (podman run --network host --user 0, -no-huge): $PCAP, $in_pkts packets, $in_bytes bytes"
fastcapa_start "$NAME" $TOPIC -- -no-huge -file-prefix fastcapa-image-test
fastcapa_stop "$NAME" $TOPIC

echo "== pcapstore sink in the image (podman run --cap-drop all, user 10001): the topic into a host directory"
mkdir -p "$work/store"
chown 10001:10001 "$work/store"
cat >"$work/sink.yaml" <<YAML
brokers: 127.0.0.1:$PORT
topic: $TOPIC
group: image-test
metrics_listen: ""
targets:
  - name: all
    dir: /var/lib/pcapstore/all
    template: "pcap_{topic}_{ts}_{partition}.pcap"
YAML
chmod 644 "$work/sink.yaml"
run -d --name "$NAME-sink" --network host --cap-drop all \
	-v "$work/store:/var/lib/pcapstore" -v "$work/sink.yaml:/etc/fastcapa/sink.yaml:ro" \
	"$IMAGE" sink -config /etc/fastcapa/sink.yaml >/dev/null
for _ in $(seq 100); do
	podman logs "$NAME-sink" 2>&1 | grep -q 'partition assigned' && break
	sleep 0.1
done
sleep 3
podman kill -s TERM "$NAME-sink" >/dev/null 2>&1 || true
sink_status=$(podman wait "$NAME-sink")
podman logs "$NAME-sink" >"$work/sink.log" 2>&1
stored=$(find "$work/store/all" -type f -name 'pcap_*.pcap' -exec capinfos -M -c {} + 2>/dev/null |
	awk -F': *' '/Number of packets/ {s+=$2} END {print s+0}')
owners=$(find "$work/store/all" -type f -name 'pcap_*.pcap' -printf '%u\n' | sort -u | tr '\n' ' ')
echo "== stored: $stored of $in_pkts packets (capinfos on the host), files owned by uid ${owners:-none}; sink exit $sink_status"
if [ "$stored" != "$in_pkts" ] || [ "$sink_status" -ne 0 ] || [ "$owners" != "10001 " ]; then
	cat "$work/sink.log"
	fail "stored $stored of $in_pkts packets, owners '$owners', sink exit $sink_status"
fi

# 4. fastcapa again, on 2 MB hugepages, with the README's hugepage flags:
# the hugetlbfs mount and nothing else (--cap-drop all: hugepages need no
# capability, only root in the container to create its page files in the
# root-owned mount; IPC_LOCK, SYS_RAWIO, SYS_ADMIN and memlock are for vfio,
# see the README). hugepages_hold reserves HUGE_PAGES pages and mounts
# /dev/hugepages on the host. While fastcapa runs, its page files
# (<file-prefix>map_N) must be in /dev/hugepages and the host's free 2 MB
# pages must have dropped: a run that used no hugepages fails here (and
# one without the mount exits 2: "EAL: Cannot get hugepage information").
HUGE_FLAGS=(--cap-drop all -v /dev/hugepages:/dev/hugepages)
hugepages_hold
free_before=$(cat "$HUGE_SYS/free_hugepages")
echo "== fastcapa in the image on hugepages (${HUGE_FLAGS[*]}): $free_before of $(cat "$HUGE_SYS/nr_hugepages") 2 MB pages free"
fastcapa_start "$NAME-huge" $TOPIC-huge "${HUGE_FLAGS[@]}" -- -file-prefix $HUGE_PREFIX
free_during=$(cat "$HUGE_SYS/free_hugepages")
files=$(find /dev/hugepages -maxdepth 1 -name "${HUGE_PREFIX}map_*" | wc -l)
echo "== while it runs: $((free_before - free_during)) pages in use, $files files /dev/hugepages/${HUGE_PREFIX}map_*"
if [ "$files" -eq 0 ] || [ "$free_during" -ge "$free_before" ]; then
	podman logs "$NAME-huge" 2>&1 | tail -20
	fail "fastcapa used no hugepages: $files page files, free pages $free_before before, $free_during while it ran"
fi
fastcapa_stop "$NAME-huge" $TOPIC-huge
echo "== image-test: ok"
