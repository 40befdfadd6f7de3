#!/usr/bin/env bash
# make bench, the sink: pcapstore sink's rate from the topic to local disk,
# beside its ceiling, a bare confluent-kafka-go consumer reading the same
# topic, in the same run. The topic is filled first (fcbench fill) with
# metron-example.pcap's frames, repeated, in bin/devbroker.
#
#   test/bench_sink.sh            # as root, after make build
#   BENCH_RECORDS=300000 BENCH_ROUNDS=3 BENCH_SINK_MODES="plain zstd" test/bench_sink.sh
#   BENCH_BASE_BIN=/tmp/pcapstore.before BENCH_SINK_MODES="base plain" test/bench_sink.sh
#   TMPDIR=/dev/shm test/bench_sink.sh     # files to tmpfs instead of /tmp
#
# Each round reads the topic with the bare consumer and with the sink in
# each mode, the order turned round every other round (the first reader
# after a fill may find a colder broker); the last lines are each mode's
# median rate and its median ratio to the same round's ceiling. Rates
# count from the first record consumed to the last (group join excluded),
# timed by each program itself; mb_per_s counts the frames' bytes, before
# compression. Exit 1 if the sink's files do not hold every record.
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS=${BENCH_RECORDS:-300000}
ROUNDS=${BENCH_ROUNDS:-3}
MODES=${BENCH_SINK_MODES:-plain}
PCAPS=${FASTCAPA_PCAPS:-$(cd .. && pwd)/shared/pcaps}
work=$(mktemp -d "${TMPDIR:-/tmp}/fcsink.XXXXXX")
broker=; sinkp=
cleanup() {
	[ -n "$sinkp" ] && kill -KILL "$sinkp" 2>/dev/null || true
	[ -n "$broker" ] && kill "$broker" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

bin/devbroker -listen 127.0.0.1:0 -topic sinkbench >"$work/broker.out" 2>&1 &
broker=$!
for _ in $(seq 50); do grep -q listening "$work/broker.out" && break; sleep 0.1; done
addr=$(awk '/listening/ {print $2}' "$work/broker.out")

# The topic: BENCH_RECORDS records as fastcapa writes them, the frames of
# metron-example.pcap in turn. (A replay through fastcapa itself cannot
# promise a topic of a known size on a loaded machine: it counts drops.)
bin/fcbench fill -brokers "$addr" -topic sinkbench -from "$PCAPS/metron-example.pcap" -count "$RECORDS" 2>"$work/fill.log" ||
	{ cat "$work/fill.log" >&2; exit 1; }
n=$RECORDS
echo "# bench_sink.sh: $(date -u +%FT%TZ), $(nproc) CPUs; topic holds $n records (metron mix)"

run_ceiling() {
	local out
	out=$(bin/fcbench consume -brokers "$addr" -topic sinkbench -count "$n" 2>/dev/null)
	echo "ceiling  $out"
	echo "$out" | sed 's/.*records_per_s=\([0-9]*\).*/\1/' >"$work/ceiling.rate"
	echo "$out" | sed 's/.* bytes=\([0-9]*\).*/\1/' >"$work/value.bytes"
}

run_sink() { # name, extra flags
	local name=$1; shift
	local flags=() sink=bin/pcapstore
	case $name in
	plain) ;;
	base) sink=$BENCH_BASE_BIN ;; # another build, for before/after figures in one run
	*) flags=(-compression "$name") ;;
	esac
	local dir=$work/$name port
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	"$sink" sink -brokers "$addr" -topic sinkbench -group "bench-$name-$round" -dir "$dir" \
		-metrics-listen "127.0.0.1:$port" -log-json -max-bytes 268435456 ${SINK_ARGS:-} "${flags[@]}" "$@" 2>"$work/$name.log" &
	sinkp=$!
	local c=0
	for _ in $(seq 600); do
		# Polled twice a second, to notice the end: the sink times
		# itself, first record to last, as fcbench consume does (a
		# curl every 50 ms took CPU from it and cost it ~20 %).
		c=$(curl -s "127.0.0.1:$port/metrics" 2>/dev/null | awk '/^pcapstore_records_consumed_total/ {print $2}') || c=0
		c=${c:-0}; c=$(printf '%.0f' "$c")
		[ "$c" -ge "$n" ] && break
		sleep 0.5
	done
	kill -TERM $sinkp; wait $sinkp || true; sinkp=
	local first last
	first=$(grep -o '"first_record_ns":[0-9]*' "$work/$name.log" | cut -d: -f2)
	last=$(grep -o '"last_record_ns":[0-9]*' "$work/$name.log" | cut -d: -f2)
	local files pk bytes
	files=$(find "$dir" -type f -name 'pcap_*' | wc -l)
	pk=$(for f in $(find "$dir" -type f -name 'pcap_*'); do bin/pcapstore inspect "$f" | wc -l; done | awk '{s+=$1} END {print s+0}')
	bytes=$(find "$dir" -type f -name 'pcap_*' -printf '%s\n' | awk '{s+=$1} END {print s+0}')
	local line
	line=$(awk -v n="$n" -v s="$first" -v e="$last" -v name="$name" -v files="$files" -v pk="$pk" -v b="$bytes" -v vb="$(cat "$work/value.bytes")" \
		'BEGIN { t=(e-s)/1e9; r=n/t; printf "sink     mode=%s records=%d seconds=%.3f records_per_s=%.0f mb_per_s=%.1f files=%d packets_on_disk=%d disk_mb=%.1f", name, n, t, r, r*vb/n/1e6, files, pk, b/1e6 }')
	echo "$line"
	echo "$name $(echo "$line" | sed 's/.*records_per_s=\([0-9]*\).*/\1/')" >>"$work/sink.rates"
	rm -rf "$dir"
	[ "$pk" -ge "$n" ] || { echo "bench_sink.sh: $name: $pk packets on disk, want $n" >&2; exit 1; }
}

: >"$work/rounds"
for round in $(seq "$ROUNDS"); do
	: >"$work/sink.rates"
	if [ $((round % 2)) = 1 ]; then
		run_ceiling
		for m in $MODES; do run_sink "$m"; done
	else
		for m in $MODES; do run_sink "$m"; done
		run_ceiling
	fi
	while read -r m rate; do echo "$m $rate $(cat "$work/ceiling.rate")" >>"$work/rounds"; done <"$work/sink.rates"
done
median() { sort -g | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2 }'; }
for m in $MODES; do
	rate=$(awk -v m="$m" '$1 == m { print $2 }' "$work/rounds" | median)
	ratio=$(awk -v m="$m" '$1 == m { print $2 / $3 }' "$work/rounds" | median)
	echo "median   mode=$m rounds=$ROUNDS records_per_s=$rate sink_over_ceiling=$(awk -v q="$ratio" 'BEGIN { printf "%.0f%%", 100 * q }')"
done
