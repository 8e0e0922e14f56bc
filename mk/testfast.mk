# The quick loop while you work: the unit tests of internal/... and cmd/caro with -short (no
# browser, no CDK synth, no 50,000-record drill; FerretDB and local-kms still start where a test
# needs them). About 1.5 minutes on an idle 2-core machine with a warm build cache (2.4 minutes at a
# load average of 16); go test's result cache makes a re-run of unchanged packages instant. `make test` stays the full check.
#   make test-fast                               every internal package and cmd/caro
#   make test-fast PKGS=./internal/backup/...    only these
PKGS ?= ./internal/... ./cmd/caro
.PHONY: test-fast
test-fast: servers
	go test -short $(PKGS)
