#!/usr/bin/env bash
# mutation.sh runs mutation testing (gremlins, pinned in scripts/install-gremlins.sh) over the
# security-critical packages and prints, per package, the mutants killed, lived, equivalent and not
# covered, and the test efficacy (scripts/mutationreport). It fails when a package is under the goal
# (MUTATION_MIN, default 90 %) or an entry of docs/mutation-equivalents.md no longer matches its code.
#
#   scripts/mutation.sh                         # every package of MUTATION_PACKAGES
#   scripts/mutation.sh internal/access         # some of them
#
# MUTATION_WORKERS (default 1) mutants are tested at a time, each with the package's own tests on
# the local servers (FerretDB, local-kms, gofakes3 as the package's TestMain starts them). Results
# and logs go to $CARO_CACHE/mutation/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${CARO_CACHE:-$ROOT/.cache}"
OUT="$CACHE/mutation"
DEFAULT_PACKAGES="internal/access internal/tenancy internal/api internal/headers internal/ledger internal/backup internal/erasure internal/failover internal/providers/aws"
log() { echo "mutation: $*" >&2; }

bin="$("$ROOT/scripts/install-gremlins.sh")"
"$ROOT/scripts/install-servers.sh" >/dev/null
mkdir -p "$OUT"
if [[ $# -eq 0 ]]; then set -- ${MUTATION_PACKAGES:-$DEFAULT_PACKAGES}; fi
cd "$ROOT"
results=()
for pkg in "$@"; do
	pkg="${pkg#./}"
	name="${pkg//\//-}"
	start=$(date +%s)
	log "$pkg ..."
	# Tests run in gremlins' copies of the module: the servers come from the shared cache.
	CARO_CACHE="$CACHE" CDK_VALIDATION=false "$bin" unleash --workers "${MUTATION_WORKERS:-1}" \
		-o "$OUT/$name.json" "./$pkg" >"$OUT/$name.log" 2>&1 ||
		{ log "gremlins failed on $pkg; see $OUT/$name.log"; tail -20 "$OUT/$name.log" >&2; exit 1; }
	log "$pkg done in $(( $(date +%s) - start ))s"
	results+=("$OUT/$name.json")
done
go run ./scripts/mutationreport -equivalents docs/mutation-equivalents.md -min "${MUTATION_MIN:-90}" "${results[@]}"
