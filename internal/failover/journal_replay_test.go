package failover

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestARedoAfterCompletionReopensThePlan: a --redo after the plan completed journals a resumed
// apply; until that apply completes again the plan is not complete, so a redo that fails midway is
// neither reported as complete (status) nor skipped by the next apply as "already completed". The
// plan's "<kind> <from> -> <to>" comes from the apply records.
func TestARedoAfterCompletionReopensThePlan(t *testing.T) {
	ctx := context.Background()
	state, w := t.TempDir(), world{t.TempDir()}
	p := testPlan(t)
	if rep, err := newEngine(t, state, nil).Apply(ctx, p, steps(w, nil)); err != nil || !rep.OK {
		t.Fatalf("first apply: %v %+v", err, rep)
	}
	// WHEN the operator redoes dns and that run fails
	e := newEngine(t, state, nil)
	e.Redo = []string{"dns"}
	failDNS := func(_ context.Context, step string, run int) error {
		if step == "dns" && run > 1 {
			return errors.New("route 53 throttled")
		}
		return nil
	}
	if rep, err := e.Apply(ctx, p, steps(w, failDNS)); err == nil && rep.OK {
		t.Fatal("the failing redo was reported OK")
	}
	// THEN the journal says the plan is open again, with its apply records' description
	j, err := NewFileJournal(state, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := j.Records(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := Replay(recs)
	if s.Completed {
		t.Fatal("a redo that failed left the plan marked completed")
	}
	if want := fmt.Sprintf("%s %s -> %s", p.Kind, p.From, p.To); s.What != want {
		t.Fatalf("What = %q, want %q", s.What, want)
	}
	if s.Applies != 2 || !s.Failed {
		t.Fatalf("applies %d failed %v, want 2 and true", s.Applies, s.Failed)
	}
}

// TestReplayKeepsWhatAnApplyRecordWithoutDetailLeavesOut: an apply record without a description
// (written by an older caro) does not erase the description an earlier record gave.
func TestReplayKeepsWhatAnApplyRecordWithoutDetailLeavesOut(t *testing.T) {
	s := Replay([]Record{
		{Event: ApplyStarted, PlanID: "p", Detail: "failover a -> b"},
		{Event: ApplyFailed, Error: "x"},
		{Event: ApplyResumed},
	})
	if s.What != "failover a -> b" {
		t.Fatalf("What = %q", s.What)
	}
	if s.Applies != 2 || s.Failed {
		t.Fatalf("applies %d failed %v: a resumed apply clears the failure", s.Applies, s.Failed)
	}
}

// TestReplayDatesAStepFromItsCompletionWhenItsStartIsNotJournaled: a step whose only record is its
// completion (already done, or a journal from before start records) started its duration before
// that record: the drill's timeline places it there.
func TestReplayDatesAStepFromItsCompletionWhenItsStartIsNotJournaled(t *testing.T) {
	done := time.Date(2026, 11, 23, 3, 0, 10, 0, time.UTC)
	s := Replay([]Record{{Event: StepAlreadyDone, Step: "deploy", Time: done, Seconds: 2.5}})
	st := s.Steps["deploy"]
	if want := done.Add(-2500 * time.Millisecond); !st.StartedAt.Equal(want) || !st.DoneAt.Equal(done) {
		t.Fatalf("started %s done %s, want %s and %s", st.StartedAt, st.DoneAt, want, done)
	}
}

// TestTheLockRefusalNamesThePlanOrSaysItIsNotRecorded: the refusal names the holder's plan, and says
// so when the holder has not recorded one yet.
func TestTheLockRefusalNamesThePlanOrSaysItIsNotRecorded(t *testing.T) {
	holder := LockInfo{Owner: "alice", Host: "laptop", PID: 42, PlanID: "plan-7"}
	msg := (&LockedError{Holder: holder, Where: "lock"}).Error()
	if !strings.Contains(msg, "plan plan-7;") || strings.Contains(msg, "not recorded") {
		t.Fatalf("refusal %q does not name plan-7", msg)
	}
	holder.PlanID = ""
	if msg := (&LockedError{Holder: holder, Where: "lock"}).Error(); !strings.Contains(msg, "plan (not recorded yet);") {
		t.Fatalf("refusal %q does not say the plan is not recorded", msg)
	}
}
