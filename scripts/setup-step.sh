#!/usr/bin/env bash
# setup-step.sh prints one line for a set-up step of `make demo`: "already there" when CHECK
# succeeds, else it runs INSTALL with its output in .cache/logs/setup-<name>.log and prints
# "installed" (or "built"), or names the log and shows its end when INSTALL fails.
#
#   scripts/setup-step.sh NAME DESCRIPTION CHECK INSTALL [VERB]
#     NAME         short name, for the log file
#     CHECK        shell command, exit 0 when nothing needs installing ("" always installs)
#     INSTALL      shell command that installs
#     VERB         what to print after a successful INSTALL (default "installed")
set -uo pipefail

[[ $# -ge 4 ]] || { echo "usage: scripts/setup-step.sh NAME DESCRIPTION CHECK INSTALL [VERB]" >&2; exit 2; }
name="$1" desc="$2" check="$3" install="$4" verb="${5:-installed}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log="${CARO_CACHE:-$ROOT/.cache}/logs/setup-$name.log"

line() { printf 'set-up  %-58s %s\n' "$desc" "$1"; }

if [[ -n "$check" ]] && bash -c "$check" >/dev/null 2>&1; then
	line "already there"
	exit 0
fi
if "$ROOT/scripts/quiet.sh" "$log" bash -c "$install"; then
	line "$verb"
else
	rc=$?
	line "FAILED: see $log"
	exit $rc
fi
