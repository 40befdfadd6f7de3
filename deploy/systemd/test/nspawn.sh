#!/bin/bash
# Boots an ephemeral copy of root.sh's Debian 12 root under systemd-nspawn
# -b, as a test machine: nspawn.sh NAME [NSPAWN-ARGS...] -- [KERNEL-ARGS...]
# (binds and such before --, systemd.wants= and such after it). The one
# place that knows how this host boots a test machine; used by boot.sh
# and by test/machine_test.go (bootMachine), which finds the machine's
# PID 1 as this process's one child (it execs systemd-nspawn).
#
# - --ephemeral: a copy of the root per boot, removed at poweroff;
# - --register=no --keep-unit: no system bus on a host where systemd is
#   not PID 1, so no machined registration and no scope unit;
# - --private-network: the machine's own loopback (ports never collide
#   with the host's); move interfaces in with `ip link set IF netns PID`
#   once it has booted (--network-interface= waits for udev, and no udev
#   runs on such a host);
# - /sys/module, read-only: nspawn's sysfs lacks it with a private
#   network, and EAL then fails with "Cannot init VFIO"
#   (rte_eal_check_module cannot stat it);
# - CAP_IPC_LOCK and CAP_NET_ADMIN: a host's root has them, nspawn's
#   default set does not; fastcapa.service keeps both (net_af_packet's
#   rings are mapped MAP_LOCKED; promiscuous mode).
set -euo pipefail
name=$1
shift
args=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do
	args+=("$1")
	shift
done
[ $# -gt 0 ] && shift
root=$("$(dirname "$0")/root.sh")
exec systemd-nspawn -q --ephemeral --register=no --keep-unit --private-network \
	-D "$root" -M "$name" --bind-ro=/sys/module --capability=CAP_IPC_LOCK,CAP_NET_ADMIN \
	"${args[@]}" -b "$@"
