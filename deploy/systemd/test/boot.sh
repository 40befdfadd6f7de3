#!/bin/bash
# Boots a Debian 12 root under systemd-nspawn with our binaries and units
# inside, and checks them under a real systemd: after dpdk.service,
# fastcapa.service, fastcapa@cap1.service (another EAL file prefix at the
# same time) and fastcapa@cap2.service (as user fastcapa with
# CAP_IPC_LOCK only: fastcapa-unprivileged.conf) reach READY
# (Type=notify: active only after READY=1), each capturing the sample
# capture from a net_pcap vdev without hugepages into a broker
# (devbroker), and pcapstore-sink@store0.service stores all three as user
# pcapstore (Type=notify as well: active only after its READY=1, its
# targets open and the broker answered, which its journal's "ready ...
# systemd_notified=true" line says too).
#
# The machine is deploy/systemd/test/nspawn.sh's: an ephemeral copy of
# root.sh's root (debootstrap, cached), booted under systemd-nspawn. Run by make
# test (TestUnitsBoot), or alone, as root:
#   make systemd-boot-test     (about 10 s once the root exists)
set -euo pipefail
ROOT_DIR=$(cd "$(dirname "$0")/../../.." && pwd)
BIN=${FASTCAPA_BIN:-$ROOT_DIR/bin}
PCAP=${FASTCAPA_PCAPS:-$ROOT_DIR/../shared/pcaps}/metron-example.pcap
for b in fastcapa pcapstore devbroker; do
	[ -x "$BIN/$b" ] || { echo "boot.sh: no $BIN/$b: make build first" >&2; exit 1; }
done
[ -r "$PCAP" ] || { echo "boot.sh: no $PCAP" >&2; exit 1; }

# The root (debootstrap, once): before the clock starts.
"$ROOT_DIR/deploy/systemd/test/root.sh" >/dev/null

