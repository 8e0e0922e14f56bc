package failover

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// blindStep is a step whose Check cannot answer for the journal: it never knows whether its effect
// is in place (it always says "not done"). Only the journal can tell a resume that it completed.
type blindStep struct{ fakeStep }

func (s *blindStep) Check(context.Context) (bool, error) { return false, nil }

func blindSteps(w world) []Step {
	out := make([]Step, len(stepNames))
	for i, n := range stepNames {
		out[i] = &blindStep{fakeStep{name: n, w: w}}
	}
	return out
}

// TestResumeTrustsTheJournalForCompletedSteps: after a crash at every journal boundary, a resume
// never runs a step again that the journal records completed, although its Check cannot say so
// (issue 23, mutant 2: an engine that skipped the journal's "done" and relied on Check would run
// them again). Only a step interrupted between its start and its completion record runs twice.
func TestResumeTrustsTheJournalForCompletedSteps(t *testing.T) {
	total := 2 + 2*len(stepNames)
	for k := 0; k <= total; k++ {
		t.Run(fmt.Sprintf("after-%d-records", k), func(t *testing.T) {
			state, w := t.TempDir(), world{t.TempDir()}
			p := testPlan(t)
			fj, _ := NewFileJournal(state, p.ID)
			_, _ = newEngine(t, state, &crashingJournal{Journal: fj, after: k}).Apply(context.Background(), p, blindSteps(w))
			recs, _ := fj.Records(context.Background())
			before := Replay(recs)
			rep, err := newEngine(t, state, nil).Apply(context.Background(), p, blindSteps(w))
			if err != nil || !rep.OK {
				t.Fatalf("resume: %v %+v", err, rep)
			}
			assertAllDone(t, w)
			for _, n := range stepNames {
				st := before.Steps[n]
				switch {
				case st != nil && st.Done && w.runs(n) != 1:
					t.Errorf("step %s was recorded complete before the crash, yet ran %d times", n, w.runs(n))
				case (st == nil || !st.Started && !st.Done) && w.runs(n) != 1:
					t.Errorf("step %s never started before the crash, yet ran %d times", n, w.runs(n))
				case w.runs(n) > 2:
					t.Errorf("step %s ran %d times", n, w.runs(n))
				}
			}
		})
	}
}

// decayingStep is a fakeStep whose effect can be lost after it completed.
type decayingStep struct{ fakeStep }

func (s *decayingStep) Decays() bool { return true }

// TestResumeRedoesACompletedStepWhoseEffectIsGone: a completed step whose effect can be lost (the
// standby's API stopped, the name moved back) is checked again on resume and run again when its
// effect is gone; one whose effect is still there is not; a step that cannot decay is never
// re-checked (the journal answers for it).
func TestResumeRedoesACompletedStepWhoseEffectIsGone(t *testing.T) {
	ctx := context.Background()
	state, w := t.TempDir(), world{t.TempDir()}
	p := testPlan(t)
	mk := func() []Step {
		out := make([]Step, len(stepNames))
		for i, n := range stepNames {
			if n == "deploy" || n == "dns" {
				out[i] = &decayingStep{fakeStep{name: n, w: w}}
			} else {
				out[i] = &blindStep{fakeStep{name: n, w: w}}
			}
		}
		return out
	}
	// GIVEN an apply that stopped at verify (after deploy completed)
	mid := func(_ context.Context, step string, run int) error {
		if step == "verify" && run == 1 {
			return errors.New("the API died under the verification")
		}
		return nil
	}
	steps := mk()
	steps[4] = &fakeStep{name: "verify", w: w, mid: mid}
	if _, err := newEngine(t, state, nil).Apply(ctx, p, steps); err == nil {
		t.Fatal("no failure")
	}
	// AND the deployed API has gone since
	if err := os.Remove(w.dir + "/done-deploy"); err != nil {
		t.Fatal(err)
	}
	// WHEN the apply is resumed
	steps = mk()
	steps[4] = &fakeStep{name: "verify", w: w, mid: mid}
	rep, err := newEngine(t, state, nil).Apply(ctx, p, steps)
	if err != nil || !rep.OK {
		t.Fatalf("resume: %v %+v", err, rep)
	}
	// THEN deploy ran again (its effect was gone), preflight and restore did not
	if w.runs("deploy") != 2 || w.runs("preflight") != 1 || w.runs("restore") != 1 {
		t.Fatalf("runs: deploy %d preflight %d restore %d", w.runs("deploy"), w.runs("preflight"), w.runs("restore"))
	}
	// AND the journal says why
	j, _ := NewFileJournal(state, p.ID)
	recs, _ := j.Records(ctx)
	if st := Replay(recs).Steps["deploy"]; !st.Done || len(st.Redone) != 1 || !strings.Contains(st.Redone[0], "gone") {
		t.Fatalf("deploy state %+v", st)
	}
	// WHEN resumed again with everything in place THEN nothing runs (the plan completed)
	if rep, err := newEngine(t, state, nil).Apply(ctx, p, mk()); err != nil || !rep.OK || w.runs("deploy") != 2 {
		t.Fatalf("again: %v deploy runs %d", err, w.runs("deploy"))
	}
}

