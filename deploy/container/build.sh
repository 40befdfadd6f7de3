#!/usr/bin/env bash
# make image: the fastcapa-go container image, built with buildah from a
# Debian 12 base made here (no registry is needed).
#  1. a debootstrap --variant=minbase bookworm root, cached in
#     .tools/debian-bookworm/root (about 25 s and 210 MB, once);
#  2. imported as localhost/debian:bookworm (about 5 s, once per root);
#  3. buildah bud of ./Dockerfile with BASE=localhost/debian:bookworm
#     (--isolation chroot: this machine's crun cannot start OCI containers,
#     see README.md "Container"): first the bins-$BINS stage, tagged
#     localhost/fastcapa-bins:$BINS, then the image, tagged $IMAGE.
# BINS=host (default) copies bin/fastcapa and bin/pcapstore (make build);
# BINS=source builds them in the image (Go from bookworm-backports, then
# the go.mod toolchain from the Go module proxy).
set -euo pipefail
cd "$(dirname "$0")/../.."

IMAGE=${IMAGE:-localhost/fastcapa:latest}
BASE=${BASE:-localhost/debian:bookworm}
BINS=${BINS:-host}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
ROOT=.tools/debian-bookworm/root

case $BINS in
host)
	for b in bin/fastcapa bin/pcapstore; do
		[ -x "$b" ] || { echo "image: $b is missing (make build)"; exit 1; }
	done ;;
source) ;;
*) echo "image: BINS=$BINS: want host (bin/ from make build) or source (built in the image)"; exit 1 ;;
esac

if [ "$BASE" = localhost/debian:bookworm ] && ! buildah inspect --type image "$BASE" >/dev/null 2>&1; then
	if [ ! -e "$ROOT/.complete" ]; then
		echo "== debootstrap --variant=minbase bookworm into $ROOT (once)"
		rm -rf "$ROOT"
		mkdir -p "$(dirname "$ROOT")"
		debootstrap --variant=minbase bookworm "$ROOT" "$MIRROR" >"$ROOT.log" 2>&1 ||
			{ tail -20 "$ROOT.log"; exit 1; }
		# Debian's security and point-release updates too, as on a real host.
		cat >"$ROOT/etc/apt/sources.list" <<LIST
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
LIST
		rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/*
		touch "$ROOT/.complete"
	fi
	echo "== importing $ROOT as $BASE"
	tar -C "$ROOT" --exclude ./.complete -c . | podman import -q - "$BASE" >/dev/null
fi

# The context is the tree minus what .dockerignore leaves out (.git, .tools).
# CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt lends the host's CA bundle to
# the RUN steps (read-only, not kept in any layer): needed where outgoing TLS
# is re-signed by a local CA, as on the machine this was written on (the
# module proxy's certificate was "signed by unknown authority" otherwise).
ca=()
[ -n "${CA_BUNDLE:-}" ] && ca=(-v "$(readlink -f "$CA_BUNDLE"):/etc/ssl/certs/ca-certificates.crt:ro")
bud() { buildah bud --isolation chroot --layers --build-arg "BASE=$BASE" "${ca[@]}" -f Dockerfile "$@" .; }
echo "== buildah bud --target bins-$BINS -t localhost/fastcapa-bins:$BINS"
bud --target "bins-$BINS" -t "localhost/fastcapa-bins:$BINS"
echo "== buildah bud -t $IMAGE (BASE=$BASE, binaries from bins-$BINS)"
bud --build-arg "BINS_IMAGE=localhost/fastcapa-bins:$BINS" -t "$IMAGE"
