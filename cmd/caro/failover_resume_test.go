package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFailoverApplyRedoesACompletedStepWhoseEffectIsGone: the standby's API died after the deploy
// step completed; the resumed apply checks the deploy again and redoes it, instead of failing
// forever with "completed steps are not redone".
func TestFailoverApplyRedoesACompletedStepWhoseEffectIsGone(t *testing.T) {
	dir, plan := testPlanFile(t)
	os.WriteFile(filepath.Join(dir, "fail-verify"), nil, 0o600)
	if code, _, _ := foRun(t, "", "failover", "apply", plan, "--yes"); code == 0 {
		t.Fatal("verify did not fail")
	}
	os.Remove(filepath.Join(dir, "fail-verify"))
	os.Remove(filepath.Join(dir, "done-deploy")) // the API is gone
	code, _, errOut := foRun(t, "", "failover", "apply", plan, "--yes")
	if code != 0 {
		t.Fatalf("resume: exit %d %s", code, errOut)
	}
	if countLines(filepath.Join(dir, "runs-deploy")) != 2 || countLines(filepath.Join(dir, "runs-restore")) != 1 ||
		!strings.Contains(errOut, "deploy: done earlier, but its effect is gone (checked again): running it again") {
		t.Fatalf("deploy ran %d times, restore %d; stderr %s", countLines(filepath.Join(dir, "runs-deploy")), countLines(filepath.Join(dir, "runs-restore")), errOut)
	}
	// AND status shows the step done again
	code, out, _ := foRun(t, "", "failover", "status")
	if code != 0 || !strings.Contains(out, "COMPLETED") {
		t.Fatalf("status %d %s", code, out)
	}
}

// TestFailoverApplyRedo: --redo runs a step again on the operator's word, journaled; an unknown
// step is refused before anything runs.
func TestFailoverApplyRedo(t *testing.T) {
	dir, plan := testPlanFile(t)
	if code, _, errOut := foRun(t, "", "failover", "apply", plan, "--yes"); code != 0 {
		t.Fatal(errOut)
	}
	code, _, errOut := foRun(t, "", "failover", "apply", plan, "--yes", "--redo", "lunch")
	if code == 0 || !strings.Contains(errOut, `--redo "lunch"`) || !strings.Contains(errOut, "preflight, deploy, restore") {
		t.Fatalf("unknown step: %d %s", code, errOut)
	}
	code, out, errOut := foRun(t, "", "failover", "apply", plan, "--yes", "--redo", "dns")
	if code != 0 || countLines(filepath.Join(dir, "runs-dns")) != 2 || countLines(filepath.Join(dir, "runs-deploy")) != 1 || !strings.Contains(out, "COMPLETED") {
		t.Fatalf("redo: %d %s %s", code, out, errOut)
	}
	journal, _ := filepath.Glob(filepath.Join(os.Getenv("CARO_STATE_DIR"), "journal-*.jsonl"))
	if len(journal) != 1 {
		t.Fatalf("journals %v", journal)
	}
	if b, _ := os.ReadFile(journal[0]); !strings.Contains(string(b), `"event":"step-redo-requested","step":"dns"`) {
		t.Fatalf("the redo is not journaled:\n%s", b)
	}
}

// TestFailoverStatusNamesAMissingJournal: status for a plan whose journal is not in the state
// folder says so and how to point at the right one, never a report of zero times and empty IDs.
func TestFailoverStatusNamesAMissingJournal(t *testing.T) {
	_, plan := testPlanFile(t)
	other := t.TempDir()
	code, out, errOut := foRun(t, "", "failover", "status", "-f", plan, "--state-dir", other)
	if code == 0 || !strings.Contains(errOut, "no failover journal of plan ") || !strings.Contains(errOut, "--state-dir") || strings.Contains(out, "0001-01-01") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
}

// TestFailoverStatusOfADamagedJournal: status reports what the readable records say and exactly
// how to recover; apply refuses with the same advice; following it, the apply resumes.
func TestFailoverStatusOfADamagedJournal(t *testing.T) {
	dir, plan := testPlanFile(t)
	os.WriteFile(filepath.Join(dir, "fail-verify"), nil, 0o600)
	foRun(t, "", "failover", "apply", plan, "--yes")
	os.Remove(filepath.Join(dir, "fail-verify"))
	journal, _ := filepath.Glob(filepath.Join(os.Getenv("CARO_STATE_DIR"), "journal-*.jsonl"))
	b, _ := os.ReadFile(journal[0])
	lines := strings.SplitAfter(string(b), "\n")
	lines[2] = "{\"event\": \"step-com\x00\n"
	os.WriteFile(journal[0], []byte(strings.Join(lines, "")), 0o600)
	code, out, errOut := foRun(t, "", "failover", "status")
	if code != 0 || !strings.Contains(out, "restore") || !strings.Contains(out, "DAMAGED JOURNAL") || !strings.Contains(out, "sed -i '3d' "+journal[0]) {
		t.Fatalf("status %d\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(out, "run `caro failover status`") {
		t.Fatalf("the advice points back at status:\n%s", out)
	}
	code, _, errOut = foRun(t, "", "failover", "apply", plan, "--yes")
	if code == 0 || !strings.Contains(errOut, "sed -i '3d'") {
		t.Fatalf("apply on a damaged journal: %d %s", code, errOut)
	}
	os.WriteFile(journal[0], []byte(strings.Join(append(lines[:2:2], lines[3:]...), "")), 0o600)
	if code, _, errOut = foRun(t, "", "failover", "apply", plan, "--yes"); code != 0 {
		t.Fatalf("after the advice: %d %s", code, errOut)
	}
}
