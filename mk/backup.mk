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

#   make bench-backup    `caro backup create` (zstd, SHA-256, AES-GCM, upload) vs `mongodump --archive
#                        --gzip` 100.10.0 on the same FerretDB in the same run, at BENCH_RECORDS records
#                        (default 1,000,000) of ~1 KB and at a tenth of that: records/s and peak RSS of
#                        each (goals: >= 1.0x mongodump's rate, <= 150 MB, not growing with N). Not part
#                        of `make test`.
BENCH_RECORDS ?= 1000000
.PHONY: bench-backup
bench-backup: caro-bin
	scripts/install-servers.sh ferretdb localkms mongotools
	CARO_BENCH_BACKUP=1 BENCH_RECORDS=$(BENCH_RECORDS) BENCH_ROUNDS=$(BENCH_ROUNDS) CARO_BIN=$(CARO_BIN) go test -v -count=1 -timeout 60m -run '^TestBenchBackup$$' ./internal/backup
