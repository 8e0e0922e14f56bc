package local

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carohealth/platform/internal/failover"
)

// drillWithReadiness is a drill whose caro answers `failover readiness` with report (exiting
// with exit), as the real command prints it with -o json.
func drillWithReadiness(t *testing.T, report failover.ReadinessReport, exit string) *Drill {
	t.Helper()
	out, err := json.Marshal(report)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "readiness.json")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return &Drill{o: DrillOptions{Caro: []string{"sh", "-c", `cat "$0"; exit ` + exit, path}}, log: t.Logf}
}

func TestDrillKeepsTheStandbysReadinessChecks(t *testing.T) {
	// GIVEN a standby that is ready
	checks := []failover.Check{
		{Name: "target-region", Status: failover.CheckOK, Detail: "target eu-central-1: database, KMS key and backup bucket answer"},
		{Name: "backup-age", Status: failover.CheckOK, Detail: "newest backup is 2m old"},
	}
	d := drillWithReadiness(t, failover.ReadinessReport{From: DrillPrimary, To: DrillStandby, Provider: "local", Ready: true, Checks: checks}, "0")
	rep := &DrillReport{}
	// WHEN the drill asks for its readiness before the disaster
	if err := d.readiness(context.Background(), rep); err != nil {
		t.Fatal(err)
	}
	// THEN the report holds every check, and nothing is a problem
	if rep.Readiness == nil || !rep.Readiness.Ready || rep.Readiness.To != DrillStandby || len(rep.Readiness.Checks) != len(checks) {
		t.Fatalf("readiness = %+v", rep.Readiness)
	}
	for i, c := range checks {
		if rep.Readiness.Checks[i] != c {
			t.Errorf("check %d = %+v, want %+v", i, rep.Readiness.Checks[i], c)
		}
	}
	if len(rep.Problems) != 0 {
		t.Errorf("problems %v", rep.Problems)
	}
}

func TestDrillReportsAReadinessBlockerAsAProblem(t *testing.T) {
	// GIVEN a standby whose backup bucket does not answer (readiness exits non-zero)
	blocker := failover.Check{Name: "target-region", Status: failover.CheckBlocker, Detail: "eu-central-1 cannot take over: backup bucket: connection refused"}
	d := drillWithReadiness(t, failover.ReadinessReport{From: DrillPrimary, To: DrillStandby, Provider: "local", Blockers: 1,
		Checks: []failover.Check{blocker, {Name: "source-health", Status: failover.CheckWarning, Detail: "the source is healthy"}}}, "3")
	rep := &DrillReport{}
	// WHEN the drill asks for its readiness
	if err := d.readiness(context.Background(), rep); err != nil {
		t.Fatal(err)
	}
	// THEN the report keeps the checks and names the blocker (and only it) as a problem, so the
	// drill is not OK
	if rep.Readiness == nil || rep.Readiness.Ready || len(rep.Readiness.Checks) != 2 {
		t.Fatalf("readiness = %+v", rep.Readiness)
	}
	if len(rep.Problems) != 1 || rep.Problems[0] != "readiness blocker: "+blocker.String() {
		t.Errorf("problems %q", rep.Problems)
	}
}

func TestDrillSaysWhenReadinessPrintsNoReport(t *testing.T) {
	// GIVEN a caro whose readiness fails before printing its report
	d := &Drill{o: DrillOptions{Caro: []string{"sh", "-c", `echo "Error: no such region" >&2; exit 1`}}, log: t.Logf}
	// WHEN the drill asks for its readiness
	err := d.readiness(context.Background(), &DrillReport{})
	// THEN it fails with caro's own message
	if err == nil || !strings.Contains(err.Error(), "no such region") {
		t.Fatalf("err = %v", err)
	}
}