work=$(mktemp -d /tmp/fastcapa-boot.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/etc" "$work/units" "$work/out"
cat >"$work/etc/fastcapa.yaml" <<YAML
eal:
  lcores: "0,1"
  huge_pages: false
  no_pci: true
  vdevs: ["net_pcap0,rx_pcap=/srv/sample.pcap"]
ports: [{name: net_pcap0}]
kafka:
  topic: pcap
  properties: {bootstrap.servers: "127.0.0.1:9092"}
metrics: {listen: "127.0.0.1:9470"}
YAML
sed -e 's/9470/9472/' -e 's/net_pcap0/net_pcap1/g' "$work/etc/fastcapa.yaml" >"$work/etc/cap1.yaml"
sed -e 's/9470/9473/' -e 's/net_pcap0/net_pcap2/g' "$work/etc/fastcapa.yaml" >"$work/etc/cap2.yaml"
cat >"$work/etc/sink-store0.yaml" <<YAML
brokers: 127.0.0.1:9092
topic: pcap
group: store0
metrics_listen: 127.0.0.1:9471
targets:
  - name: all
    dir: /var/lib/pcapstore/store0/all
YAML
# The test's own units: a broker, and the checks, which write their
# verdict to /out and power the machine off.
cat >"$work/units/devbroker.service" <<'UNIT'
[Unit]
Description=test broker
Before=fastcapa.service fastcapa@cap1.service pcapstore-sink@store0.service
[Service]
ExecStart=/usr/local/bin/devbroker -listen 127.0.0.1:9092 -topic pcap
UNIT
cat >"$work/units/boot-check.service" <<'UNIT'
[Unit]
Description=boot test checks
After=multi-user.target
[Service]
Type=oneshot
ExecStart=/bin/bash /out/check.sh
ExecStopPost=/bin/systemctl --no-block poweroff
UNIT
cat >"$work/out/check.sh" <<'CHECK'
exec >/out/result 2>&1
units="fastcapa.service fastcapa@cap1.service fastcapa@cap2.service pcapstore-sink@store0.service"
for u in $units; do   # is-active -q of several: 0 if any one is active
	for i in $(seq 60); do
		systemctl is-active -q $u && break
		sleep 0.5
	done
done
systemctl is-active $units
echo "sink unit: $(systemctl show -p ActiveState,SubState,WatchdogUSec --value pcapstore-sink@store0.service | tr '\n' ' ')"
# The line is logged just after READY=1: give journald a moment.
for i in $(seq 20); do
	journalctl -q -u pcapstore-sink@store0.service | grep -q 'msg=ready systemd_notified=true' && break
	sleep 0.25
done
echo "sink ready logs: $(journalctl -q -u pcapstore-sink@store0.service | grep -c 'msg=ready systemd_notified=true')"
sleep 3   # the sink consumes the capture
systemctl stop pcapstore-sink@store0.service   # closes and commits its files
echo "sink: $(journalctl -q -o cat -u pcapstore-sink@store0.service | grep 'final counters' | grep -o 'written=[0-9]*')"
echo "pcap files: $(find /var/lib/pcapstore/store0 -name '*.pcap' -size +24c | wc -l)"
echo "owners: $(find /var/lib/pcapstore/store0 -type f -printf '%u\n' | sort -u | tr '\n' ' ')"
echo "sink result: $(systemctl show -p Result --value pcapstore-sink@store0.service)"
echo "sink user: $(journalctl -q -o verbose -u pcapstore-sink@store0.service _COMM=pcapstore | sed -n 's/^ *_UID=//p' | sort -u | tr '\n' ' ')"
for u in fastcapa.service fastcapa@cap1.service fastcapa@cap2.service; do
	echo "$u: $(systemctl show -p ActiveState,SubState,MainPID,WatchdogTimestampMonotonic --value $u | tr '\n' ' ')"
done
echo "prefixes: $(ls /run/dpdk | tr '\n' ' ')"
echo "cap2 user: $(stat -c %U /proc/"$(systemctl show -p MainPID --value fastcapa@cap2.service)") $(ls /run/fastcapa/dpdk)"
echo "ready logs: $(journalctl -q -u fastcapa.service -u fastcapa@cap1.service | grep -c 'msg=ready systemd_notified=true')"
echo "ready logs cap2: $(journalctl -q -u fastcapa@cap2.service | grep -c 'msg=ready systemd_notified=true')"
echo "dpdk.service: $(systemctl is-active dpdk.service)"
echo "--- journal"
journalctl -q --no-pager -u dpdk.service -u fastcapa.service -u fastcapa@cap1.service -u fastcapa@cap2.service -u pcapstore-sink@store0.service | tail -60
CHECK

binds=(
	--bind-ro="$BIN/fastcapa:/usr/bin/fastcapa"
	--bind-ro="$BIN/pcapstore:/usr/bin/pcapstore"
	--bind-ro="$BIN/devbroker:/usr/local/bin/devbroker"
	--bind-ro="$PCAP:/srv/sample.pcap"
	--bind-ro="$work/etc:/etc/fastcapa"
	--bind="$work/out:/out"
)
for u in "$ROOT_DIR"/deploy/systemd/*.service "$work"/units/*.service; do
	binds+=(--bind-ro="$u:/etc/systemd/system/$(basename "$u")")
done
# The .deb makes the user; here systemd-sysusers does, at boot.
printf '%s\n' 'u pcapstore - "pcapstore sink" /var/lib/pcapstore' 'u fastcapa - "fastcapa" /' >"$work/etc/sysusers.conf"
# fastcapa@cap2 runs as user fastcapa with CAP_IPC_LOCK alone.
mkdir -p "$work/cap2.d"
cp "$ROOT_DIR/deploy/systemd/fastcapa-unprivileged.conf" "$work/cap2.d/"
binds+=(--bind-ro="$work/cap2.d:/etc/systemd/system/fastcapa@cap2.service.d")
binds+=(--bind-ro="$work/etc/sysusers.conf:/etc/sysusers.d/pcapstore.conf")

# Enabling = the wants symlinks, made in the ephemeral copy by
# systemd.wants= on the kernel command line (PID 1's arguments here).
start=$(date +%s)
timeout 120 "$ROOT_DIR/deploy/systemd/test/nspawn.sh" fastcapa-boot "${binds[@]}" -- \
	systemd.wants=devbroker.service systemd.wants=fastcapa.service systemd.wants=fastcapa@cap1.service systemd.wants=fastcapa@cap2.service \
	systemd.wants=pcapstore-sink@store0.service systemd.wants=boot-check.service \
	>"$work/console.log" 2>&1 || { echo "boot.sh: systemd-nspawn: exit $?" >&2; tail -30 "$work/console.log" >&2; }
echo "boot.sh: booted, checked and powered off in $(($(date +%s) - start)) s"
[ -s "$work/out/result" ] || { echo "boot.sh: no result from the checks" >&2; tail -40 "$work/console.log" >&2; exit 1; }
cat "$work/out/result"
r=$work/out/result
fail=0
want() { grep -qE "$1" "$r" || { echo "boot.sh: FAIL: want /$1/" >&2; fail=1; }; }
want '^active$'
[ "$(grep -c '^active$' "$r")" = 4 ] || { echo "boot.sh: FAIL: not all four units active" >&2; fail=1; }
want '^pcap files: [1-9]'
# The three captures of the sample, every packet: 3 x 761.
want '^sink: written=2283$'
want '^fastcapa.service: [1-9][0-9]* [0-9]+ active running'
want '^fastcapa@cap1.service: [1-9][0-9]* [0-9]+ active running'
want '^owners: pcapstore $'
want '^sink result: success$'
want '^ready logs: 2$'
want '^ready logs cap2: 1$'
want '^sink unit: 30s active running $'
want '^sink ready logs: 1$'
want '^cap2 user: fastcapa fastcapa-cap2$'
want '^prefixes: .*fastcapa .*fastcapa-cap1'
want '^dpdk.service: active$'
[ $fail = 0 ] && echo "boot.sh: ok"
exit $fail
