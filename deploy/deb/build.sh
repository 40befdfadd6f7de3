#!/bin/bash
# Builds out/fastcapa_<version>_amd64.deb from the tree (make deb).
#   version   git describe: v1.2.3-4-gabc → 1.2.3+4.gabc; without a tag
#             0.0~git<commit date>.<hash>; "+dirty" when the tree is
#   binaries  go build -trimpath, stripped (lintian: unstripped-binary)
#   man pages help2man over each program's -h
#   Depends   dpkg-shlibdeps over the two binaries, plus adduser
#   copyright deploy/deb/copyright; the build stops if a Go module the
#             binaries embed is not listed in it
set -euo pipefail
cd "$(dirname "$0")/../.."
GO=${GO:-go}
NFPM_VERSION=${NFPM_VERSION:-v2.45.2}
NFPM=${NFPM:-$PWD/.tools/bin/nfpm-$NFPM_VERSION}
stage=out/deb/stage
rm -rf out/deb && mkdir -p "$stage"

desc=$(git describe --tags --match 'v[0-9]*' 2>/dev/null || true)
if [[ $desc =~ ^v([0-9][0-9A-Za-z.~+]*)(-([0-9]+)-g([0-9a-f]+))?$ ]]; then
	version=${BASH_REMATCH[1]}
	[[ -n ${BASH_REMATCH[3]} ]] && version+="+${BASH_REMATCH[3]}.g${BASH_REMATCH[4]}"
else
	version="0.0~git$(git log -1 --format=%cd --date=format:%Y%m%d).$(git rev-parse --short=7 HEAD)"
fi
git diff --quiet HEAD -- 2>/dev/null || version+="+dirty"
export DEB_VERSION=$version

# nfpm from the module proxy, pinned (v2.46+ want a newer Go or a module
# host the proxy may refuse).
if [[ ! -x $NFPM ]]; then
	mkdir -p "$(dirname "$NFPM")/.gobin-nfpm"
	GOBIN=$(dirname "$NFPM")/.gobin-nfpm $GO install "github.com/goreleaser/nfpm/v2/cmd/nfpm@$NFPM_VERSION"
	mv "$(dirname "$NFPM")/.gobin-nfpm/nfpm" "$NFPM"
	rmdir "$(dirname "$NFPM")/.gobin-nfpm"
fi

$GO build -trimpath -buildvcs=false -buildmode=pie -ldflags=-extldflags=-Wl,-z,relro,-z,now -o "$stage/" ./cmd/fastcapa ./cmd/pcapstore
strip --remove-section=.comment --remove-section=.note "$stage/fastcapa" "$stage/pcapstore"

# Every Go module linked in must be named in the copyright file.
missing=$($GO version -m "$stage/fastcapa" "$stage/pcapstore" | awk '$1=="dep"{print $2}' | sort -u |
	while read -r m; do grep -qF "go-modules/$m/*" deploy/deb/copyright || echo "$m"; done)
if [[ -n $missing ]]; then
	echo "deploy/deb/copyright does not list: $missing" >&2
	exit 1
fi

# pcapstore's man page also carries each command's own -h, verbatim.
roff() { sed -e 's/\\/\\e/g' -e "s/^[.']/\\\\\\&&/"; }
for c in sink query index inspect records; do
	echo "[COMMAND: pcapstore $c]"
	echo ".nf"
	"$stage/pcapstore" "$c" -h 2>&1 | roff
	echo ".fi"
done >"$stage/pcapstore.h2m"
for p in fastcapa pcapstore; do
	inc=()
	[[ -f $stage/$p.h2m ]] && inc=(--include="$stage/$p.h2m")
	help2man "${inc[@]}" --no-info --no-discard-stderr --section=1 --version-string="$version" \
		--source=fastcapa-go --manual="fastcapa-go" \
		--name="$( [[ $p == fastcapa ]] && echo "capture packets with DPDK into Kafka" || echo "store, query and inspect the captured packet topic")" \
		"$stage/$p" >"$stage/$p.1"
	gzip -9n "$stage/$p.1"
done

# A native package's changelog: one entry for this build.
{
	echo "fastcapa ($version) unstable; urgency=medium"
	echo
	echo "  * Built from $(git rev-parse HEAD):"
	echo "    $(git log -1 --format=%s | cut -c1-66)"
	echo
	echo " -- fastcapa-go maintainers <fastcapa-go@users.noreply.github.com>  $(git log -1 --format=%cD)"
} >"$stage/changelog"
gzip -9n "$stage/changelog"

mkdir -p out/deb/shlibs/debian
printf 'Source: fastcapa\n\nPackage: fastcapa\nArchitecture: amd64\n' >out/deb/shlibs/debian/control
DEB_DEPENDS=$(cd out/deb/shlibs && dpkg-shlibdeps -O -e "../stage/fastcapa" -e "../stage/pcapstore" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[[ -n $DEB_DEPENDS ]] || { echo "dpkg-shlibdeps found no dependencies" >&2; exit 1; }
export DEB_DEPENDS
deb=out/fastcapa_${version}_amd64.deb
rm -f out/fastcapa_*_amd64.deb
"$NFPM" package --config deploy/deb/nfpm.yaml --packager deb --target "$deb" >/dev/null
echo "$deb"
