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
#     capinfos on the host counts the packets in the stored files.
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
cleanup() {
	podman rm -f -t 0 "$NAME" "$NAME-sink" >/dev/null 2>&1 || true
	[ -n "$broker" ] && kill "$broker" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "image-test: FAIL: $*"; exit 1; }

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
echo "== fastcapa in the image (podman run --network host --user 0): $PCAP, $in_pkts packets, $in_bytes bytes"
# fastcapa runs until signalled: detached, then podman kill -s INT once
# every packet is in the topic (or after 60 s); podman wait gives its status.
run -d --name "$NAME" --network host --user 0 --entrypoint fastcapa \
	-v "$PCAP:/capture.pcap:ro" "$IMAGE" \
	-no-huge -no-pci -file-prefix fastcapa-image-test \
	-vdev net_pcap0,rx_pcap=/capture.pcap -port net_pcap0 \
	-brokers 127.0.0.1:$PORT -topic $TOPIC -metrics-listen "" >/dev/null
for _ in $(seq 600); do
	n=$(kcat -C -b 127.0.0.1:$PORT -t $TOPIC -o beginning -e -q -f '.\n' 2>/dev/null | wc -l)
	[ "$n" -ge "$in_pkts" ] && break
	[ "$(podman inspect -f '{{.State.Running}}' "$NAME")" = true ] || break
	sleep 0.1
done
podman kill -s INT "$NAME" >/dev/null 2>&1 || true
status=$(podman wait "$NAME")
podman logs "$NAME" >"$work/fastcapa.log" 2>&1
out_pkts=$(kcat -C -b 127.0.0.1:$PORT -t $TOPIC -o beginning -e -q -f '%S\n' | wc -l)
out_bytes=$(kcat -C -b 127.0.0.1:$PORT -t $TOPIC -o beginning -e -q -f '%S\n' | awk '{s+=$1} END {print s+0}')
echo "== kcat on the host: $out_pkts messages, $out_bytes bytes; fastcapa exit $status"
if [ "$in_pkts" != "$out_pkts" ] || [ "$in_bytes" != "$out_bytes" ] || [ $status -ne 0 ]; then
	cat "$work/fastcapa.log"
	fail "in $in_pkts/$in_bytes, out $out_pkts/$out_bytes, fastcapa exit $status"
fi

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
echo "== image-test: ok"
