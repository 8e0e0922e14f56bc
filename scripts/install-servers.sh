#!/usr/bin/env bash
# install-servers.sh builds or installs the local servers the tests run against, pinned, into the
# git-ignored cache (.cache/ at the repo root, or $CARO_CACHE):
#
#   ferretdb    FerretDB v1.24.0 (MongoDB wire protocol on SQLite)   -> .cache/bin/ferretdb
#   localkms    nsmithuk/local-kms (AWS KMS API)                    -> .cache/bin/local-kms
#   mongotools  mongodump + mongorestore 100.10.0                   -> .cache/bin/mongodump, mongorestore
#   knot        Knot DNS from the Debian package "knot"             -> /usr/sbin/knotd (apt-get)
#   all         all of the above (default)
#   check       install nothing: exit 0 when every server above is there at its pin, 1 otherwise
#
# Go servers are built from their modules fetched through the Go module proxy (`go mod download`),
# copied into a writable folder under .cache/src and built there as separate modules (they never
# touch our go.mod). Each binary has a stamp file .cache/bin/.<name>.stamp holding the pin it was
# built from: a second run with the same pin does nothing, a changed pin rebuilds. A lock per server
# makes concurrent runs (parallel test packages) wait for one another instead of racing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${CARO_CACHE:-$ROOT/.cache}"
BIN="$CACHE/bin"
SRC="$CACHE/src"

# Pins. Changing any of these (or the patch/build recipe revision) rebuilds on the next run.
FERRETDB_MOD="github.com/FerretDB/FerretDB"
FERRETDB_VER="v1.24.0"
LOCALKMS_MOD="github.com/nsmithuk/local-kms"
LOCALKMS_VER="v0.0.0-20231025161602-e4d9425700fe"
MONGOTOOLS_MOD="github.com/mongodb/mongo-tools"
MONGOTOOLS_VER="v0.0.0-20240724183527-6d4f001be3fc" # mongo-tools 100.10.0
MONGOTOOLS_RELEASE="100.10.0"
# Bump a server's recipe when its build steps below change in a way that needs a rebuild.
FERRETDB_RECIPE="2"
LOCALKMS_RECIPE="2"
MONGOTOOLS_RECIPE="2"
# What each stamp file holds: the pin a binary was built from.
FERRETDB_PIN="$FERRETDB_MOD@$FERRETDB_VER recipe=$FERRETDB_RECIPE"
LOCALKMS_PIN="$LOCALKMS_MOD@$LOCALKMS_VER recipe=$LOCALKMS_RECIPE loopback"
MONGOTOOLS_PIN="$MONGOTOOLS_MOD@$MONGOTOOLS_VER ($MONGOTOOLS_RELEASE) recipe=$MONGOTOOLS_RECIPE"

log() { echo "install-servers: $*" >&2; }
die() { echo "install-servers: $*" >&2; exit 1; }

mkdir -p "$BIN" "$SRC"

# Our Makefile exports GOFLAGS (-buildvcs=false); the vendored modules are built with -mod=mod as
# standalone modules, outside any workspace.
export GOWORK=off
export GOFLAGS="-buildvcs=false -mod=mod"
export CGO_ENABLED=0
export GONOSUMDB="${GONOSUMDB:+$GONOSUMDB,}$MONGOTOOLS_MOD"

# stamp_ok NAME PIN: true when every binary listed after PIN exists and the stamp matches PIN.
stamp_ok() {
	local name="$1" pin="$2"; shift 2
	local b
	for b in "$@"; do [[ -x "$BIN/$b" ]] || return 1; done
	[[ -f "$BIN/.$name.stamp" && "$(cat "$BIN/.$name.stamp")" == "$pin" ]]
}

# with_lock NAME CMD...: runs CMD holding an exclusive lock for NAME.
with_lock() {
	local name="$1"; shift
	exec {lockfd}>"$CACHE/.install-$name.lock"
	flock "$lockfd"
	"$@"
	local rc=$?
	flock -u "$lockfd"
	exec {lockfd}>&-
	return $rc
}

# module_copy MOD VER: downloads MOD@VER through the proxy and prints the path of a fresh writable copy.
module_copy() {
	local mod="$1" ver="$2" dir dest
	dir="$(cd / && go mod download -json "$mod@$ver" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
	[[ -n "$dir" && -d "$dir" ]] || die "go mod download $mod@$ver gave no module folder: check the Go proxy (GOPROXY=$(go env GOPROXY))"
	dest="$SRC/$(basename "$mod")-$ver"
	rm -rf "$dest"
	cp -r "$dir" "$dest"
	chmod -R u+w "$dest"
	echo "$dest"
}

