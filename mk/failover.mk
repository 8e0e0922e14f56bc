# Region failover (caro failover plan/apply/status, internal/failover, internal/providers/*).
#   make drill-demo    the local failover drill with the default 50,000 records, twice: once straight
#                      through, once with the apply killed (kill -9) in the middle of the restore and
#                      resumed. Both print the report (RTO, RPO, records, checksums, DNS before/after).
#   make bench-drill   the drill's numbers against the goals (RTO <= 60 s for 50,000 records, engine
#                      overhead <= 2 % of the apply), as JSON lines. Not part of `make test`.
# The drill test (go test ./cmd/caro, 500 records) is part of `make test` through `go test ./...`.
DRILL_RECORDS ?= 50000

.PHONY: drill-demo bench-drill
drill-demo: caro-bin servers
	$(CARO_BIN) drill --records $(DRILL_RECORDS)
	$(CARO_BIN) drill --records $(DRILL_RECORDS) --kill-at restore

bench-drill: caro-bin servers
	@$(CARO_BIN) drill --records $(DRILL_RECORDS) -o json 2>/dev/null | \
		python3 -c 'import json,sys; r=json.load(sys.stdin); print(json.dumps({"records": r["records_expected"], "rto_seconds": round(r["rto_seconds"],2), "rto_goal_seconds": 60, "rto_ok": r["rto_seconds"] <= 60, "engine_overhead_percent": round(r["engine_overhead_percent"],2), "overhead_goal_percent": 2, "overhead_ok": r["engine_overhead_percent"] <= 2, "ok": r["ok"]}))'

DEMO_TARGETS += drill-demo
