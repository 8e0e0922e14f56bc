# Audit ledger (internal/ledger). `make bench-ledger` prints, on FerretDB with local-kms and gofakes3:
# appends/s with 1 and 8 concurrent writers (batches of 1000 and single events, 20,000 per writer),
# then builds a ledger of LEDGER_BENCH_ENTRIES (2,000,000) entries and runs the caro binary on it:
# an incremental verification of the last quarter on top of a recorded full one, a full
# verification against a bare driver scan of the same collection in the same run, each process's
# peak RSS, and the inclusion proof of the entry a 1,000,000-entry tree ends with. The scale part
# takes about half an hour on 2 busy cores. Not part of `make test`. Numbers: docs/benchmarks.md.

LEDGER_BENCH_ENTRIES ?= 2000000
LEDGER_BENCH_REPORT := awk '/\/s/ { for (i = 1; i <= NF; i++) if ($$i ~ /\/s$$/) printf "%-36s %10.0f %s\n", $$1, $$(i-1), $$i }'

.PHONY: bench-ledger bench-ledger-appends bench-ledger-scale
bench-ledger: bench-ledger-appends bench-ledger-scale

bench-ledger-appends:
	@echo "== audit ledger appends on FerretDB =="
	go test -run '^$$' -bench 'BenchmarkAppend' -benchtime 20000x -timeout 60m -count 1 ./internal/ledger/ | $(LEDGER_BENCH_REPORT)

bench-ledger-scale:
	@echo "== audit ledger of $(LEDGER_BENCH_ENTRIES) entries on FerretDB: verification, memory, proofs =="
	go test -run '^$$' -bench 'BenchmarkLedgerScale' -benchtime 1x -timeout 180m -count 1 ./internal/ledger/ -args -ledger.entries=$(LEDGER_BENCH_ENTRIES) | grep '^ledger-bench:'
