#!/usr/bin/env bash
# test/bench_threads.sh PCAP ROUNDS BIN_A BIN_B: two fastcapa builds
# alternated on net_pcap infinite_rx of PCAP, a fresh bin/devbroker each
# run; per run the steady delivered rate and the CPU per delivered packet
# of every fastcapa thread but the RX lcore's (rte-worker-*), which
# busy-polls whatever the build: what the produce path itself costs.
# As root, after make build. Reports, never asserts.
set -u
pcap=$1 rounds=$2 A=$3 B=$4
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
hz=$(getconf CLK_TCK)
run() {
  bin/devbroker -listen 127.0.0.1:19095 >/dev/null 2>&1 & b=$!; sleep 0.5
  $1 -vdev "net_pcap0,rx_pcap=$pcap,infinite_rx=1" -port net_pcap0 -no-huge -no-pci -file-prefix ab$$ -brokers 127.0.0.1:19095 -topic ab$RANDOM -log-format json -stats-interval 1s >$work/ab.out 2>$work/ab.log & f=$!
  sleep 7
  local ticks=0 t
  for t in /proc/$f/task/*; do
    [[ $(cat $t/comm) == rte-worker-* ]] && continue
    ticks=$((ticks + $(awk '{print $14+$15}' $t/stat)))
  done
  kill -INT $f; wait $f
  kill $b; wait $b 2>/dev/null
  local d=$(grep '"msg":"stats"' $work/ab.log | tail -1 | sed 's/.*"delivered":\([0-9]*\).*/\1/')
  local rate=$(grep '"msg":"stats"' $work/ab.log | sed -n '2p;$p' | sed 's/.*"time":"\([^"]*\)".*"delivered":\([0-9]*\).*/\1 \2/' | tr '\n' ' ' | awk '{ cmd="date -d "$1" +%s.%N"; cmd | getline t0; close(cmd); cmd="date -d "$3" +%s.%N"; cmd | getline t1; printf "%.0f\n", ($4-$2)/(t1-t0)}')
  awk -v r=$rate -v t=$ticks -v hz=$hz -v d=$d 'BEGIN{printf "%s/s %.3fus", r, t/hz*1e6/d}'
}
for r in $(seq $rounds); do
  echo "round $r A $(run $A) B $(run $B)"
done
