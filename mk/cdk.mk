# The CDK side: the pinned CLI, synth with cdk-nag, the demo summary and the synth benchmark.
CDK := node_modules/.bin/cdk
CDK_OUT := cdk.out

node_modules/.bin/cdk: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts
	@touch $@

.PHONY: synth synth-summary bench-synth
# synth: all three stacks, offline, without credentials; --strict turns cdk-nag warnings into failures.
synth: $(CDK)
	$(CDK) synth --all --strict --quiet --output $(CDK_OUT) --no-version-reporting --no-notices >/dev/null
	@node scripts/synth-summary.mjs $(CDK_OUT)

synth-summary:
	@node scripts/synth-summary.mjs $(CDK_OUT)

TEST_TARGETS += synth
DEMO_TARGETS += synth

# bench-synth: warm synth time and peak memory of the whole app beside a one-stack app.
bench-synth:
	go run ./scripts/benchsynth
