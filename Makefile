# The two commands of the README: `make demo` and `make test`. Everything else is set-up they call.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export GOFLAGS := -buildvcs=false
export CARO_CACHE := $(CURDIR)/.cache

# Extra steps of `make test` beyond go vet / go test; each mk/*.mk file appends its own.
TEST_TARGETS :=
# Extra steps of `make demo`.
DEMO_TARGETS :=

.PHONY: test demo vet gotest
test: vet gotest $(TEST_TARGETS)
	@echo "make test: all checks passed"

vet:
	go vet ./...

gotest:
	go test -count=1 -timeout 25m ./...

demo: $(DEMO_TARGETS)

include $(sort $(wildcard mk/*.mk))
