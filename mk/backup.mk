# Encrypted logical backups (internal/backup, caro backup ...).
#   make bench-restore   50,000 records of ~1 KB restored into FerretDB by `caro backup restore`
#                        (decrypt + verify + staged switch) vs mongorestore 100.10.0 --noIndexRestore,
#                        one run each (BENCH_ROUNDS=3: best of 3 alternating runs), printed as a
#                        records/s ratio. Not part of `make test`.
BENCH_ROUNDS ?= 1
.PHONY: bench-restore
bench-restore: caro-bin
	scripts/install-servers.sh ferretdb localkms mongotools
	CARO_BENCH_RESTORE=1 BENCH_ROUNDS=$(BENCH_ROUNDS) CARO_BIN=$(CARO_BIN) go test -v -count=1 -timeout 20m -run '^TestBenchRestore$$' ./internal/backup