// TestRedoRunsAStepAgainOnTheOperatorsWord: --redo runs a completed step again (even after the plan
// completed), journaled; an unknown step is refused before anything runs.
func TestRedoRunsAStepAgainOnTheOperatorsWord(t *testing.T) {
	ctx := context.Background()
	state, w := t.TempDir(), world{t.TempDir()}
	p := testPlan(t)
	if rep, err := newEngine(t, state, nil).Apply(ctx, p, steps(w, nil)); err != nil || !rep.OK {
		t.Fatal(err)
	}
	e := newEngine(t, state, nil)
	e.Redo = []string{"lunch"}
	if _, err := e.Apply(ctx, p, steps(w, nil)); err == nil || !strings.Contains(err.Error(), `--redo "lunch"`) || !strings.Contains(err.Error(), "dns") {
		t.Fatalf("unknown step: %v", err)
	}
	e = newEngine(t, state, nil)
	e.Redo = []string{"dns"}
	rep, err := e.Apply(ctx, p, steps(w, nil))
	if err != nil || !rep.OK {
		t.Fatalf("redo: %v %+v", err, rep)
	}
	// THEN dns ran again although its Check says it is in place, nothing else did
	if w.runs("dns") != 2 || w.runs("deploy") != 1 {
		t.Fatalf("runs: dns %d deploy %d", w.runs("dns"), w.runs("deploy"))
	}
	j, _ := NewFileJournal(state, p.ID)
	recs, _ := j.Records(ctx)
	var asked bool
	for _, r := range recs {
		asked = asked || r.Event == StepRedoRequested && r.Step == "dns"
	}
	if !asked || !Replay(recs).Completed {
		t.Fatalf("journal %+v", recs)
	}
}

// TestADamagedJournalSaysExactlyHowToRecover: a damaged line is reported with the records that
// can still be read and the commands that set it aside, never advice that points back at status;
// apply refuses with the same advice, and after following it the apply resumes.
func TestADamagedJournalSaysExactlyHowToRecover(t *testing.T) {
	ctx := context.Background()
	state, w := t.TempDir(), world{t.TempDir()}
	p := testPlan(t)
	mid := func(_ context.Context, step string, run int) error {
		if step == "verify" && run == 1 {
			return errors.New("stop")
		}
		return nil
	}
	newEngine(t, state, nil).Apply(ctx, p, steps(w, mid))
	j, _ := NewFileJournal(state, p.ID)
	b, _ := os.ReadFile(j.Path)
	lines := strings.SplitAfter(string(b), "\n")
	lines[3] = "{\"time\": garbage\n"
	os.WriteFile(j.Path, []byte(strings.Join(lines, "")), 0o600)
	// WHEN the status is read
	st, recs, err := StatusOf(ctx, j)
	var damaged *DamagedError
	if !errors.As(err, &damaged) || len(damaged.Lines) != 1 || damaged.Lines[0] != 4 || st.PlanID != p.ID || len(recs) != len(lines)-2 {
		t.Fatalf("status: %v, %d records", err, len(recs))
	}
	for _, want := range []string{"line 4", "cp " + j.Path, "sed -i '4d' " + j.Path, "caro failover apply"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("advice %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "failover status") {
		t.Errorf("advice points back at status: %q", err)
	}
	// WHEN apply runs THEN it refuses with the same advice
	if _, err := newEngine(t, state, nil).Apply(ctx, p, steps(w, mid)); !errors.As(err, &damaged) {
		t.Fatalf("apply on a damaged journal: %v", err)
	}
	// WHEN the advice is followed THEN the apply resumes and completes
	os.WriteFile(j.Path, []byte(strings.Join(append(lines[:3:3], lines[4:]...), "")), 0o600)
	if rep, err := newEngine(t, state, nil).Apply(ctx, p, steps(w, mid)); err != nil || !rep.OK {
		t.Fatalf("after removing the line: %v", err)
	}
}
