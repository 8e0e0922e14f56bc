package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carohealth/platform/internal/failover"
)

// runCaro runs caro in-process with stdin in and returns exit code, stdout and stderr.
func foRun(t *testing.T, in string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Execute(args, strings.NewReader(in), &out, &errOut)
	return code, out.String(), errOut.String()
}

// testPlanFile makes a plan with the test provider in a fresh folder.
func testPlanFile(t *testing.T) (dir, plan string) {
	t.Helper()
	dir = t.TempDir()
	t.Setenv("CARO_TEST_PROVIDER_DIR", dir)
	t.Setenv("CARO_STATE_DIR", filepath.Join(dir, "state"))
	plan = filepath.Join(dir, "plan.json")
	code, out, errOut := foRun(t, "", "failover", "plan", "--provider", "test", "--to", "eu-central-1", "--out", plan)
	if code != 0 {
		t.Fatalf("plan: exit %d\n%s\n%s", code, out, errOut)
	}
	return dir, plan
}

func TestFailoverPlanWritesSealedPlanAndPrintsSteps(t *testing.T) {
	// GIVEN a healthy standby and a 90 s old backup
	// WHEN on-call plans a failover to it
	dir, plan := testPlanFile(t)
	// THEN the plan file is sealed, names the default source (the primary) and a failover
	p, err := failover.ReadPlan(plan)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(p.CreatedAt, true); err != nil {
		t.Fatal(err)
	}
	if p.From != "eu-west-1" || p.To != "eu-central-1" || p.Kind != failover.KindFailover || len(p.Steps) != 7 || p.Backup.AgeSeconds < 89 {
		t.Fatalf("plan %+v", p)
	}
	// AND stdout shows each step, the backup and its age (RPO) and the expected duration
	_, out, _ := foRun(t, "", "failover", "plan", "--provider", "test", "--to", "eu-central-1", "--out", filepath.Join(dir, "p2.json"))
	for _, want := range []string{"preflight", "confirm", "bk-1", "RPO", "Expected duration", "caro failover apply"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan output lacks %q:\n%s", want, out)
		}
	}
}

func TestFailoverPlanRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("CARO_TEST_PROVIDER_DIR", dir)
	cases := map[string][]string{
		"no target":      {"failover", "plan", "--provider", "test"},
		"unknown region": {"failover", "plan", "--provider", "test", "--to", "mars-north-1"},
		"bad restore":    {"failover", "plan", "--provider", "test", "--to", "eu-central-1", "--restore", "tape"},
		"same region":    {"failover", "plan", "--provider", "test", "--to", "eu-west-1"},
		"bad provider":   {"failover", "plan", "--provider", "gcp", "--to", "eu-central-1"},
		"bad dns mode":   {"failover", "plan", "--provider", "test", "--to", "eu-central-1", "--dns", "carrier-pigeon"},
	}
	for name, args := range cases {
		code, _, errOut := foRun(t, "", append(args, "-o", filepath.Join(dir, "p.json"))...)
		if code == 0 || !strings.Contains(errOut, "Error:") {
			t.Errorf("%s: exit %d, stderr %q", name, code, errOut)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "p.json")); err == nil {
		t.Error("a refused plan left a plan file")
	}
}

func TestFailbackRefusedWhileOldPrimaryUnhealthy(t *testing.T) {
	// GIVEN the old primary eu-west-1 is still unhealthy
	dir := t.TempDir()
	t.Setenv("CARO_TEST_PROVIDER_DIR", dir)
	os.WriteFile(filepath.Join(dir, "unhealthy-eu-west-1"), nil, 0o600)
	// WHEN on-call plans the failback
	code, _, errOut := foRun(t, "", "failover", "plan", "--provider", "test", "--from", "eu-central-1", "--to", "eu-west-1", "--out", filepath.Join(dir, "p.json"))
	// THEN it is refused, saying why and what to do
	if code == 0 || !strings.Contains(errOut, "failback") || !strings.Contains(errOut, "unhealthy") || !strings.Contains(errOut, "KMS") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	// AND once it is healthy the failback plan is made, as a failback
	os.Remove(filepath.Join(dir, "unhealthy-eu-west-1"))
	code, _, errOut = foRun(t, "", "failover", "plan", "--provider", "test", "--from", "eu-central-1", "--to", "eu-west-1", "--out", filepath.Join(dir, "p.json"))
	p, err := failover.ReadPlan(filepath.Join(dir, "p.json"))
	if code != 0 || err != nil || p.Kind != failover.KindFailback {
		t.Fatalf("exit %d %q, plan %+v %v", code, errOut, p, err)
	}
}
