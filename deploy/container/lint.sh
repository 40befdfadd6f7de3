#!/usr/bin/env bash
# make image-lint: lint ./Dockerfile with two pinned npm linters (hadolint,
# a Haskell binary from GitHub, is not reachable from here):
#  - dockerfile-utils 0.16.3 (the engine of the VS Code Docker extension's
#    diagnostics: instruction syntax, duplicate CMD/ENTRYPOINT, bad ports,
#    deprecated MAINTAINER ...); it exits 0 on warnings, so any output fails.
#  - dockerfilelint 1.8.0 (Replicated's best-practice rules: apt-get update
#    without install and list cleanup, sudo, ADD vs COPY ...); its
#    missing_tag rule is off (deploy/container/.dockerfilelintrc): it reads
#    `FROM ${BASE}` and `FROM <stage name>` as untagged images, and BASE's
#    default is tagged (localhost/debian:bookworm).
# Installed once into .tools/npm (about 4 s, 6 MB). make image then checks
# the Dockerfile for real (buildah bud).
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v npm >/dev/null || { echo "image-lint: npm is not installed (apt-get install npm)"; exit 1; }
NPM_DIR=.tools/npm
PKGS="dockerfile-utils@0.16.3 dockerfilelint@1.8.0"
stamp="$NPM_DIR/.installed-$(echo "$PKGS" | tr ' @' '_-')"
if [ ! -e "$stamp" ]; then
	mkdir -p "$NPM_DIR"
	npm install --silent --no-audit --no-fund --prefix "$NPM_DIR" $PKGS
	touch "$stamp"
fi
status=0
out=$("$NPM_DIR/node_modules/.bin/dockerfile-utils" lint Dockerfile 2>&1) || status=1
if [ -n "$out" ]; then echo "$out"; status=1; fi
"$NPM_DIR/node_modules/.bin/dockerfilelint" -c deploy/container Dockerfile || status=1
[ $status = 0 ] && echo "image-lint: Dockerfile clean (dockerfile-utils 0.16.3, dockerfilelint 1.8.0)"
exit $status
