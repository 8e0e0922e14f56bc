# Region failover (caro failover plan/apply/status, internal/failover, internal/providers/*).
#   make drill-demo    the local failover drill with the default 50,000 records, twice: once straight
#                      through, its report as JSON in $(DRILL_REPORT) (the evidence of `caro evidence`)
#                      and its timeline beside it (HTML: every step, the RTO and the RPO),
#                      once with the apply killed (kill -9) in the middle of the restore and resumed,
#                      printing the report (RTO, RPO, records, checksums, DNS before/after, the audit
#                      ledger recovered by the restore step and verified in the standby).
#   make bench-drill   the drill at 50,000 and 1,000,000 records (BENCH_DRILL_RECORDS), pre-staged and
#                      cold: RTO, restore records/s (linear in N), engine overhead (<= 2 % of the
#                      apply), peak memory of caro's processes and of the servers. Not part of
#                      `make test`.
# The drill test (go test ./cmd/caro, 500 records) is part of `make test` through `go test ./...`.
DRILL_RECORDS ?= 50000
DRILL_REPORT ?= $(CARO_CACHE)/evidence/drill.json
# The picture of each drill's failover (every step, the RTO and the RPO), beside the report.
DRILL_TIMELINE ?= $(CARO_CACHE)/evidence/drill-timeline.html
DRILL_KILL_TIMELINE ?= $(CARO_CACHE)/evidence/drill-kill-at-restore-timeline.html
# The drills' progress (stderr) goes to these logs; the demo prints the results.
DRILL_LOG ?= $(CARO_CACHE)/logs/drill.log
DRILL_KILL_LOG ?= $(CARO_CACHE)/logs/drill-kill-at-restore.log

.PHONY: drill-demo bench-drill
drill-demo: caro-bin servers
	@mkdir -p $(dir $(DRILL_REPORT))
	@echo "drill: a failover of $(DRILL_RECORDS) records between two local regions (progress: $(DRILL_LOG))"
	@scripts/quiet.sh --stderr-only $(DRILL_LOG) $(CARO_BIN) failover drill --records $(DRILL_RECORDS) -o json --timeline $(DRILL_TIMELINE) > $(DRILL_REPORT)
	@echo "drill report (JSON): $(DRILL_REPORT)"
	@echo "drill timeline (open in a browser): $(DRILL_TIMELINE)"
	@echo "drill: again, the apply killed (kill -9) in the middle of the restore and resumed (progress: $(DRILL_KILL_LOG))"
	@scripts/quiet.sh --stderr-only $(DRILL_KILL_LOG) $(CARO_BIN) failover drill --records $(DRILL_RECORDS) --kill-at restore --timeline $(DRILL_KILL_TIMELINE)
	@echo "drill timeline (open in a browser): $(DRILL_KILL_TIMELINE)"

# bench-drill runs the drill at each of BENCH_DRILL_RECORDS, with the standby's pre-stage (the
# staged path) and without it (--cold); see scripts/benchdrill.
BENCH_DRILL_RECORDS ?= 50000,1000000
bench-drill: caro-bin servers
	go run ./scripts/benchdrill -caro $(CARO_BIN) -records $(BENCH_DRILL_RECORDS)

DEMO_TARGETS += drill-demo
