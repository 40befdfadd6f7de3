#!/usr/bin/env bash
# make demo: replay the Metron sample capture through DPDK's net_pcap into a
# local Kafka-protocol broker, read the topic back with kcat, and compare
# packets and bytes in with packets and bytes out; then store the topic
# with pcapstore sink (two targets: everything as zstd pcap, and TCP port
# 80 only) and check the files against the capture with tcpdump.
set -euo pipefail
cd "$(dirname "$0")/.."

PCAP=${PCAP:-${FASTCAPA_PCAPS:-../shared/pcaps}/metron-example.pcap}
PORT=${BROKER_PORT:-9092}
TOPIC=pcap
work=$(mktemp -d)
trap 'kill $broker 2>/dev/null || true; rm -rf "$work" /var/run/dpdk/fastcapa-demo' EXIT

[ -r "$PCAP" ] || { echo "demo: no capture at $PCAP (set PCAP=...)"; exit 1; }
if (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null; then
	echo "demo: 127.0.0.1:$PORT is taken; set BROKER_PORT to a free port"; exit 1
fi

echo "== local broker on 127.0.0.1:$PORT (bin/devbroker, franz-go kfake)"
bin/devbroker -listen 127.0.0.1:$PORT -topic $TOPIC >"$work/broker.log" 2>&1 &
broker=$!
for _ in $(seq 50); do grep -q listening "$work/broker.log" && break; sleep 0.1; done
grep -q listening "$work/broker.log" || { cat "$work/broker.log"; exit 1; }

in_pkts=$(capinfos -M -c "$PCAP" | awk -F': *' '/Number of packets/ {print $2}')
in_bytes=$(capinfos -M -d "$PCAP" | awk -F': *' '/Data size/ {print $2+0}')
# capinfos' data size counts captured bytes; so does Kafka's value.
echo "== replaying $PCAP: $in_pkts packets, $in_bytes bytes"
bin/fastcapa -no-huge -no-pci -file-prefix fastcapa-demo \
	-vdev "net_pcap0,rx_pcap=$PCAP" -port net_pcap0 \
	-brokers 127.0.0.1:$PORT -topic $TOPIC >"$work/fastcapa.out" 2>"$work/fastcapa.log" &
fc=$!

# Wait for every packet to land (or 60 s), then stop the daemon.
for _ in $(seq 600); do
	n=$(kcat -C -b 127.0.0.1:$PORT -t $TOPIC -o beginning -e -q -f '.\n' 2>/dev/null | wc -l)
	[ "$n" -ge "$in_pkts" ] && break
	kill -0 $fc 2>/dev/null || break
	sleep 0.1
done
kill -INT $fc 2>/dev/null || true
status=0
wait $fc || status=$?
cat "$work/fastcapa.out"

out_pkts=$(kcat -C -b 127.0.0.1:$PORT -t $TOPIC -o beginning -e -q -f '%S\n' | wc -l)
out_bytes=$(kcat -C -b 127.0.0.1:$PORT -t $TOPIC -o beginning -e -q -f '%S\n' | awk '{s+=$1} END {print s+0}')
echo "== read back with kcat: $out_pkts messages, $out_bytes bytes of frames"
echo "== first messages: key = the file's timestamp in ns (8 bytes, big-endian), value = the frame"
kcat -C -b 127.0.0.1:$PORT -t $TOPIC -o beginning -c 3 -e -q -f '%k' | od -An -v -tx1 -w8 | tr -d ' ' |
	while read -r hex; do
		ns=$((16#$hex))
		echo "   key 0x$hex = $ns ns = $(date -u -d @$((ns / 1000000000)) +%FT%T).$(printf %09d $((ns % 1000000000)))Z"
	done
if [ "$in_pkts" = "$out_pkts" ] && [ "$in_bytes" = "$out_bytes" ] && [ $status -eq 0 ]; then
	echo "== packets in = packets out: $in_pkts = $out_pkts, bytes $in_bytes = $out_bytes"
else
	echo "== MISMATCH: in $in_pkts/$in_bytes, out $out_pkts/$out_bytes, fastcapa exit $status"
	cat "$work/fastcapa.log"
	exit 1
fi

echo "== pcapstore sink: the topic into files (all: zstd pcap; web: tcp port 80 only)"
cat >"$work/sink.yaml" <<YAML
brokers: 127.0.0.1:$PORT
topic: $TOPIC
group: demo
metrics_listen: ""
targets:
  - name: all
    dir: $work/store/all
    template: "%Y%m%d/pcap_{topic}_{ts}_{partition}.pcap"
    compression: zstd
  - name: web
    dir: $work/store/web
    template: "{start}-{end}.pcap"
    filter: tcp port 80
YAML
bin/pcapstore sink -config "$work/sink.yaml" 2>"$work/sink.log" &
sink=$!
for _ in $(seq 100); do
	grep -q '"partition assigned"\|msg="partition assigned"' "$work/sink.log" && break
	sleep 0.1
done
sleep 3
kill -TERM $sink; wait $sink
find "$work/store" -type f ! -name '.*' ! -name '*.jsonl' -printf '   %P  %s bytes\n'
all=$(for f in $(find "$work/store/all" -type f -name 'pcap_*'); do bin/pcapstore inspect "$f"; done | wc -l)
web_want=$(tcpdump -r "$PCAP" -w - 'tcp port 80' 2>/dev/null | capinfos -M -c /dev/stdin 2>/dev/null | awk -F': *' '/Number of packets/ {print $2}')
web=$(for f in "$work"/store/web/*.pcap; do capinfos -M -c "$f" | awk -F': *' '/Number of packets/ {print $2}'; done | awk '{s+=$1} END {print s+0}')
echo "== first packets, as pcapstore inspect prints them:"
bin/pcapstore inspect -n 3 "$(find "$work/store/all" -type f -name 'pcap_*' | head -1)" | sed 's/^/   /'
if [ "$all" = "$in_pkts" ] && [ "$web" = "$web_want" ]; then
	echo "== stored: all $all of $in_pkts packets; web $web, as tcpdump 'tcp port 80' keeps $web_want"
else
	echo "== MISMATCH in the store: all $all of $in_pkts, web $web (tcpdump: $web_want)"
	cat "$work/sink.log"
	exit 1
fi
