#!/usr/bin/env bash
# quiet.sh runs a command with its output in a log file instead of the terminal, so `make demo` and
# `make synth` show results, not installers' and compilers' chatter. On failure it names the log and
# prints its last lines; the exit status is the command's.
#
#   scripts/quiet.sh LOG CMD...                 stdout and stderr to LOG
#   scripts/quiet.sh --stderr-only LOG CMD...   stderr to LOG, stdout (the command's result) as usual
set -uo pipefail

stderr_only=0
if [[ "${1:-}" == --stderr-only ]]; then
	stderr_only=1
	shift
fi
[[ $# -ge 2 ]] || { echo "usage: scripts/quiet.sh [--stderr-only] LOG CMD..." >&2; exit 2; }
log="$1"
shift
mkdir -p "$(dirname "$log")"
if [[ $stderr_only == 1 ]]; then
	"$@" 2>"$log"
else
	"$@" >"$log" 2>&1
fi
rc=$?
if [[ $rc -ne 0 ]]; then
	{
		echo "FAILED (exit $rc): $*"
		echo "--- last lines of $log:"
		tail -n 40 "$log"
		echo "--- the whole log: $log"
	} >&2
fi
exit $rc
