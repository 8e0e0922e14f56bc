# The two commands of the README: `make demo` and `make test`. Everything else is set-up they call.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export GOFLAGS := -buildvcs=false
export CARO_CACHE := $(CURDIR)/.cache
# atlas-sdk and mongo-tools are not in the public checksum database; go.sum pins them instead.
export GONOSUMDB := go.mongodb.org/atlas-sdk,github.com/mongodb/mongo-tools

# Extra steps of `make test` beyond go vet / go test; each mk/*.mk file appends its own.
TEST_TARGETS :=
# Extra steps of `make demo`.
DEMO_TARGETS :=
# What must be installed before the Go tests run (local servers, node packages).
GOTEST_DEPS :=

.DEFAULT_GOAL := test
include $(sort $(wildcard mk/*.mk))

# Prerequisites are expanded when a rule is read, so the rules that use the variables the mk files
# append to are declared after the includes.

.PHONY: test demo vet gotest
test: vet gotest $(TEST_TARGETS)
	@echo "make test: all checks passed"

# vet also refuses unformatted Go files, as the pipeline's verify job does.
vet:
	go vet ./...
	@unformatted="$$(gofmt -l $$(git ls-files '*.go'))"; if [ -n "$$unformatted" ]; then echo "gofmt needed (run gofmt -w):" $$unformatted; exit 1; fi

# CDK_VALIDATION=false: CDK's in-process template validation only warns inside tests and tripled their
# time; the templates are checked by make synth (constructs/templatecheck, which fails on errors).
gotest: $(GOTEST_DEPS)
	CDK_VALIDATION=false go test -count=1 -timeout 25m ./...

demo: demo-setup $(DEMO_TARGETS)
