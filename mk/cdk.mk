# The CDK side: the pinned CLI, synth with cdk-nag, the demo summary and the synth benchmark.
CDK := node_modules/.bin/cdk
CDK_OUT := cdk.out

# The aws-cdk package ships Go template files; a go.mod inside node_modules makes it a module of
# its own, so `go vet ./...` and `go test ./...` skip it.
node_modules/.bin/cdk: package.json package-lock.json
	@scripts/quiet.sh $(CARO_CACHE)/logs/npm-ci.log npm ci --no-audit --no-fund --ignore-scripts
	@printf 'module example.invalid/node_modules // keeps npm packages out of ./...\n' > node_modules/go.mod
	@touch $@

# The CDK app validates its templates with the npm-pinned validator (constructs/templatecheck), and
# that package's tests run it.
GOTEST_DEPS += $(CDK)

.PHONY: synth synth-summary bench-synth
# synth: all five stacks (cdk synth takes every stack by default), offline, without credentials; --strict turns cdk-nag warnings into failures.
# nagReports=true adds cdk-nag's CSV reports to cdk.out (audit evidence, the pipeline's artifact).
# VERSION names the release the assembly becomes (the pipeline passes the commit); default "dev".
# CDK's own output (bundling, the validator, annotations with their stack traces) goes to
# $(SYNTH_LOG), named with its last lines when the synth fails; the summary prints one line per
# stack and one per annotation.
SYNTH_LOG := $(CARO_CACHE)/logs/synth.log
synth: $(CDK)
	@scripts/quiet.sh $(SYNTH_LOG) $(CDK) synth --strict --quiet --output $(CDK_OUT) --no-version-reporting --no-notices -c nagReports=true $(if $(VERSION),-c version=$(VERSION))
	@node scripts/synth-summary.mjs $(CDK_OUT)

synth-summary:
	@node scripts/synth-summary.mjs $(CDK_OUT)

TEST_TARGETS += synth
DEMO_TARGETS += synth

# bench-synth: warm synth time and peak memory of the whole app beside a one-stack app.
bench-synth: $(CDK)
	go run ./scripts/benchsynth
