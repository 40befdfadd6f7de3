#!/usr/bin/env bash
# make bench, the query: pcapstore query against tcpdump -r on the same
# files, in the same run. The store (fcbench gen-store) is BENCH_QUERY_BYTES
# of nanosecond pcap, 24 hourly directories of 4 files, made of
# metron-example.pcap's frames with each hour's IPv4 hosts moved into
# 10.HOUR.x.y, so a host lives in one hour; pcapstore index writes the
# sidecars. Files are in the page cache (read once first) for every run.
#
#   test/bench_query.sh                                   # 2 GiB, 3 rounds
#   BENCH_QUERY_BYTES=268435456 BENCH_ROUNDS=1 test/bench_query.sh
#
# Queries, each timed as a whole command, median of the rounds:
#   selective  host 10.5.138.2 in hour 5 (-st/-et), with the index and
#              with -no-index; tcpdump: 'host 10.5.138.158' over all files
#              (-V), which finds the same packets since the host lives in
#              hour 5 only
#   broad      'tcp' over everything, on all CPUs and with -workers 1 (per
#              core); tcpdump the same, on one
# Both write a pcap to /dev/null; the selective answers are compared.
set -euo pipefail
cd "$(dirname "$0")/.."
BYTES=${BENCH_QUERY_BYTES:-2147483648}
ROUNDS=${BENCH_ROUNDS:-3}
PCAPS=${FASTCAPA_PCAPS:-$(cd .. && pwd)/shared/pcaps}
work=$(mktemp -d "${TMPDIR:-/tmp}/fcquery.XXXXXX")
trap 'rm -rf "$work"' EXIT

gen=$(bin/fcbench gen-store -from "$PCAPS/metron-example.pcap" -dir "$work/store" -bytes "$BYTES" -hours 24 -files-per-hour 4)
echo "# bench_query.sh: $(date -u +%FT%TZ), $(nproc) CPUs; store: $gen"
t0=$(date +%s.%N)
bin/pcapstore index "$work/store" 2>"$work/index.log"
t1=$(date +%s.%N)
echo "index    $(cat "$work/index.log" | tail -1), $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f s", b-a }')"
find "$work/store" -name 'pcap_*' | sort >"$work/list"
cat $(cat "$work/list") >/dev/null # into the page cache

host=10.5.138.2 # the sample's DNS server: ~2 % of the hour's packets
# Hour 5 of the store, in epoch ms, both ends inclusive.
st=$(( $(date -u -d 2026-11-01T05:00:00Z +%s) * 1000 ))
et=$(( st + 3600 * 1000 - 1 ))

timed() { # name, command...: runs it, appends "name seconds"
	local name=$1; shift
	local a b
	a=$(date +%s.%N)
	"$@" >/dev/null 2>"$work/$name.err" || { echo "bench_query.sh: $name failed:" >&2; cat "$work/$name.err" >&2; exit 1; }
	b=$(date +%s.%N)
	echo "$name $(awk -v a="$a" -v b="$b" 'BEGIN { print b-a }')" >>"$work/times"
}
: >"$work/times"
for _ in $(seq "$ROUNDS"); do
	timed sel_index bin/pcapstore query expr "host $host" -st "$st" -et "$et" -o "$work/sel.pcap" "$work/store"
	timed sel_noindex bin/pcapstore query expr -no-index "host $host" -st "$st" -et "$et" -o /dev/null "$work/store"
	timed sel_tcpdump tcpdump -Z root -V "$work/list" --time-stamp-precision=nano -w "$work/sel_tcpdump.pcap" "host $host"
	timed broad bin/pcapstore query expr tcp -o /dev/null "$work/store"
	timed broad_1cpu bin/pcapstore query expr -workers 1 tcp -o /dev/null "$work/store"
	timed broad_tcpdump tcpdump -Z root -V "$work/list" -w /dev/null tcp
done

count() { capinfos -M -c "$1" | awk -F': *' '/Number of packets/ {print $2}'; }
ours=$(count "$work/sel.pcap"); theirs=$(count "$work/sel_tcpdump.pcap")
# Frames compared, not times: tcpdump 4.99 reads every file after the
# first of a -V list at microsecond precision, so its nanosecond output
# has wrong times past the first file.
cmp -s <(tcpdump -t -nxr "$work/sel.pcap" 2>/dev/null) <(tcpdump -t -nxr "$work/sel_tcpdump.pcap" 2>/dev/null) ||
	{ echo "bench_query.sh: the selective answers differ: $ours vs tcpdump's $theirs packets" >&2; exit 1; }

median() { sort -g | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2 }'; }
m() { awk -v n="$1" '$1 == n { print $2 }' "$work/times" | median; }
gb=$(awk -v b="$BYTES" 'BEGIN { print b / 1e9 }')
for q in sel_index sel_noindex sel_tcpdump broad broad_1cpu broad_tcpdump; do
	printf 'run      query=%s rounds=%d median_s=%.3f gb_per_s=%.2f\n' "$q" "$ROUNDS" "$(m $q)" "$(awk -v g="$gb" -v s="$(m $q)" 'BEGIN { print g / s }')"
done
cpus=$(nproc)
awk -v si="$(m sel_index)" -v sn="$(m sel_noindex)" -v st="$(m sel_tcpdump)" -v b="$(m broad)" -v b1="$(m broad_1cpu)" -v bt="$(m broad_tcpdump)" -v c="$cpus" -v n="$ours" 'BEGIN {
	printf "summary  selective (%d packets, equal to tcpdump'"'"'s): %.1fx faster than tcpdump with the index, %.1fx without\n", n, st / si, st / sn
	printf "summary  broad: %.2fx tcpdump'"'"'s speed on %d CPUs; on one (-workers 1) %.2fx\n", bt / b, c, bt / b1
}'
