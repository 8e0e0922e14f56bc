# Audit ledger (internal/ledger). `make bench-ledger` prints appends/s (1 and 4 concurrent writers)
# and verified entries/s (5000 entries, 5 checkpoints) on FerretDB with local-kms and gofakes3.
# Not part of `make test` (the ledger's tests run there through `go test ./...`).

.PHONY: bench-ledger
bench-ledger:
	go test -run '^$$' -bench 'BenchmarkAppend|BenchmarkVerify' -benchtime 1000x -count 1 ./internal/ledger/ | tee /dev/stderr | \
		awk '/appends\/s|verified-entries\/s/ { for (i = 1; i <= NF; i++) if ($$i ~ /\/s$$/) printf "%-40s %10.0f %s\n", $$1, $$(i-1), $$i }'
