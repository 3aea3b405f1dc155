#!/usr/bin/env bash
# Regenerates gen/ from proto/ offline: buf and the protoc plugins are Go tools pinned in
# buf.tool.mod and go.mod, and google/api/*.proto come from the grpc-gateway v1.16.0 module
# (pinned with its checksum in buf.tool.mod) through the Go module proxy.
# Usage: scripts/generate.sh [--check]   (--check fails if gen/ is stale)
set -euo pipefail
cd "$(dirname "$0")/.."

buf() { go tool -modfile=buf.tool.mod buf "$@"; }

googleapis=$(go mod download -modfile=buf.tool.mod -json github.com/grpc-ecosystem/grpc-gateway |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')/third_party/googleapis
[ -f "$googleapis/google/api/annotations.proto" ] || { echo "googleapis not found in $googleapis" >&2; exit 1; }
mkdir -p .build
ln -sfn "$googleapis" .build/googleapis

buf lint
if [ "${1:-}" = "--check" ]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	cp -r gen "$tmp/before" 2>/dev/null || mkdir -p "$tmp/before"
	rm -rf gen && buf generate
	if ! diff -r "$tmp/before" gen; then
		echo "gen/ is stale: run scripts/generate.sh and commit the result" >&2
		exit 1
	fi
	echo "gen/ is up to date"
else
	rm -rf gen && buf generate
fi