build_ferretdb() {
	local pin="$FERRETDB_PIN"
	stamp_ok ferretdb "$pin" ferretdb && return 0
	log "building FerretDB $FERRETDB_VER (SQLite backend, first time only, ~1-3 min)"
	local dir; dir="$(module_copy "$FERRETDB_MOD" "$FERRETDB_VER")"
	# The module zip lacks the generated version files; without version.txt the binary panics.
	printf '%s' "$FERRETDB_VER" >"$dir/build/version/version.txt"
	printf '%s' "local" >"$dir/build/version/package.txt"
	# ferretdb_no_postgresql: we only use the SQLite backend (pure Go, modernc.org/sqlite).
	(cd "$dir" && go build -trimpath -tags ferretdb_no_postgresql -o "$BIN/ferretdb.tmp" ./cmd/ferretdb)
	mv -f "$BIN/ferretdb.tmp" "$BIN/ferretdb"
	echo "$pin" >"$BIN/.ferretdb.stamp"
	log "FerretDB $FERRETDB_VER -> $BIN/ferretdb"
}

build_localkms() {
	local pin="$LOCALKMS_PIN"
	stamp_ok localkms "$pin" local-kms && return 0
	log "building local-kms $LOCALKMS_VER"
	local dir; dir="$(module_copy "$LOCALKMS_MOD" "$LOCALKMS_VER")"
	# Upstream listens on all interfaces (":"+PORT). Tests must only be reachable from this machine,
	# so bind to loopback; fail loudly if upstream changed and the patch no longer applies.
	sed -i 's|http.ListenAndServe(":"+port, nil)|http.ListenAndServe("127.0.0.1:"+port, nil)|' "$dir/src/server.go"
	grep -q 'ListenAndServe("127.0.0.1:"+port' "$dir/src/server.go" ||
		die "could not patch local-kms to listen on 127.0.0.1: src/server.go changed upstream; update build_localkms"
	(cd "$dir" && go build -trimpath -ldflags "-X main.Version=$LOCALKMS_VER" -o "$BIN/local-kms.tmp" .)
	mv -f "$BIN/local-kms.tmp" "$BIN/local-kms"
	echo "$pin" >"$BIN/.localkms.stamp"
	log "local-kms $LOCALKMS_VER -> $BIN/local-kms"
}

build_mongotools() {
	local pin="$MONGOTOOLS_PIN"
	stamp_ok mongotools "$pin" mongodump mongorestore && return 0
	log "building mongo-tools $MONGOTOOLS_RELEASE (mongodump, mongorestore)"
	local dir; dir="$(module_copy "$MONGOTOOLS_MOD" "$MONGOTOOLS_VER")"
	# No build tags: no sasl/gssapi (both need cgo + system libs); TLS is always built in.
	local ld="-X main.VersionStr=$MONGOTOOLS_RELEASE -X main.GitCommit=${MONGOTOOLS_VER##*-}"
	local t
	for t in mongodump mongorestore; do
		(cd "$dir" && go build -trimpath -ldflags "$ld" -o "$BIN/$t.tmp" "./$t/main")
		mv -f "$BIN/$t.tmp" "$BIN/$t"
	done
	echo "$pin" >"$BIN/.mongotools.stamp"
	log "mongo-tools $MONGOTOOLS_RELEASE -> $BIN/mongodump, $BIN/mongorestore"
}

install_knot() {
	if command -v knotd >/dev/null 2>&1 || [[ -x /usr/sbin/knotd ]]; then
		return 0
	fi
	[[ "$(id -u)" == 0 ]] || die "knotd is missing and we are not root: run 'sudo apt-get install -y knot'"
	log "installing Knot DNS (Debian package knot)"
	# Keep the distro service from starting (it would grab port 53 with its own config): we run
	# knotd ourselves with a generated config. policy-rc.d exit 101 = "action forbidden".
	local policy=/usr/sbin/policy-rc.d own_policy=0
	if [[ ! -e "$policy" ]]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod +x "$policy"
		own_policy=1
	fi
	local rc=0
	{ DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends knot >&2; } || rc=$?
	[[ $own_policy == 1 ]] && rm -f "$policy"
	[[ $rc == 0 ]] || die "apt-get install knot failed (exit $rc): check apt sources / network"
	log "Knot DNS $(/usr/sbin/knotd --version 2>&1 | head -1)"
}

run() {
	case "$1" in
	ferretdb) with_lock ferretdb build_ferretdb ;;
	localkms) with_lock localkms build_localkms ;;
	mongotools) with_lock mongotools build_mongotools ;;
	knot) with_lock knot install_knot ;;
	*) die "unknown server '$1': use ferretdb, localkms, mongotools, knot or all" ;;
	esac
}

# check: every binary built from its current pin, and knotd present (make demo's set-up line).
check() {
	stamp_ok ferretdb "$FERRETDB_PIN" ferretdb &&
		stamp_ok localkms "$LOCALKMS_PIN" local-kms &&
		stamp_ok mongotools "$MONGOTOOLS_PIN" mongodump mongorestore &&
		{ command -v knotd >/dev/null 2>&1 || [[ -x /usr/sbin/knotd ]]; }
}

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(all)
if [[ "${targets[0]}" == check ]]; then
	check
	exit
fi
for t in "${targets[@]}"; do
	if [[ "$t" == all ]]; then
		for s in ferretdb localkms mongotools knot; do run "$s"; done
	else
		run "$t"
	fi
done
