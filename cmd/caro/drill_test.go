package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carohealth/platform/internal/failover"
	"github.com/carohealth/platform/internal/providers/local"
)

// runDrill runs `caro failover drill --records 500 -o json` in-process; the drill itself starts the servers
// and runs plan and apply as subprocesses (this test binary acting as caro).
func runDrill(t *testing.T, extra ...string) local.DrillReport {
	t.Helper()
	code, out, errOut := foRun(t, "", append([]string{"failover", "drill", "--records", "500", "-o", "json", "--maintenance-settle", "200ms"}, extra...)...)
	var rep local.DrillReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("drill exit %d, stdout not JSON (%v):\n%s\nstderr:\n%s", code, err, out, errOut)
	}
	if code != 0 || !rep.OK {
		t.Fatalf("drill exit %d, problems %v\nstderr:\n%s", code, rep.Problems, errOut)
	}
	assertDrillLedger(t, rep)
	return rep
}

// assertDrillLedger checks the audit ledger's part: every entry the primary appended is in the
// standby's ledger, those after the backup included (recovered by the restore step from the
// replica), and the verifier passes on it with the pinned key.
func assertDrillLedger(t *testing.T, rep local.DrillReport) {
	t.Helper()
	l := rep.Ledger
	if l == nil {
		t.Fatal("drill report has no ledger part")
	}
	if !l.OK || !l.VerifyOK || l.FirstBad != "" || l.EntriesAfterBackup == 0 || l.EntriesBeforeBackup == 0 ||
		l.EntriesRestored != l.EntriesExpected || l.EntriesExpected != l.EntriesBeforeBackup+l.EntriesAfterBackup ||
		l.EntriesVerified != uint64(l.EntriesExpected) || l.CheckpointsVerified != l.Checkpoints || l.Checkpoints < 2 || l.UnanchoredEntries != 0 {
		t.Fatalf("audit ledger after the drill: %+v", *l)
	}
}

func TestDrillFailsOverWithEveryRecord(t *testing.T) {
	if testing.Short() {
		t.Skip("starts FerretDB, local-kms and Knot")
	}
	page := filepath.Join(t.TempDir(), "drill-timeline.html")
	rep := runDrill(t, "--timeline", page)
	// THEN the name moved, the standby answers with the restore marker, every record is back
	if rep.DNSBefore != "127.0.1.1" || rep.DNSAfter != "127.0.2.1" {
		t.Errorf("DNS %s -> %s", rep.DNSBefore, rep.DNSAfter)
	}
	if rep.RecordsExpected != 500 || rep.RecordsRestored != 500 || rep.ChecksumRestored != rep.ChecksumExpected || rep.ChecksumExpected == "" {
		t.Errorf("records %d/%d checksum %s/%s", rep.RecordsRestored, rep.RecordsExpected, rep.ChecksumRestored, rep.ChecksumExpected)
	}
	if rep.HealthAfter == nil || rep.HealthAfter.Region != local.DrillStandby || rep.HealthAfter.Restore == nil {
		t.Errorf("health after %+v", rep.HealthAfter)
	}
	// AND the standby's readiness before the disaster is in the report, every check of it
	if r := rep.Readiness; r == nil || !r.Ready || r.To != local.DrillStandby || r.Blockers != 0 || !slices.ContainsFunc(r.Checks, func(c failover.Check) bool {
		return c.Name == "target-region" && c.Status == failover.CheckOK
	}) {
		t.Errorf("readiness before the disaster: %+v", rep.Readiness)
	}
	if rep.UsersRestored != int64(rep.UsersExpected) || rep.UsersExpected == 0 {
		t.Errorf("users %d/%d", rep.UsersRestored, rep.UsersExpected)
	}
	if len(rep.Steps) != len(local.StepNames) || rep.RTOSeconds <= 0 {
		t.Fatalf("steps %+v rto %v", rep.Steps, rep.RTOSeconds)
	}
	for i, s := range rep.Steps {
		if s.Name != local.StepNames[i] || s.Status != "completed" {
			t.Errorf("step %d = %+v", i, s)
		}
	}
	// AND the restore step recovered the entries after the backup before its marker, from the
	// standby's own checkpoint bucket (empty on a first failover) and its replica, as on AWS
	want := fmt.Sprintf("audit ledger: %d entries and 2 checkpoint records recovered from s3://caro-ledger-%s, s3://%s",
		rep.Ledger.EntriesAfterBackup, local.DrillStandby, rep.Ledger.ReplicaBucket)
	if !strings.Contains(rep.Steps[2].Detail, want) {
		t.Errorf("restore step detail %q lacks %q", rep.Steps[2].Detail, want)
	}
	// AND each step sits on the timeline after the plan, in order, within the RTO, and the page
	// written beside the report shows every one of them
	prev := rep.PlanSeconds
	for _, s := range rep.Steps {
		if s.StartSeconds < prev-0.01 || s.EndSeconds < s.StartSeconds || s.EndSeconds > rep.RTOSeconds+0.01 {
			t.Errorf("step %s at %.3f..%.3f s after the plan's end %.3f, RTO %.3f", s.Name, s.StartSeconds, s.EndSeconds, prev, rep.RTOSeconds)
		}
		prev = s.EndSeconds
	}
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range append([]string{"plan"}, local.StepNames...) {
		if !strings.Contains(string(b), ">"+s+"</text>") {
			t.Errorf("the timeline page lacks step %s", s)
		}
	}
}

