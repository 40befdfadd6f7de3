#!/usr/bin/env bash
# make bench, the records (issue 14): pcapstore records from files and
# from the topic to Parquet, beside references in the same run, then
# DuckDB's time for the seed's queries over the day of records made.
#
#   test/bench_records.sh                                    # 512 MiB day, 300 000 topic records, 3 rounds
#   BENCH_RECORDS_BYTES=67108864 BENCH_RECORDS=50000 BENCH_ROUNDS=1 test/bench_records.sh
#
# Files: a day of captures (fcbench gen-store: 24 hourly directories of
# metron-example.pcap's frames, each hour's hosts moved to 10.HOUR.x.y),
# read by `pcapstore records` (packets and flows; packets only) and by
# tshark -T fields extracting the seed's fields (time, addresses,
# protocol, ports, TTL, length, TCP sequence, acknowledgement and flags:
# what Spark's job took from tcpdump) from the same packets in one file
# (mergecap -a, not timed), so tshark starts once. Files are in the page
# cache. packets_per_s is per whole command.
#
# Topic: BENCH_RECORDS records of the same frames in bin/devbroker
# (fcbench fill), read by the bare consumer (fcbench consume: the
# ceiling) and by `pcapstore records -brokers` until its state holds
# every offset (checkpoints every 250 ms): its rate from the first record
# consumed to the last, as the ceiling's, and its whole command's (group
# join and the last checkpoint included).
#
# Sizes: Parquet bytes per packet of the day, against the pcap's.
set -euo pipefail
cd "$(dirname "$0")/.."
BYTES=${BENCH_RECORDS_BYTES:-536870912}
RECORDS=${BENCH_RECORDS:-300000}
ROUNDS=${BENCH_ROUNDS:-3}
PCAPS=${FASTCAPA_PCAPS:-$(cd .. && pwd)/shared/pcaps}
work=$(mktemp -d "${TMPDIR:-/tmp}/fcrecords.XXXXXX")
broker=
cleanup() {
	[ -n "$broker" ] && kill "$broker" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { print b - a }'; }

gen=$(bin/fcbench gen-store -from "$PCAPS/metron-example.pcap" -dir "$work/store" -bytes "$BYTES" -hours 24 -files-per-hour 4)
find "$work/store" -name 'pcap_*' | sort >"$work/list"
cat $(cat "$work/list") >/dev/null
mergecap -a -w "$work/all.pcap" $(cat "$work/list")
packets=$(for f in $(cat "$work/list"); do capinfos -M -c "$f"; done | awk -F': *' '/Number of packets/ { n += $2 } END { print n }')
pcap_bytes=$(cat $(cat "$work/list") | wc -c)
echo "# bench_records.sh: $(date -u +%FT%TZ), $(nproc) CPUs; store: $gen; $packets packets"

: >"$work/times"
for round in $(seq "$ROUNDS"); do
	for mode in flows packets tshark; do
		rm -rf "$work/out"
		a=$(date +%s.%N)
		case $mode in
		flows) bin/pcapstore records -out "$work/out" "$work/store" 2>"$work/rec.log" ;;
		packets) bin/pcapstore records -flows=false -out "$work/out" "$work/store" 2>"$work/rec.log" ;;
		tshark)
			tshark -r "$work/all.pcap" -n -T fields -e frame.time_epoch -e ip.src -e ip.dst -e ipv6.src -e ipv6.dst -e ip.proto \
				-e tcp.srcport -e tcp.dstport -e udp.srcport -e udp.dstport -e ip.ttl -e frame.len -e tcp.seq_raw \
				-e tcp.ack_raw -e ip.flags -e tcp.flags >/dev/null 2>&1 ;;
		esac
		b=$(date +%s.%N)
		echo "$mode $(elapsed "$a" "$b")" >>"$work/times"
		if [ "$mode" = flows ] && [ "$round" = 1 ]; then
			tail -1 "$work/rec.log"
			pq_packets=$(du -sb "$work/out/packets" | cut -f1)
			pq_flows=$(du -sb "$work/out/flows" | cut -f1)
			cp -r "$work/out" "$work/day"
		fi
	done
done
for mode in flows packets tshark; do
	s=$(awk -v m=$mode '$1 == m { print $2 }' "$work/times" | median)
	echo "$mode $s" >>"$work/medians"
	awk -v m=$mode -v s="$s" -v n="$packets" 'BEGIN { printf "files    mode=%s seconds=%.2f packets_per_s=%.0f\n", m, s, n / s }'
done
awk -v n="$packets" '{ s[$1] = $2 } END {
	printf "files    records_over_tshark=%.2fx packets_only_over_tshark=%.2fx\n", s["tshark"] / s["flows"], s["tshark"] / s["packets"] }' "$work/medians"
awk -v n="$packets" -v p="$pcap_bytes" -v a="$pq_packets" -v f="$pq_flows" 'BEGIN {
	printf "sizes    pcap_B_per_pkt=%.1f packets_parquet_B_per_pkt=%.2f flows_parquet_B_per_pkt=%.2f parquet_over_pcap=%.2f%%\n", p / n, a / n, f / n, 100 * (a + f) / p }'

# DuckDB over the day.
BENCH_RECORDS_DIR="$work/day" go test -run '^$' -bench SeedQueries -benchtime 3x ./records/ | grep -E '^Benchmark'

# The topic.
bin/devbroker -listen 127.0.0.1:0 -topic recbench >"$work/broker.out" 2>&1 &
broker=$!
for _ in $(seq 50); do grep -q listening "$work/broker.out" && break; sleep 0.1; done
addr=$(awk '/listening/ {print $2}' "$work/broker.out")
bin/fcbench fill -brokers "$addr" -topic recbench -from "$PCAPS/metron-example.pcap" -count "$RECORDS" 2>"$work/fill.log" ||
	{ cat "$work/fill.log" >&2; exit 1; }
: >"$work/topic"
ceiling() {
	bin/fcbench consume -brokers "$addr" -topic recbench -count "$RECORDS" 2>/dev/null | sed 's/.*records_per_s=\([0-9]*\).*/\1/'
}
records_topic() { # round: prints "rate whole-command-rate"
	rm -rf "$work/tout"
	local a b p
	a=$(date +%s.%N)
	bin/pcapstore records -out "$work/tout" -brokers "$addr" -topic recbench -group "rb$1" -checkpoint 250ms 2>"$work/trec.log" &
	p=$!
	until grep -qs "\"offsets\":{\"0\":$RECORDS}" "$work/tout/.records-state.json"; do
		kill -0 $p 2>/dev/null || { cat "$work/trec.log" >&2; exit 1; }
		sleep 0.05
	done
	b=$(date +%s.%N)
	kill -TERM $p; wait $p || true
	echo "$(sed -n 's/.*(\([0-9]*\) records\/s from the first to the last).*/\1/p' "$work/trec.log") $(awk -v a="$a" -v b="$b" -v n="$RECORDS" 'BEGIN { printf "%.0f", n / (b - a) }')"
}
# The order turns round every other round: the broker shares the CPUs.
for round in $(seq "$ROUNDS"); do
	if [ $((round % 2)) = 1 ]; then c=$(ceiling); rw=$(records_topic "$round"); else rw=$(records_topic "$round"); c=$(ceiling); fi
	set -- $rw
	echo "$1 $c" >>"$work/topic"
	echo "topic    round=$round records_per_s=$1 whole_command_records_per_s=$2 ceiling_records_per_s=$c"
done
awk '{ print $1 / $2 }' "$work/topic" | median | awk '{ printf "topic    median records_over_ceiling=%.0f%%\n", 100 * $1 }'
