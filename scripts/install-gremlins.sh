#!/usr/bin/env bash
# install-gremlins.sh builds the pinned Go mutation tester (github.com/go-gremlins/gremlins) into the
# git-ignored cache and prints the binary's path:
#
#   scripts/install-gremlins.sh        # -> .cache/bin/gremlins (or $CARO_CACHE/bin/gremlins)
#
# Like scripts/govulncheck.sh: `go install M@V` can be refused by the module proxy, so the module is
# fetched with `go mod download`, copied out of the read-only module cache and built there as its own
# module (it never touches our go.mod). A stamp holds the pin: a second run with the same pin does
# nothing, a changed pin rebuilds; a lock makes concurrent runs wait for one another.
set -euo pipefail

GREMLINS_MOD="github.com/go-gremlins/gremlins"
GREMLINS_VER="v0.5.0"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${CARO_CACHE:-$ROOT/.cache}"
BIN="$CACHE/bin/gremlins"
STAMP="$CACHE/bin/.gremlins.stamp"
log() { echo "install-gremlins: $*" >&2; }

mkdir -p "$CACHE/bin" "$CACHE/src"
exec {lockfd}>"$CACHE/.install-gremlins.lock"
flock "$lockfd"
if [[ ! -x "$BIN" || "$(cat "$STAMP" 2>/dev/null)" != "$GREMLINS_VER" ]]; then
	log "building $GREMLINS_MOD@$GREMLINS_VER"
	dir="$(cd / && GOWORK=off GOFLAGS=-mod=mod go mod download -json "$GREMLINS_MOD@$GREMLINS_VER" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
	[[ -d "$dir" ]] || { log "go mod download $GREMLINS_MOD@$GREMLINS_VER gave no module folder: check the Go proxy (GOPROXY=$(go env GOPROXY))"; exit 1; }
	src="$CACHE/src/gremlins-$GREMLINS_VER"
	rm -rf "$src"
	cp -R "$dir" "$src"
	chmod -R u+w "$src"
	(cd "$src" && GOWORK=off GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0 go build -o "$BIN" ./cmd/gremlins)
	echo "$GREMLINS_VER" > "$STAMP"
fi
echo "$BIN"
