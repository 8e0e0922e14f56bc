#!/usr/bin/env bash
# ci-aws-oidc.sh turns the GitLab job's OIDC id token into AWS credentials without any stored secret:
# it writes the token to a private file and prints the environment the AWS SDKs (and the CDK CLI)
# read for web-identity federation. The role's trust policy (constructs/roles) accepts only this
# project's protected branches and the configured audience.
#
#   scripts/ci-aws-oidc.sh > .aws-env && source .aws-env
#
# GITLAB_OIDC_TOKEN (from id_tokens:) is required; the role ARN is read from the variable named by
# ROLE_ARN_VARIABLE (default DEPLOY_ROLE_ARN).
set -euo pipefail
log() { echo "ci-aws-oidc: $*" >&2; }

var="${ROLE_ARN_VARIABLE:-DEPLOY_ROLE_ARN}"
role="${!var:-}"
[[ -n "${GITLAB_OIDC_TOKEN:-}" ]] || { log "GITLAB_OIDC_TOKEN is empty: add id_tokens: GITLAB_OIDC_TOKEN: aud: ... to the job"; exit 1; }
[[ "$role" == arn:aws:iam::*:role/* ]] || { log "$var is not a role ARN: set it in Settings > CI/CD > Variables for this environment"; exit 1; }
if [[ "${CI_COMMIT_REF_PROTECTED:-}" != "true" ]]; then
	log "refusing: ref ${CI_COMMIT_REF_NAME:-?} is not protected (the role would refuse it too)"
	exit 1
fi

dir="$(mktemp -d)"
chmod 700 "$dir"
umask 077
printf '%s' "$GITLAB_OIDC_TOKEN" > "$dir/token"
cat <<ENV
export AWS_ROLE_ARN='$role'
export AWS_WEB_IDENTITY_TOKEN_FILE='$dir/token'
export AWS_ROLE_SESSION_NAME='gitlab-${CI_PROJECT_ID:-0}-${CI_PIPELINE_ID:-0}-${CI_JOB_ID:-0}'
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE
ENV
log "credentials: $role via web identity (session gitlab-${CI_PIPELINE_ID:-0}-${CI_JOB_ID:-0})"
