package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/carohealth/platform/internal/providers/local"
)

// runDrill runs `caro drill --records 500 -o json` in-process; the drill itself starts the servers
// and runs plan and apply as subprocesses (this test binary acting as caro).
func runDrill(t *testing.T, extra ...string) local.DrillReport {
	t.Helper()
	code, out, errOut := foRun(t, "", append([]string{"drill", "--records", "500", "-o", "json"}, extra...)...)
	var rep local.DrillReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("drill exit %d, stdout not JSON (%v):\n%s\nstderr:\n%s", code, err, out, errOut)
	}
	if code != 0 || !rep.OK {
		t.Fatalf("drill exit %d, problems %v\nstderr:\n%s", code, rep.Problems, errOut)
	}
	return rep
}

func TestDrillFailsOverWithEveryRecord(t *testing.T) {
	if testing.Short() {
		t.Skip("starts FerretDB, local-kms and Knot")
	}
	rep := runDrill(t)
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
			if rep.RecordsRestored != rep.RecordsExpected || rep.DNSAfter != "127.0.2.1" {
				t.Fatalf("records %d/%d dns %s", rep.RecordsRestored, rep.RecordsExpected, rep.DNSAfter)
			}
		})
	}
}

func TestDrillRejectsUnknownKillStep(t *testing.T) {
	code, _, errOut := foRun(t, "", "drill", "--records", "10", "--kill-at", "lunch")
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
	code, out, errOut := foRun(t, "", "drill", "--records", "30000", "--kill-at", "restore", "-o", "json")
	var rep local.DrillReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || !rep.OK {
		t.Fatalf("exit %d %v problems %v\n%s", code, err, rep.Problems, errOut)
	}
	if rep.RecordsRestored != 30000 || rep.ChecksumRestored != rep.ChecksumExpected || !rep.Resumed {
		t.Fatalf("records %d checksum %s/%s resumed %v", rep.RecordsRestored, rep.ChecksumRestored, rep.ChecksumExpected, rep.Resumed)
	}
}
