# Dependency audits. Both fail on any finding; the pipeline runs them on every push and weekly.
#   make audit-go    govulncheck (pinned, built from source) on ./..., offline DB at ../shared/vulndb
#                    when present, else the live one; fails on a reachable vulnerability (exit 3)
#   make audit-npm   npm audit of the attack suite's locked dependencies (pentest/, the code that runs
#                    in the pipeline against the deployed stage); needs the registry's audit service
#                    (GitLab CI has it; this machine's proxy refuses it). ci/ (gitlab-ci-local, a
#                    workstation-only tool pinned by the task) is not audited here.
.PHONY: audit audit-go audit-npm
audit: audit-go audit-npm

audit-go:
	scripts/govulncheck.sh ./...

audit-npm:
	cd pentest && npm audit --audit-level=low

TEST_TARGETS += audit-go
