# Compliance evidence (internal/evidence, `caro evidence`): reads the files the other runs wrote —
# cdk.out (make synth), $(EVIDENCE_DIR)/govulncheck.json (make audit-go), pentest-results.json (make
# pentest), drill.json (the demo's drill), backup-verify.json and audit-verify.json (caro backup
# verify / caro audit verify -o json) — and writes $(EVIDENCE_DIR)/report/report.html and
# assessment-results.json (OSCAL). See docs/evidence.md.
#   make evidence         the report from whatever evidence is there; exit 2 when a control failed
#   make demo             ends with evidence-demo: the report from the demo's own synth and drill
EVIDENCE_DIR ?= $(CARO_CACHE)/evidence
EVIDENCE_FLAGS ?=

.PHONY: evidence evidence-demo
evidence: caro-bin
	$(CARO_BIN) evidence assess --dir $(EVIDENCE_DIR) --cdk-out $(CDK_OUT) $(EVIDENCE_FLAGS)

# The demo produces only the synth and the drill, so the controls that need govulncheck, the attack
# suite and the backup and ledger verifications are reported failed as missing (exit 2): the demo
# shows that, it does not stop on it. Any other failure (exit 1) stops it.
evidence-demo: caro-bin synth drill-demo
	@rc=0; $(CARO_BIN) evidence assess --dir $(EVIDENCE_DIR) --cdk-out $(CDK_OUT) $(EVIDENCE_FLAGS) || rc=$$?; \
	if [ $$rc -ne 0 ] && [ $$rc -ne 2 ]; then exit $$rc; fi; \
	echo; echo "Evidence report: $(EVIDENCE_DIR)/report/report.html (OSCAL: $(EVIDENCE_DIR)/report/assessment-results.json)"; \
	if [ $$rc -eq 2 ]; then echo "Failed controls above lack the evidence the demo does not produce: make audit-go pentest, then make evidence."; fi

DEMO_TARGETS += evidence-demo
# The report's screenshot test (internal/evidence) renders it in Debian's Chromium.
GOTEST_DEPS += pentest-browser
