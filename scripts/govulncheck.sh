#!/usr/bin/env bash
# govulncheck.sh audits the Go module for known vulnerabilities that the code reaches, and fails
# (exit 3) when it finds one.
#
#   scripts/govulncheck.sh [packages...]     # default ./...
#
# govulncheck is built from golang.org/x/vuln at a pinned version: `go install M@V` can be refused by
# the module proxy, so the module is fetched with `go mod download`, copied out of the read-only
# module cache and built there (into .cache/bin, rebuilt only when the pin changes).
# The database is the offline copy at ../shared/vulndb when that folder exists (machines without
# internet), the live vuln.go.dev otherwise (GitLab CI, laptops); GOVULNDB overrides both.
#
# One scan writes govulncheck's JSON to GOVULNCHECK_JSON (default .cache/evidence/govulncheck.json,
# read by `caro evidence`); the text report and the exit status come from that same JSON
# (-mode convert). The file appears only when the scan completed: a failed scan leaves none, so an
# old report is never taken for a new one.
set -euo pipefail

VULN_MOD="golang.org/x/vuln"
VULN_VER="v1.7.0"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${CARO_CACHE:-$ROOT/.cache}"
BIN="$CACHE/bin/govulncheck"
STAMP="$CACHE/bin/.govulncheck.stamp"
log() { echo "govulncheck: $*" >&2; }

mkdir -p "$CACHE/bin" "$CACHE/src"
if [[ ! -x "$BIN" || "$(cat "$STAMP" 2>/dev/null)" != "$VULN_VER" ]]; then
	log "building $VULN_MOD@$VULN_VER"
	dir="$(cd "$CACHE" && GOWORK=off GOFLAGS=-mod=mod go mod download -json "$VULN_MOD@$VULN_VER" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
	[[ -d "$dir" ]] || { log "go mod download $VULN_MOD@$VULN_VER gave no module folder"; exit 1; }
	src="$CACHE/src/vuln-$VULN_VER"
	rm -rf "$src"
	cp -R "$dir" "$src"
	chmod -R u+w "$src"
	(cd "$src" && GOWORK=off GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0 go build -o "$BIN" ./cmd/govulncheck)
	echo "$VULN_VER" > "$STAMP"
fi

db="${GOVULNDB:-}"
if [[ -z "$db" && -d "$ROOT/../shared/vulndb" ]]; then
	db="file://$(cd "$ROOT/../shared/vulndb" && pwd)"
fi
args=()
if [[ -n "$db" ]]; then
	args+=(-db "$db")
	log "database $db"
else
	log "database https://vuln.go.dev (live)"
fi

cd "$ROOT"
if [[ $# -eq 0 ]]; then set -- ./...; fi
json="${GOVULNCHECK_JSON:-$CACHE/evidence/govulncheck.json}"
mkdir -p "$(dirname "$json")"
rm -f "$json"
tmp="$(mktemp "$json.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
if ! "$BIN" "${args[@]}" -format json "$@" >"$tmp"; then
	log "the scan did not complete (see above); no report written"
	exit 1
fi
chmod 644 "$tmp"
mv "$tmp" "$json"
log "JSON report: $json"
# Text report; exit 3 when the code reaches a known vulnerability.
"$BIN" -mode convert <"$json"
