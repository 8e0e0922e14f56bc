# Audit ledger (internal/ledger). `make bench-ledger` prints appends/s (1 and 4 concurrent writers,
# 1000 appends each) and verified entries/s (5000 entries, 5 checkpoints) on FerretDB with local-kms
# and gofakes3. Not part of `make test` (the ledger's tests run there through `go test ./...`).

LEDGER_BENCH_REPORT := awk '/\/s/ { for (i = 1; i <= NF; i++) if ($$i ~ /\/s$$/) printf "%-36s %10.0f %s\n", $$1, $$(i-1), $$i }'

.PHONY: bench-ledger
bench-ledger:
	@echo "== audit ledger on FerretDB (appends, then verification) =="
	go test -run '^$$' -bench 'BenchmarkAppend' -benchtime 1000x -timeout 30m -count 1 ./internal/ledger/ | $(LEDGER_BENCH_REPORT)
	go test -run '^$$' -bench 'BenchmarkVerify' -benchtime 1x -timeout 30m -count 1 ./internal/ledger/ | $(LEDGER_BENCH_REPORT)
