#!/usr/bin/env bash
# pipeline-local.sh runs the GitLab pipeline's jobs that need no AWS on this machine, with
# gitlab-ci-local (pinned in ci/package-lock.json) and the shell executor, on a fresh clone of the
# committed HEAD (what GitLab would run: uncommitted files of the work tree are not part of it).
#
#   scripts/pipeline-local.sh                 # verify, audit and synth jobs of a push pipeline
#   PIPELINE_JOBS="vet synth" scripts/pipeline-local.sh
#
# npm-audit runs when the npm registry's audit service answers; this machine's proxy refuses it
# (HTTP 405), and then the job is left out with a notice (in GitLab CI it always runs and fails
# closed). Deploy, pentest of deployed stages and the scheduled backup/drill jobs need AWS.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GCL="$ROOT/ci/node_modules/.bin/gitlab-ci-local"
log() { echo "pipeline: $*" >&2; }

[[ -x "$GCL" ]] || { log "gitlab-ci-local is not installed: run make pipeline (npm ci in ci/)"; exit 1; }
if ! command -v rsync >/dev/null 2>&1; then
	log "installing Debian rsync (gitlab-ci-local copies artifacts with it)"
	export DEBIAN_FRONTEND=noninteractive
	apt_log="$(mktemp)"
	if ! { apt-get -o DPkg::Lock::Timeout=600 update -qq && apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends rsync; } >"$apt_log" 2>&1; then
		cat "$apt_log" >&2; log "apt-get install rsync failed"; exit 1
	fi
	rm -f "$apt_log"
fi

jobs="${PIPELINE_JOBS:-}"
if [[ -z "$jobs" ]]; then
	jobs="vet test govulncheck synth"
	if node -e '
		fetch("https://registry.npmjs.org/-/npm/v1/security/advisories/bulk",
			{ method: "POST", headers: { "content-type": "application/json" }, body: "{}", signal: AbortSignal.timeout(10000) })
			.then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1));'; then
		jobs="$jobs npm-audit"
	else
		log "NOTICE: npm-audit left out: the npm registry's audit service is unreachable from here (GitLab CI runs it)"
	fi
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/caro-pipeline.XXXXXX")"
trap 'rm -rf "$work"' EXIT
git -C "$ROOT" clone -q --shared "$ROOT" "$work/repo"
log "commit $(git -C "$work/repo" rev-parse --short HEAD); jobs: $jobs"

# Go's module and build caches are shared with this machine (both are safe for concurrent use);
# everything else is built inside the clone, as on a fresh GitLab runner.
# The clone has no ../shared next to it: point govulncheck at this machine's offline database.
vulndb=()
if [[ -d "$ROOT/../shared/vulndb" ]]; then
	vulndb=(--variable "GOVULNDB=file://$(cd "$ROOT/../shared/vulndb" && pwd)")
fi
start=$(date +%s)
set +e
cd "$work"  # gitlab-ci-local wants a relative --cwd
"$GCL" --cwd repo --force-shell-executor --no-color --timestamps \
	--variable "GOMODCACHE=$(go env GOMODCACHE)" \
	--variable "GOCACHE=$(go env GOCACHE)" \
	--variable "npm_config_cache=${npm_config_cache:-$HOME/.npm}" \
	--variable "CI_COMMIT_BRANCH=main" \
	"${vulndb[@]}" \
	$jobs
rc=$?
set -e
log "gitlab-ci-local finished with exit $rc after $(( $(date +%s) - start ))s"
exit $rc
