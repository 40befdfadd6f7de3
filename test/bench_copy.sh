#!/usr/bin/env bash
# librdkafka alone from C, with and without RD_KAFKA_MSG_F_COPY (fcbench
# -modes c and cnocopy): the most a zero-copy produce path could save
# inside librdkafka. A fresh devbroker per run, modes alternated, 3 rounds
# of 5 s per size; prints fcbench's line per run. After make build:
#   test/bench_copy.sh
set -euo pipefail
work=$(mktemp -d /tmp/fcbench-copy.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$(dirname "$0")/.."
for size in 64 651; do
	for round in 1 2 3; do
		for mode in c cnocopy; do
			bin/devbroker -listen 127.0.0.1:0 -topic unused >"$work"/broker.out 2>&1 &
			bp=$!
			addr=
			for _ in $(seq 100); do addr=$(awk '/^listening /{print $2; exit}' "$work"/broker.out); [ -n "$addr" ] && break; sleep 0.1; done
			line=$(bin/fcbench -brokers "$addr" -modes "$mode" -size "$size" -duration 5s -topic nc$round | tail -1)
			echo "size=$size round=$round $line"
			kill $bp; wait $bp 2>/dev/null || true
		done
	done
done
