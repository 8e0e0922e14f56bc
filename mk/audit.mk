# Dependency audits. Both fail on any finding; the pipeline runs them on every push and weekly.
#   make audit-go    govulncheck (pinned, built from source) on ./..., offline DB at ../shared/vulndb
#                    when present, else the live one; fails on a reachable vulnerability (exit 3)
#   make audit-npm   npm audit of the locked npm dependencies that run in the pipeline: the pinned
#                    aws-cdk CLI (package-lock.json: it synthesizes and deploys with the deploy role)
#                    and the attack suite (pentest/, run against the deployed stage); needs the
#                    registry's audit service (GitLab CI has it; this machine's proxy refuses it).
#                    ci/ (gitlab-ci-local, a workstation-only tool pinned by the task) is not audited.
.PHONY: audit audit-go audit-npm
audit: audit-go audit-npm

audit-go:
	scripts/govulncheck.sh ./...

audit-npm:
	npm audit --audit-level=low
	cd pentest && npm audit --audit-level=low

TEST_TARGETS += audit-go
