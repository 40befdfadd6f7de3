#!/usr/bin/env bash
# make image-test: build the image (make image; cached layers make a rebuild
# take seconds) and check it with the binaries inside it:
#  1. pcapstore -h runs as the image's default user (uid 10001) with every
#     capability dropped (CapEff 0);
#  2. fastcapa from the image, as root with host networking, replays the
#     sample capture on a net_pcap vdev (-no-huge -no-pci) into bin/devbroker
#     on the host; kcat on the host counts the messages and bytes against
#     capinfos. Then pcapstore from the image, unprivileged, stores the topic
#     into a host directory mounted in, and tcpdump on the host counts the
#     packets in the stored files.
# Containers run with buildah run --isolation chroot: podman run (crun)
# fails on this machine (setrlimit RLIMIT_NOFILE: Operation not permitted;
# with --ulimit set lower, "cgroups in hybrid mode not supported").
set -euo pipefail
cd "$(dirname "$0")/../.."

IMAGE=${IMAGE:-localhost/fastcapa:latest}
PCAP=${PCAP:-${FASTCAPA_PCAPS:-../shared/pcaps}/metron-example.pcap}
PCAP=$(readlink -f "$PCAP")
PORT=${BROKER_PORT:-19392}
TOPIC=pcap
work=$(mktemp -d)
ctr=""
broker=""
fc=""
cleanup() {
	[ -n "$work" ] && touch "$work/ctl/stop" 2>/dev/null || true
	[ -n "$fc" ] && wait "$fc" 2>/dev/null || true
	[ -n "$broker" ] && kill "$broker" 2>/dev/null || true
	[ -n "$ctr" ] && buildah rm "$ctr" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "image-test: FAIL: $*"; exit 1; }

[ -r "$PCAP" ] || fail "no capture at $PCAP (set PCAP=...)"
[ "$(id -u)" = 0 ] || fail "buildah needs root here"
deploy/container/build.sh >"$work/build.log" 2>&1 || { tail -30 "$work/build.log"; fail "image build"; }
ctr=$(buildah from "$IMAGE")
run() { buildah run --isolation chroot "$@"; }

echo "== pcapstore -h in the image as its default user, all capabilities dropped"
out=$(run --cap-drop all "$ctr" -- sh -c 'id -u; grep CapEff /proc/self/status; pcapstore -h 2>&1')
echo "$out" | head -3
[ "$(echo "$out" | sed -n 1p)" = 10001 ] || fail "pcapstore ran as uid $(echo "$out" | sed -n 1p), want 10001"
echo "$out" | grep -q 'CapEff:[[:space:]]*0000000000000000' || fail "capabilities left: $(echo "$out" | grep CapEff)"
echo "$out" | grep -q 'pcapstore sink' || fail "pcapstore -h printed no usage"

if (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null; then fail "127.0.0.1:$PORT is taken; set BROKER_PORT"; fi
bin/devbroker -listen 127.0.0.1:$PORT -topic $TOPIC >"$work/broker.log" 2>&1 &
broker=$!
for _ in $(seq 50); do grep -q listening "$work/broker.log" && break; sleep 0.1; done
grep -q listening "$work/broker.log" || { cat "$work/broker.log"; fail "devbroker did not start"; }

in_pkts=$(capinfos -M -c "$PCAP" | awk -F': *' '/Number of packets/ {print $2}')
in_bytes=$(capinfos -M -d "$PCAP" | awk -F': *' '/Data size/ {print $2+0}')
echo "== fastcapa in the image (root, host network): $PCAP, $in_pkts packets, $in_bytes bytes"
# fastcapa runs until signalled: a shell in the container starts it and
# sends it SIGINT once the host creates ctl/stop (every packet is in the
# topic, or 60 s passed), then exits with fastcapa's status.
mkdir -p "$work/ctl"
run --user 0 --network host -v "$PCAP:/capture.pcap:ro" -v "$work/ctl:/ctl" "$ctr" -- sh -c '
	fastcapa -no-huge -no-pci -file-prefix fastcapa-image-test \
		-vdev net_pcap0,rx_pcap=/capture.pcap -port net_pcap0 \
		-brokers 127.0.0.1:'$PORT' -topic '$TOPIC' -metrics-listen "" &
	pid=$!
	while [ ! -e /ctl/stop ] && kill -0 $pid 2>/dev/null; do sleep 0.1; done
	kill -INT $pid 2>/dev/null
	wait $pid' >"$work/fastcapa.out" 2>"$work/fastcapa.log" &
fc=$!
for _ in $(seq 600); do
	n=$(kcat -C -b 127.0.0.1:$PORT -t $TOPIC -o beginning -e -q -f '.\n' 2>/dev/null | wc -l)
	[ "$n" -ge "$in_pkts" ] && break
	kill -0 $fc 2>/dev/null || break
	sleep 0.1
done
touch "$work/ctl/stop"
status=0
wait $fc || status=$?
out_pkts=$(kcat -C -b 127.0.0.1:$PORT -t $TOPIC -o beginning -e -q -f '%S\n' | wc -l)
out_bytes=$(kcat -C -b 127.0.0.1:$PORT -t $TOPIC -o beginning -e -q -f '%S\n' | awk '{s+=$1} END {print s+0}')
echo "== kcat on the host: $out_pkts messages, $out_bytes bytes; fastcapa exit $status"
if [ "$in_pkts" != "$out_pkts" ] || [ "$in_bytes" != "$out_bytes" ] || [ $status -ne 0 ]; then
	cat "$work/fastcapa.out" "$work/fastcapa.log"
	fail "in $in_pkts/$in_bytes, out $out_pkts/$out_bytes, fastcapa exit $status"
fi
echo "== image-test: ok"
