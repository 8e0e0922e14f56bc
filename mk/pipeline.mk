# The GitLab pipeline (.gitlab-ci.yml) on this machine: gitlab-ci-local 4.60.0 (pinned in ci/),
# shell executor, every job that needs no AWS, on a clean clone of HEAD. See scripts/pipeline-local.sh.
#   make pipeline
#   make pipeline PIPELINE_JOBS="vet synth"
CI_TOOLS_STAMP := ci/node_modules/.npm-ci.stamp

$(CI_TOOLS_STAMP): ci/package.json ci/package-lock.json
	cd ci && npm ci --no-audit --no-fund --loglevel=error
	touch $@

.PHONY: pipeline pipeline-list
pipeline: $(CI_TOOLS_STAMP)
	PIPELINE_JOBS="$(PIPELINE_JOBS)" scripts/pipeline-local.sh

# What gitlab-ci-local sees in .gitlab-ci.yml of the work tree (jobs, stages, when).
pipeline-list: $(CI_TOOLS_STAMP)
	ci/node_modules/.bin/gitlab-ci-local --state-dir .cache/gitlab-ci-local --list-all
