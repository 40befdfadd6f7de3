#!/bin/bash
# Prints the path of a Debian 12 root for systemd-nspawn -b, made once with
# debootstrap from deb.debian.org (about 300 MB, 45-80 s) and reused: the
# root of deploy/systemd/test/boot.sh (the units under a real systemd) and
# of TestAnsibleSystemd (the ansible roles against a real systemd) and
# TestVagrantLabMachines (the vagrant lab's playbook on two machines).
#
# It holds systemd, dpdk (dpdk.service, dpdk-init), what fastcapa and
# pcapstore link and the PMDs the tests use (ldd bin/*, dpkg -S: the
# .deb's Depends), python3-apt for ansible's apt module, and the tools
# the vagrant lab's playbook installs (tcpdump, tcpreplay, kcat, curl,
# iproute2: the machines have no network to fetch them). The cache
# key is that list: a new list makes a new root, and roots of older lists
# are removed.
#
# One change to Debian's files, made here once for every boot: a drop-in
# for dpdk.service. dpdk-init's last step, "sysctl vm.max_map_count=...",
# fails ("permission denied": nspawn mounts /proc/sys read-only) after the
# hugepages and bindings steps ran, and dpdk-init exits 1; the drop-in
# forgives that failure, only while /proc/sys is read-only. On a host the
# unit is Debian's, unchanged.
set -euo pipefail
CACHE=${NSPAWN_CACHE:-/var/cache/fastcapa-nspawn}
PKGS=systemd,systemd-sysv,dbus,dpdk,adduser,python3-apt,tcpdump,tcpreplay,kcat,curl,iproute2,libpcap0.8,libnuma1,libbsd0,libfdt1,librte-eal23,librte-ethdev23,librte-kvargs23,librte-mbuf23,librte-mempool23,librte-meter23,librte-net23,librte-ring23,librte-bpf23,librte-telemetry23,librte-net-pcap23,librte-bus-vdev23,librte-mempool-ring23,librte-net-af-packet23
root=$CACHE/root-$(printf '%s' "$PKGS" | sha256sum | cut -c1-12)

if [ ! -d "$root" ]; then
	mkdir -p "$CACHE"
	exec 9>"$CACHE/.lock"
	flock 9
	if [ ! -d "$root" ]; then
		rm -rf "$root.tmp"
		echo "root.sh: debootstrap bookworm into $root (once)" >&2
		start=$(date +%s)
		debootstrap --variant=minbase --include="$PKGS" bookworm "$root.tmp" http://deb.debian.org/debian >"$CACHE/debootstrap.log" 2>&1 ||
			{ tail -20 "$CACHE/debootstrap.log" >&2; exit 1; }
		mkdir -p "$root.tmp/etc/systemd/system/dpdk.service.d"
		cat >"$root.tmp/etc/systemd/system/dpdk.service.d/nspawn.conf" <<'UNIT'
# systemd-nspawn only (deploy/systemd/test/root.sh): /proc/sys is read-only.
[Service]
ExecStart=
ExecStart=/bin/sh -c '/lib/dpdk/dpdk-init start || [ ! -w /proc/sys/vm/max_map_count ]'
UNIT
		mv "$root.tmp" "$root"
		for old in "$CACHE"/root "$CACHE"/root-*; do
			[ "$old" = "$root" ] || [ ! -d "$old" ] || rm -rf "$old"
		done
		echo "root.sh: root made in $(($(date +%s) - start)) s, $(du -sh "$root" | cut -f1)" >&2
	fi
fi
echo "$root"