func TestDrillTimelineLaysOutTheStepsAfterThePlan(t *testing.T) {
	// GIVEN a report whose apply was killed in the restore and resumed (the restore spans both runs)
	r := &local.DrillReport{OK: true, RPOSeconds: 6.5, RTOSeconds: 4.5, PlanSeconds: 0.1, KilledAt: "restore", Applies: 2, RecordsExpected: 10,
		Steps: []local.DrillStep{
			{Name: "preflight", Status: "done-before", StartSeconds: 0.2, EndSeconds: 0.22},
			{Name: "restore", Status: "completed", StartSeconds: 0.3, EndSeconds: 4.2},
			{Name: "dns", Status: "failed", Seconds: 0.1}, // no journal times: follows the restore
		}}
	tl := drillTimeline(r)
	// THEN the plan comes first from the primary's death, each step keeps its times, the RTO and RPO are the report's
	if len(tl.Steps) != 4 || tl.Steps[0].Name != "plan" || tl.Steps[0].End != 100*time.Millisecond {
		t.Fatalf("steps %+v", tl.Steps)
	}
	if tl.Steps[2].Start != 300*time.Millisecond || tl.Steps[2].End != 4200*time.Millisecond {
		t.Errorf("restore %v..%v, want 0.3..4.2 s", tl.Steps[2].Start, tl.Steps[2].End)
	}
	if tl.Steps[3].Start != 4200*time.Millisecond || tl.Steps[3].End != 4300*time.Millisecond {
		t.Errorf("dns without times %v..%v, want right after the restore", tl.Steps[3].Start, tl.Steps[3].End)
	}
	if tl.RTO != 4500*time.Millisecond || tl.RPO != 6500*time.Millisecond || !strings.Contains(strings.Join(tl.Notes, " "), "killed (kill -9) in the middle of restore") {
		t.Errorf("rto %v rpo %v notes %v", tl.RTO, tl.RPO, tl.Notes)
	}
}

func TestDrillTextSummaryReportsTheLedger(t *testing.T) {
	var b strings.Builder
	printDrill(&b, &local.DrillReport{OK: true, Ledger: &local.DrillLedger{OK: true, VerifyOK: true, EntriesBeforeBackup: 6, EntriesAfterBackup: 6,
		EntriesExpected: 12, EntriesRestored: 12, EntriesVerified: 12, Checkpoints: 4, CheckpointsVerified: 4, ReplicaBucket: "caro-ledger-replica-eu-central-1"}})
	if want := "Audit ledger 12/12 entries (6 after the backup, recovered from caro-ledger-replica-eu-central-1), verify OK: 12 entries, 4 checkpoints"; !strings.Contains(b.String(), want) {
		t.Fatalf("summary lacks %q:\n%s", want, b.String())
	}
}

func TestDrillKilledAtEveryStepResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts FerretDB, local-kms and Knot")
	}
	for _, step := range local.StepNames {
		t.Run(step, func(t *testing.T) {
			rep := runDrill(t, "--kill-at", step)
			if !rep.Resumed || rep.Applies != 2 || rep.KilledAt != step {
				t.Fatalf("resumed %v applies %d killed at %q", rep.Resumed, rep.Applies, rep.KilledAt)
			}
			// (runDrill asserted the audit ledger: every entry back and verify passes)
			if rep.RecordsRestored != rep.RecordsExpected || rep.DNSAfter != "127.0.2.1" {
				t.Fatalf("records %d/%d dns %s", rep.RecordsRestored, rep.RecordsExpected, rep.DNSAfter)
			}
		})
	}
}

func TestDrillRejectsUnknownKillStep(t *testing.T) {
	code, _, errOut := foRun(t, "", "failover", "drill", "--records", "10", "--kill-at", "lunch")
	if code == 0 || !strings.Contains(errOut, "not a step") || !strings.Contains(errOut, "restore") {
		t.Fatalf("exit %d %s", code, errOut)
	}
}

// TestDrillKilledMidRestoreWithWritesInFlight kills the apply while the restore still has inserts
// in flight in FerretDB (the server finishes them after the client died): the resumed restore must
// wait for them and still restore every record exactly.
func TestDrillKilledMidRestoreWithWritesInFlight(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 30,000 records")
	}
	code, out, errOut := foRun(t, "", "failover", "drill", "--records", "30000", "--kill-at", "restore", "-o", "json", "--maintenance-settle", "200ms")
	var rep local.DrillReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || !rep.OK {
		t.Fatalf("exit %d %v problems %v\n%s", code, err, rep.Problems, errOut)
	}
	assertDrillLedger(t, rep)
	if rep.RecordsRestored != 30000 || rep.ChecksumRestored != rep.ChecksumExpected || !rep.Resumed {
		t.Fatalf("records %d checksum %s/%s resumed %v", rep.RecordsRestored, rep.ChecksumRestored, rep.ChecksumExpected, rep.Resumed)
	}
}
