package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carohealth/platform/internal/evidence"
	"github.com/carohealth/platform/internal/ledger"
)

func runEvidence(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = Execute(append([]string{"evidence", "assess"}, args...), strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestEvidenceValidatesItsFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-o", "yaml"}, `invalid --output "yaml"`},
		{[]string{"--drill-rto-target", "0s"}, "invalid --drill-rto-target 0s"},
		{[]string{"--dir", ""}, "empty --dir"},
		{[]string{"--mongodb-uri", "mongodb://127.0.0.1:1", "--database", ""}, "empty --database"},
		{[]string{"extra"}, "unknown command"},
	} {
		if code, _, errOut := runEvidence(tc.args...); code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d %q, want %q", tc.args, code, errOut, tc.want)
		}
	}
}

func TestEvidenceWithoutInputsFailsControlsAndSaysNoLedger(t *testing.T) {
	// GIVEN an empty evidence folder (nothing ran)
	dir := t.TempDir()
	code, out, errOut := runEvidence("--dir", dir, "--cdk-out", filepath.Join(dir, "cdk.out"), "-o", "json")
	// THEN the command exits 2 (controls failed), writes the report and says it is not recorded
	if code != exitControlsFailed {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	var s evidence.Summary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	if s.OK || s.Ledger.Recorded || !strings.Contains(s.Ledger.Reason, "--mongodb-uri not given") || len(s.Failed) == 0 {
		t.Fatalf("summary %+v", s)
	}
	for _, f := range s.Frameworks {
		if f.Satisfied != 0 {
			t.Errorf("%s: %d satisfied with no evidence at all", f.ID, f.Satisfied)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "report", evidence.ReportFile)); err != nil {
		t.Fatal(err)
	}
	// AND the text summary names the report and the failed controls
	_, text, _ := runEvidence("--dir", dir, "--cdk-out", filepath.Join(dir, "cdk.out"))
	for _, want := range []string{"Report: " + filepath.Join(dir, "report", evidence.ReportFile), "FRAMEWORK", "Failed:", "iso27001 A.8.8 Management of technical vulnerabilities: govulncheck missing"} {
		if !strings.Contains(text, want) {
			t.Errorf("text summary lacks %q:\n%s", want, text)
		}
	}
}

func TestEvidenceEventInTheLedgerProvesTheReport(t *testing.T) {
	// GIVEN an audit ledger of 4 entries on the local servers, checkpointed every 5
	env, _ := auditEnv(t, 4, 5)
	saved := operatorIdentity
	operatorIdentity = func(context.Context, string) string { return "os-user:00112233aabbccdd" }
	t.Cleanup(func() { operatorIdentity = saved })
	dir := t.TempDir()

	// WHEN caro evidence runs with the ledger
	code, out, errOut := runEvidence("--dir", dir, "--cdk-out", filepath.Join(dir, "cdk.out"), "-o", "json",
		"--mongodb-uri", env.Servers.FerretDB.URI(), "--database", env.DB.Name())
	if code != exitControlsFailed {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	var s evidence.Summary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	if !s.Ledger.Recorded || s.Ledger.Seq != 4 {
		t.Fatalf("ledger %+v", s.Ledger)
	}
	// AND the next checkpoint anchors the event (a fresh store: env.Store's cached head predates it)
	fresh := ledger.NewMongoStore(env.DB)
	cpr := &ledger.Checkpointer{Entries: fresh, Records: fresh, Bucket: env.Bucket, Signer: env.Signer, Interval: 5, MaxAge: 1 << 62}
	if _, err := cpr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}

	// THEN caro audit prove shows the event, whose afterHash is the report file's SHA-256
	code, proofJSON, errOut := runAudit("", "prove", s.Ledger.EventID)
	if code != 0 {
		t.Fatalf("prove: exit %d %s", code, errOut)
	}
	var p ledger.InclusionProof
	if err := json.Unmarshal([]byte(proofJSON), &p); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(s.Report)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(page)
	ev := p.Entry.Event
	if ev.AfterHash != hex.EncodeToString(sum[:]) || ev.AfterHash != s.ReportSHA || ev.Interface != "cli" ||
		ev.Actor != "os-user:00112233aabbccdd" || ev.Action != evidence.EventAction {
		t.Fatalf("event %+v, report SHA-256 %x", ev, sum)
	}
	// AND the report names its event
	if !bytes.Contains(page, []byte("caro audit prove "+s.Ledger.EventID)) {
		t.Fatal("the report does not name its evidence event")
	}
}
