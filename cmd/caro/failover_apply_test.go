package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/carohealth/platform/internal/failover"
)

func TestFailoverApplyAsksThenReports(t *testing.T) {
	dir, plan := testPlanFile(t)
	// WHEN there is no terminal to ask on and no --yes, nothing happens
	code, _, errOut := foRun(t, "yes\n", "failover", "apply", plan)
	if code == 0 || !strings.Contains(errOut, "pass -y/--yes") || countLines(filepath.Join(dir, "runs-preflight")) != 0 {
		t.Fatalf("apply without a terminal: exit %d, stderr %q", code, errOut)
	}
	// WHEN the operator answers no on a terminal, nothing happens
	applyOnTerminal := func(answer string) (int, string, string) {
		in, errTerm := &fakeTerminal{}, &fakeTerminal{}
		in.WriteString(answer)
		var out bytes.Buffer
		code := Execute([]string{"failover", "apply", plan}, in, &out, errTerm)
		return code, out.String(), errTerm.String()
	}
	code, _, errOut = applyOnTerminal("n\n")
	if code == 0 || !strings.Contains(errOut, "This moves production traffic from eu-west-1 to eu-central-1. Apply plan") || countLines(filepath.Join(dir, "runs-preflight")) != 0 {
		t.Fatalf("unconfirmed apply: exit %d, stderr %q", code, errOut)
	}
	// WHEN they answer yes, it runs: progress on stderr, the report on stdout
	code, out, errOut := applyOnTerminal("yes\n")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"[1/7] preflight: starting", "[7/7] confirm: done"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	for _, want := range []string{"COMPLETED", "RTO:", "RPO:", "did dns"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	// AND a second apply of the finished plan changes nothing, and -o json reports it
	code, out, _ = foRun(t, "", "failover", "apply", plan, "--yes", "-o", "json")
	var rep failover.Report
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || !rep.OK || len(rep.Steps) != 7 || rep.RPOSeconds < 89 {
		t.Fatalf("re-apply: exit %d %s", code, out)
	}
	for _, n := range testStepNames {
		if countLines(filepath.Join(dir, "runs-"+n)) != 1 {
			t.Errorf("step %s ran %d times", n, countLines(filepath.Join(dir, "runs-"+n)))
		}
	}
}

func TestFailoverApplyRefusesEditedPlan(t *testing.T) {
	dir, plan := testPlanFile(t)
	b, _ := os.ReadFile(plan)
	os.WriteFile(plan, []byte(strings.Replace(string(b), `"to": "eu-central-1"`, `"to": "eu-north-1"`, 1)), 0o600)
	code, _, errOut := foRun(t, "", "failover", "apply", plan, "--yes")
	if code == 0 || !strings.Contains(errOut, "changed after it was made") || countLines(filepath.Join(dir, "runs-preflight")) != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

func TestFailoverApplyFailsThenResumes(t *testing.T) {
	dir, plan := testPlanFile(t)
	os.WriteFile(filepath.Join(dir, "fail-identities"), nil, 0o600)
	code, out, errOut := foRun(t, "", "failover", "apply", plan, "--yes")
	if code != exitApplyFailed || !strings.Contains(errOut, "run `caro failover apply") || !strings.Contains(out, "failed") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	// status shows where it stopped
	code, out, _ = foRun(t, "", "failover", "status")
	if code != 0 || !strings.Contains(out, "FAILED") || !strings.Contains(out, "injected failure of identities") {
		t.Fatalf("status: exit %d\n%s", code, out)
	}
	os.Remove(filepath.Join(dir, "fail-identities"))
	code, out, errOut = foRun(t, "", "failover", "apply", plan, "--yes")
	if code != 0 || !strings.Contains(errOut, "resuming plan") || !strings.Contains(errOut, "restore: done earlier, skipping") {
		t.Fatalf("resume: exit %d\n%s\n%s", code, out, errOut)
	}
	if n := countLines(filepath.Join(dir, "runs-restore")); n != 1 {
		t.Errorf("restore ran %d times, want 1", n)
	}
	if n := countLines(filepath.Join(dir, "runs-identities")); n != 2 {
		t.Errorf("identities ran %d times, want 2", n)
	}
}

// startApply starts a real `caro failover apply` process (this test binary acting as caro) that
// stops in the middle of pauseAt, and waits until it is there.
func startApply(t *testing.T, dir, plan, pauseAt string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "failover", "apply", plan, "--yes")
	cmd.Env = append(os.Environ(), "CARO_TEST_AS_CARO=1", "CARO_TEST_PAUSE_AT="+pauseAt)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for countLines(filepath.Join(dir, "paused")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("apply never reached " + pauseAt)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cmd
}

func TestFailoverApplyKilledWithSIGKILLResumes(t *testing.T) {
	for _, victim := range []string{"restore", "dns"} {
		t.Run(victim, func(t *testing.T) {
			dir, plan := testPlanFile(t)
			cmd := startApply(t, dir, plan, victim)
			// A second apply meanwhile is refused, naming the holder and how to break a stale lock.
			code, _, errOut := foRun(t, "", "failover", "apply", plan, "--yes")
			if code != exitLocked {
				t.Fatalf("concurrent apply: exit %d, stderr %q", code, errOut)
			}
			for _, want := range []string{"pid " + itoa(cmd.Process.Pid), "started", failover.UnlockHint} {
				if !strings.Contains(errOut, want) {
					t.Errorf("lock refusal lacks %q: %s", want, errOut)
				}
			}
			code, out, _ := foRun(t, "", "failover", "status")
			if code != 0 || !strings.Contains(out, "IN-PROGRESS") || !strings.Contains(out, "running-or-interrupted") {
				t.Fatalf("status while running: %s", out)
			}
			// kill -9 in the middle of the step
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			code, out, _ = foRun(t, "", "failover", "status", "-o", "json")
			var st failoverStatus
			if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.State != "interrupted" || st.Lock != nil {
				t.Fatalf("status after kill: %s", out)
			}
			// the same apply again resumes: earlier steps not redone, the victim re-checked and finished
			code, out, errOut = foRun(t, "", "failover", "apply", plan, "--yes", "-o", "json")
			var rep failover.Report
			if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || !rep.OK || !rep.Resumed || rep.Applies != 2 {
				t.Fatalf("resume: exit %d\n%s\n%s", code, out, errOut)
			}
			if !strings.Contains(errOut, victim+": was interrupted mid-step") {
				t.Errorf("resume did not say the step was interrupted:\n%s", errOut)
			}
			for _, n := range testStepNames {
				want := 1
				if n == victim {
					want = 2
				}
				if got := countLines(filepath.Join(dir, "runs-"+n)); got != want {
					t.Errorf("step %s ran %d times, want %d", n, got, want)
				}
			}
		})
	}
}

func TestFailoverUnlock(t *testing.T) {
	dir, plan := testPlanFile(t)
	code, out, _ := foRun(t, "", "failover", "unlock")
	if code != 0 || !strings.Contains(out, "free") {
		t.Fatalf("unlock on a free lock: %d %s", code, out)
	}
	cmd := startApply(t, dir, plan, "deploy")
	code, out, errOut := foRun(t, "", "failover", "unlock")
	if code == 0 || !strings.Contains(out, "pid "+itoa(cmd.Process.Pid)) || !strings.Contains(errOut, "--yes") {
		t.Fatalf("unlock without --force: %d %s %s", code, out, errOut)
	}
	// A local lock belongs to a live process: even --force refuses and says which pid to stop.
	code, _, errOut = foRun(t, "", "failover", "unlock", "--yes")
	if code == 0 || !strings.Contains(errOut, "kill "+itoa(cmd.Process.Pid)) {
		t.Fatalf("unlock --yes of a live local lock: %d %s", code, errOut)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestFailoverApplyRefusesWhileAnotherPlanIsUnfinished(t *testing.T) {
	dir, plan1 := testPlanFile(t)
	os.WriteFile(filepath.Join(dir, "fail-restore"), nil, 0o600)
	if code, _, _ := foRun(t, "", "failover", "apply", plan1, "--yes"); code != exitApplyFailed {
		t.Fatalf("exit %d", code)
	}
	os.Remove(filepath.Join(dir, "fail-restore"))
	plan2 := filepath.Join(dir, "plan2.json")
	if code, _, errOut := foRun(t, "", "failover", "plan", "--provider", "test", "--to", "eu-central-1", "--out", plan2); code != 0 {
		t.Fatal(errOut)
	}
	code, _, errOut := foRun(t, "", "failover", "apply", plan2, "--yes")
	if code == 0 || !strings.Contains(errOut, "unfinished") || !strings.Contains(errOut, "--supersede") {
		t.Fatalf("exit %d %s", code, errOut)
	}
	if code, _, errOut := foRun(t, "", "failover", "apply", plan2, "--yes", "--supersede"); code != 0 {
		t.Fatalf("--supersede: exit %d %s", code, errOut)
	}
}
