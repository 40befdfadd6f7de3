#!/usr/bin/env bash
# make bench, the sink: pcapstore sink's rate from the topic to local disk,
# beside its ceiling, a bare confluent-kafka-go consumer reading the same
# topic, in the same run. The topic is filled first by fastcapa replaying
# metron-example.pcap (net_pcap infinite_rx) into bin/devbroker.
#
#   test/bench_sink.sh            # as root, after make build
#   BENCH_FILL_SECONDS=3 test/bench_sink.sh
#
# Rates count from the first record consumed to the last (group join
# excluded), for both. Exit 1 if the sink's files do not hold every record.
set -euo pipefail
cd "$(dirname "$0")/.."
FILL=${BENCH_FILL_SECONDS:-3}
PCAPS=${FASTCAPA_PCAPS:-$(cd .. && pwd)/shared/pcaps}
if [ "$(id -u)" != 0 ]; then
	[ "${CI:-}" = true ] && { echo "bench_sink.sh: required in CI: needs root" >&2; exit 1; }
	echo "bench_sink.sh: skipped: needs root (DPDK EAL to fill the topic)"; exit 0
fi
work=$(mktemp -d /tmp/fcsink.XXXXXX)
broker=; sinkp=
cleanup() {
	[ -n "$sinkp" ] && kill -KILL "$sinkp" 2>/dev/null || true
	[ -n "$broker" ] && kill "$broker" 2>/dev/null || true
	rm -rf "$work" "/var/run/dpdk/fcsinkbench$$"
}
trap cleanup EXIT

bin/devbroker -listen 127.0.0.1:0 -topic sinkbench >"$work/broker.out" 2>&1 &
broker=$!
for _ in $(seq 50); do grep -q listening "$work/broker.out" && break; sleep 0.1; done
addr=$(awk '/listening/ {print $2}' "$work/broker.out")

bin/fastcapa -no-huge -no-pci -file-prefix "fcsinkbench$$" -metrics-listen "" -log-format json \
	-vdev "net_pcap0,rx_pcap=$PCAPS/metron-example.pcap,infinite_rx=1" -port net_pcap0 -ring-size 4096 \
	-brokers "$addr" -topic sinkbench >/dev/null 2>"$work/fc.log" &
fc=$!
sleep "$FILL"
kill -INT $fc; wait $fc || true
n=$(grep '"final counters"' "$work/fc.log" | sed 's/.*"delivered":\([0-9]*\).*/\1/')
echo "# bench_sink.sh: $(date -u +%FT%TZ), $(nproc) CPUs; topic holds $n records (metron mix)"

echo "ceiling  $(bin/fcbench consume -brokers "$addr" -topic sinkbench -count "$n")"

run_sink() { # name, extra flags
	local name=$1; shift
	local dir=$work/$name port
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	bin/pcapstore sink -brokers "$addr" -topic sinkbench -group "bench-$name" -dir "$dir" \
		-metrics-listen "127.0.0.1:$port" -max-bytes 268435456 ${SINK_ARGS:-} "$@" 2>"$work/$name.log" &
	sinkp=$!
	local start= c=0
	for _ in $(seq 1200); do
		# Not listening yet is not an error: count 0 and poll again.
		c=$(curl -s "127.0.0.1:$port/metrics" 2>/dev/null | awk '/^pcapstore_records_consumed_total/ {print $2}') || c=0
		c=${c:-0}; c=$(printf '%.0f' "$c")
		[ -z "$start" ] && [ "$c" -gt 0 ] && start=$(date +%s.%N) && c0=$c
		[ "$c" -ge "$n" ] && break
		sleep 0.05
	done
	local end; end=$(date +%s.%N)
	kill -TERM $sinkp; wait $sinkp || true; sinkp=
	local files pk bytes
	files=$(find "$dir" -name '*.pcap' ! -name '.*' | wc -l)
	pk=$(for f in $(find "$dir" -name '*.pcap' ! -name '.*'); do capinfos -M -c "$f" | awk -F': *' '/Number of packets/ {print $2}'; done | awk '{s+=$1} END {print s+0}')
	bytes=$(du -sb "$dir" | cut -f1)
	awk -v n="$n" -v c0="$c0" -v s="$start" -v e="$end" -v name="$name" -v files="$files" -v pk="$pk" -v b="$bytes" \
		'BEGIN { r=(n-c0)/(e-s); printf "sink     mode=%s records=%d seconds=%.3f records_per_s=%.0f files=%d packets_on_disk=%d disk_mb=%.1f\n", name, n, e-s, r, files, pk, b/1e6 }'
	[ "$pk" -ge "$n" ] || { echo "bench_sink.sh: $name: $pk packets on disk, want $n" >&2; exit 1; }
}
run_sink plain
