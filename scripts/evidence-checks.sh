#!/usr/bin/env bash
# evidence-checks.sh runs the checks whose files `caro evidence` reads, then `caro evidence assess` itself
# (the pipeline's evidence jobs, .gitlab-ci.yml; docs/evidence.md). A failed check does not stop the
# others: its report, or its absence, is the evidence, and `caro evidence` fails the controls it
# supports. The exit status is caro evidence's: 0 no control failed, 2 a control failed, 1 it could
# not run.
#
#   scripts/evidence-checks.sh
#
# A check whose file is already there (an artifact of an earlier job of the same pipeline: synth's
# cdk.out, the govulncheck job's JSON, the stage's attack suite results) is not run again.
# Environment (the job's CI variables):
#   EVIDENCE_DIR                  evidence folder (default .cache/evidence), the job's artifact
#   APP_URL, API_URL              the attack suite runs against this stage (else the local runner)
#   BACKUP_VERIFY_TARGET          scratch server for caro backup verify, with the backup settings it
#                                 reads (CARO_BACKUP_BUCKET, CARO_REGION); unset: not run, so the
#                                 backup controls fail as missing
#   CARO_MONGODB_URI              the ledger's database for caro audit verify, with the ledger
#                                 settings it reads (CARO_LEDGER_BUCKET, CARO_LEDGER_SIGNING_KEY_ARN,
#                                 CARO_REGION); unset: likewise
#   EVIDENCE_LEDGER_MONGODB_URI   the audit ledger that records the report's hash (unset: the report
#                                 says it is not recorded)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${CARO_CACHE:-$ROOT/.cache}"
DIR="${EVIDENCE_DIR:-$CACHE/evidence}"
CARO="$CACHE/bin/caro"
log() { echo "evidence-checks: $*" >&2; }

# step runs one check and logs a failure without stopping.
step() {
	local name="$1"
	shift
	log "$name"
	"$@"
	local rc=$?
	if [[ $rc -ne 0 ]]; then log "$name failed (exit $rc): caro evidence reports what that means for the controls"; fi
	return 0
}

cd "$ROOT"
mkdir -p "$DIR"
make caro-bin || exit 1

if [[ ! -f cdk.out/manifest.json ]]; then
	step "synth with cdk-nag" make synth
fi
if [[ ! -f "$DIR/govulncheck.json" ]]; then
	step "govulncheck" env GOVULNCHECK_JSON="$DIR/govulncheck.json" make audit-go
fi
if [[ ! -f "$DIR/pentest-results.json" ]]; then
	if [[ -n "${APP_URL:-}" ]]; then
		step "the attack suite against $APP_URL" bash -c 'make pentest-deps pentest-browser && PENTEST_RESULTS="$0" scripts/pentest-remote.sh' "$DIR/pentest-results.json"
	else
		step "the attack suite against the local runner" env PENTEST_RESULTS="$DIR/pentest-results.json" make pentest
	fi
fi
step "the failover drill" bash -c '"$0" failover drill -o json > "$1"' "$CARO" "$DIR/drill.json"
if [[ -n "${BACKUP_VERIFY_TARGET:-}" ]]; then
	# The newest readable backup, restored into a scratch database and checked end to end.
	step "backup verification" bash -c '
		id="$("$0" backup list -o json | node -e "let s=\"\";process.stdin.on(\"data\",d=>s+=d).on(\"end\",()=>{const l=JSON.parse(s).filter(b=>!b.problem);l.sort((a,b)=>a.age-b.age);if(!l.length){console.error(\"no readable backup\");process.exit(1)}console.log(l[0].backupId)})")" &&
		"$0" backup verify "$id" --mongodb-uri "$BACKUP_VERIFY_TARGET" -o json > "$1"' "$CARO" "$DIR/backup-verify.json"
else
	log "BACKUP_VERIFY_TARGET is not set: caro backup verify not run (the backup controls fail as missing)"
fi
if [[ -n "${CARO_MONGODB_URI:-}" ]]; then
	step "audit ledger verification" bash -c '"$0" audit verify -o json > "$1"' "$CARO" "$DIR/audit-verify.json"
else
	log "CARO_MONGODB_URI is not set: caro audit verify not run (the ledger controls fail as missing)"
fi

ledger=()
if [[ -n "${EVIDENCE_LEDGER_MONGODB_URI:-}" ]]; then
	ledger=(--mongodb-uri "$EVIDENCE_LEDGER_MONGODB_URI")
fi
"$CARO" evidence assess --dir "$DIR" --cdk-out cdk.out "${ledger[@]}"
