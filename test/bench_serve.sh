#!/usr/bin/env bash
# make bench, pcapstore serve: the time to an answer's first byte and to
# its end, over HTTP on loopback against pcapstore query writing to a pipe
# on the same machine, in the same run, and with 8 clients at once. The
# store is bench_query.sh's (fcbench gen-store, BENCH_SERVE_BYTES of
# nanosecond pcap, 24 hourly directories, indexed), in the page cache.
#
#   test/bench_serve.sh                                  # 2 GiB, 3 rounds
#   BENCH_SERVE_BYTES=268435456 BENCH_ROUNDS=1 test/bench_serve.sh
#
# Queries: selective, host 10.5.138.2 in hour 5 (Stenographer's after and
# before terms; -st/-et locally); broad, tcp over everything. Each answer
# is read whole and thrown away (fcbench ttfb); every answer of a query
# must be as long as the local one.
set -euo pipefail
cd "$(dirname "$0")/.."
BYTES=${BENCH_SERVE_BYTES:-2147483648}
ROUNDS=${BENCH_ROUNDS:-3}
PCAPS=${FASTCAPA_PCAPS:-$(cd .. && pwd)/shared/pcaps}
work=$(mktemp -d "${TMPDIR:-/tmp}/fcserve.XXXXXX")
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

gen=$(bin/fcbench gen-store -from "$PCAPS/metron-example.pcap" -dir "$work/store" -bytes "$BYTES" -hours 24 -files-per-hour 4)
echo "# bench_serve.sh: $(date -u +%FT%TZ), $(nproc) CPUs; store: $gen"
bin/pcapstore index "$work/store" 2>/dev/null
cat $(find "$work/store" -name 'pcap_*') >/dev/null # into the page cache

bin/pcapstore serve -listen 127.0.0.1:0 -log-json -jobs-dir "$work/jobs" "$work/store" 2>"$work/serve.log" &
pid=$!
url=
for _ in $(seq 100); do
	url=$(sed -n 's/.*"msg":"serving","url":"\([^"]*\)".*/\1/p' "$work/serve.log")
	[ -n "$url" ] && break
	sleep 0.05
done
[ -n "$url" ] || { echo "bench_serve.sh: pcapstore serve did not start:" >&2; cat "$work/serve.log" >&2; exit 1; }

host=10.5.138.2
st=$(( $(date -u -d 2026-11-01T05:00:00Z +%s) * 1000 ))
et=$(( st + 3600 * 1000 - 1 ))
sel_steno="host $host and after 2026-11-01T05:00:00Z and before 2026-11-01T06:00:00Z"

field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p"; }
: >"$work/times"
run() { # name, fcbench ttfb args...
	local name=$1; shift
	local line
	line=$(bin/fcbench ttfb "$@") || { echo "bench_serve.sh: $name failed" >&2; exit 1; }
	echo "$name $(echo "$line" | field ttfb_median_s) $(echo "$line" | field total_median_s) $(echo "$line" | field total_max_s) $(echo "$line" | field bytes)" >>"$work/times"
}
for _ in $(seq "$ROUNDS"); do
	run sel_local -- bin/pcapstore query expr "host $host" -st "$st" -et "$et" -o - "$work/store"
	run sel_http -url "$url/query" -q "$sel_steno"
	run sel_http8 -clients 8 -url "$url/query" -q "$sel_steno"
	run broad_local -- bin/pcapstore query expr tcp -o - "$work/store"
	run broad_http -url "$url/query" -q tcp
	run broad_http8 -clients 8 -url "$url/query" -q tcp
done

for q in sel broad; do
	sizes=$(awk -v q="$q" '$1 ~ "^"q"_" { print $5 }' "$work/times" | sort -u | wc -l)
	[ "$sizes" = 1 ] || { echo "bench_serve.sh: the $q answers differ in size:" >&2; cat "$work/times" >&2; exit 1; }
done
median() { sort -g | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2 }'; }
m() { awk -v n="$1" -v c="$2" '$1 == n { print $c }' "$work/times" | median; }
for q in sel_local sel_http sel_http8 broad_local broad_http broad_http8; do
	printf 'run      query=%s rounds=%d ttfb_median_s=%.4f total_median_s=%.3f total_max_s=%.3f bytes=%s\n' \
		"$q" "$ROUNDS" "$(m $q 2)" "$(m $q 3)" "$(m $q 4)" "$(m $q 5)"
done
awk -v st="$(m sel_local 2)" -v sh="$(m sel_http 2)" -v s8="$(m sel_http8 2)" -v stt="$(m sel_local 3)" -v sht="$(m sel_http 3)" -v s8t="$(m sel_http8 3)" \
	-v bt="$(m broad_local 2)" -v bh="$(m broad_http 2)" -v b8="$(m broad_http8 2)" -v btt="$(m broad_local 3)" -v bht="$(m broad_http 3)" -v b8t="$(m broad_http8 3)" 'BEGIN {
	printf "summary  selective over HTTP: first byte %.2fx, total %.2fx the local query'"'"'s; 8 clients at once: first byte %.2fx, total %.2fx one client'"'"'s\n", sh / st, sht / stt, s8 / sh, s8t / sht
	printf "summary  broad over HTTP: first byte %.2fx, total %.2fx the local query'"'"'s; 8 clients at once: first byte %.2fx, total %.2fx one client'"'"'s\n", bh / bt, bht / btt, b8 / bh, b8t / bht
}'
