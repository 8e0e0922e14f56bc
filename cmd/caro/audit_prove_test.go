package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/carohealth/platform/internal/ledger"
)

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestAuditProveAndCheckProofOffline(t *testing.T) {
	// GIVEN a ledger of 12 entries checkpointed every 5
	env, ids := auditEnv(t, 12, 5)
	dir := t.TempDir()
	pemFile := dir + "/ledger.pem"
	writeFile(t, pemFile, env.PublicKeyPEM())

	// WHEN entry 6 is proved
	code, proofJSON, errOut := runAudit("", "prove", ids[6])
	if code != 0 {
		t.Fatalf("prove: exit %d %s", code, errOut)
	}
	var p ledger.InclusionProof
	if err := json.Unmarshal([]byte(proofJSON), &p); err != nil || p.LeafIndex != 6 || p.TreeSize != 10 || p.Checkpoint.Number != 1 {
		t.Fatalf("proof %+v %v", p, err)
	}
	proofFile := dir + "/proof.json"
	writeFile(t, proofFile, []byte(proofJSON))

	// THEN check-proof accepts it with no database or AWS at all, against the pinned key
	for _, v := range []string{"CARO_MONGODB_URI", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_KMS", "CARO_LEDGER_BUCKET"} {
		t.Setenv(v, "http://127.0.0.1:1")
	}
	code, out, errOut := runAudit("", "check-proof", proofFile, "--public-key", pemFile)
	if code != 0 || !strings.Contains(out, "proof OK: event "+ids[6]+" is entry 6") {
		t.Fatalf("check-proof: exit %d\n%s\n%s", code, out, errOut)
	}
	// AND by fingerprint, from stdin
	code, out, _ = runAudit(proofJSON, "check-proof", "-", "--key-fingerprint", ledger.KeyFingerprint(env.PublicKey), "-o", "json")
	if code != 0 || !strings.Contains(out, `"ok": true`) {
		t.Fatalf("stdin: exit %d %s", code, out)
	}
	// AND without a pin it warns
	if code, _, errOut = runAudit("", "check-proof", proofFile); code != 0 || !strings.Contains(errOut, "no key pinned") {
		t.Fatalf("unpinned: exit %d %s", code, errOut)
	}

	// WHEN the proof's event is altered THEN check-proof exits 2
	p.Entry.Event.Action = "patient:delete"
	bad, _ := json.Marshal(p)
	writeFile(t, dir+"/bad.json", bad)
	if code, out, _ = runAudit("", "check-proof", dir+"/bad.json", "--public-key", pemFile); code != exitAuditFailed || !strings.Contains(out, "proof FAILED") {
		t.Fatalf("altered proof: exit %d %s", code, out)
	}
	// AND a proof in another form than prove writes (a key in another letter case, which
	// encoding/json alone reads as the same proof) does not hold: exit 2
	writeFile(t, dir+"/variant.json", []byte(strings.Replace(proofJSON, `"leafHash"`, `"LeafHash"`, 1)))
	if code, _, errOut = runAudit("", "check-proof", dir+"/variant.json", "--public-key", pemFile); code != exitAuditFailed || !strings.Contains(errOut, `unknown field "LeafHash"`) {
		t.Fatalf("case-variant proof: exit %d %s", code, errOut)
	}
	// AND a wrong pinned fingerprint exits 2
	if code, _, _ = runAudit("", "check-proof", proofFile, "--key-fingerprint", strings.Repeat("0", 64)); code != exitAuditFailed {
		t.Fatalf("wrong fingerprint: exit %d", code)
	}
}

func TestAuditProveUnanchoredAndUnknown(t *testing.T) {
	_, ids := auditEnv(t, 7, 5)
	if code, _, errOut := runAudit("", "prove", ids[6]); code != 1 || !strings.Contains(errOut, "retry after the next checkpoint") {
		t.Fatalf("unanchored: exit %d %s", code, errOut)
	}
	if code, _, errOut := runAudit("", "prove", "no-such-event"); code != 1 || !strings.Contains(errOut, "no ledger entry") {
		t.Fatalf("unknown: exit %d %s", code, errOut)
	}
}
