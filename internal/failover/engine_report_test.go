package failover

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/user"
	"strings"
	"sync"
	"testing"
	"time"
)

// stepClock is a clock that only moves when told: steps advance it by what they "take", the journal
// by what each write "takes", so every time in a report is exact.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *stepClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// memJournal is a journal in memory; each Append takes a second of the clock (when it has one).
type memJournal struct {
	mu    sync.Mutex
	recs  []Record
	clock *stepClock
	err   error // Records fails with it when set
}

func (j *memJournal) Append(_ context.Context, r Record) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.recs = append(j.recs, r)
	if j.clock != nil {
		j.clock.Add(time.Second)
	}
	return nil
}

func (j *memJournal) Records(context.Context) ([]Record, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return nil, j.err
	}
	return append([]Record(nil), j.recs...), nil
}

// recordingLock is a lock in memory that remembers who took it and can fail its release.
type recordingLock struct {
	holder     *LockInfo
	acquiredBy []LockInfo
	releaseErr error
}

func (l *recordingLock) Acquire(_ context.Context, me LockInfo) error {
	if l.holder != nil {
		return &LockedError{Holder: *l.holder, Where: "memory"}
	}
	l.holder = &me
	l.acquiredBy = append(l.acquiredBy, me)
	return nil
}

func (l *recordingLock) Release(context.Context, LockInfo) error {
	l.holder = nil
	return l.releaseErr
}

func (l *recordingLock) Holder(context.Context) (*LockInfo, error) { return l.holder, nil }
func (l *recordingLock) Break(context.Context) (*LockInfo, error) {
	h := l.holder
	l.holder = nil
	return h, nil
}

// timedStep is a step whose Check and Run take the given times on the clock.
func timedStep(c *stepClock, name string, check, run time.Duration, done bool, summary string, runErr error) *StepFunc {
	return &StepFunc{StepName: name,
		CheckFunc:   func(context.Context) (bool, error) { c.Add(check); return done, nil },
		RunFunc:     func(context.Context) error { c.Add(run); return runErr },
		SummaryText: func() string { return summary }}
}

func planOf(t *testing.T, names ...string) *Plan {
	t.Helper()
	now := time.Now()
	p := &Plan{Version: PlanVersion, ID: "plan-r", Kind: KindFailover, Provider: "fake", From: "a", To: "b",
		CreatedAt: now, ExpiresAt: now.Add(time.Hour), Backup: BackupRef{ID: "bk", TakenAt: now.Add(-time.Minute)}}
	for _, n := range names {
		p.Steps = append(p.Steps, PlannedStep{Name: n, Action: "do " + n})
	}
	if err := p.Seal(); err != nil {
		t.Fatal(err)
	}
	return p
}

func stepReport(t *testing.T, rep *Report, name string) StepReport {
	t.Helper()
	for _, s := range rep.Steps {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no step %s in the report", name)
	return StepReport{}
}

// TestApplyReportTellsTimesAndChangesExactly: a step's seconds are its check and its run; the
// engine's seconds are the apply's wall time minus the time in steps; the report lists what changed
// (steps that ran and said what they did), and every progress line names the step's place, its
// name and what happened, with the step's summary when it has one.
func TestApplyReportTellsTimesAndChangesExactly(t *testing.T) {
	clock := &stepClock{t: time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)}
	var progress bytes.Buffer
	j := &memJournal{clock: clock}
	e := &Engine{Journal: j, Lock: &recordingLock{}, Now: clock.Now, Progress: &progress}
	steps := []Step{
		timedStep(clock, "a", 2*time.Second, 5*time.Second, false, "did a", nil),
		timedStep(clock, "b", time.Second, 0, true, "in place", nil),
		timedStep(clock, "c", 0, 3*time.Second, false, "", nil),
		timedStep(clock, "d", 0, 0, true, "", nil),
	}
	rep, err := e.Apply(context.Background(), planOf(t, "a", "b", "c", "d"), steps)
	if err != nil {
		t.Fatal(err)
	}
	// 11 s in steps; 8 journal writes of a second each (apply started, a started and completed, b
	// already done, c started and completed, d already done, apply completed).
	if got := stepReport(t, rep, "a").Seconds; got != 8 {
		t.Errorf("step a took %v s, want 8: from its check's start (2 s) through its start record (1 s) to its run's end (5 s)", got)
	}
	if rep.ApplySeconds != 19 || rep.EngineSeconds != 8 {
		t.Errorf("apply %v s, engine %v s; want 19 and 8 (the apply minus the 11 s in steps)", rep.ApplySeconds, rep.EngineSeconds)
	}
	if got := stepReport(t, rep, "b").Detail; got != "already in place (checked): in place" {
		t.Errorf("b's detail %q", got)
	}
	if got := stepReport(t, rep, "d").Detail; got != "already in place (checked)" {
		t.Errorf("d's detail %q (no summary: nothing after it)", got)
	}
	if strings.Join(rep.Changes, "|") != "a: did a" {
		t.Errorf("changes %q, want only a's (b and d were in place, c said nothing)", rep.Changes)
	}
	want := "[1/4] a: starting\n[1/4] a: done in 5s: did a\n[2/4] b: already in place (checked): in place\n" +
		"[3/4] c: starting\n[3/4] c: done in 3s\n[4/4] d: already in place (checked)\n"
	if progress.String() != want {
		t.Errorf("progress\n%s\nwant\n%s", progress.String(), want)
	}
	for _, s := range rep.Steps {
		if s.Resumed {
			t.Errorf("%s reported resumed after one attempt", s.Name)
		}
	}
}

// TestApplyProgressOnFailureAndResume: the progress lines of a failed step, of a step done in an
// earlier apply, of one interrupted mid-step, and of one whose effect is gone, each with the step's
// place; a step run a second time is reported resumed.
func TestApplyProgressOnFailureAndResume(t *testing.T) {
	ctx := context.Background()
	clock := &stepClock{t: time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)}
	plan := planOf(t, "a", "b", "c")
	j := &memJournal{}
	var progress bytes.Buffer
	e := &Engine{Journal: j, Lock: &recordingLock{}, Now: clock.Now, Progress: &progress}
	boom := errors.New("boom")
	gone := false
	decaying := &StepFunc{StepName: "c", Decaying: true,
		CheckFunc: func(context.Context) (bool, error) { return !gone, nil },
		RunFunc:   func(context.Context) error { gone = false; return nil }}
	// GIVEN a first apply whose second step fails after 2 s
	rep, err := e.Apply(ctx, plan, []Step{timedStep(clock, "a", 0, 0, false, "", nil), timedStep(clock, "b", 0, 2*time.Second, false, "", boom), decaying})
	if !errors.Is(err, boom) || stepReport(t, rep, "b").Status != StatusFailed {
		t.Fatalf("first apply: %v", err)
	}
	if !strings.Contains(progress.String(), "[2/3] b: FAILED after 2s: boom\n") {
		t.Errorf("progress of the failure:\n%s", progress.String())
	}
	// AND a third step left half done by a crash
	j.recs = append(j.recs, Record{Time: clock.Now(), PlanID: plan.ID, PlanHash: plan.Hash, Event: StepStarted, Step: "c", Attempt: 1})
	progress.Reset()
	// WHEN the apply runs again
	rep, err = e.Apply(ctx, plan, []Step{timedStep(clock, "a", 0, 0, false, "", nil), timedStep(clock, "b", 0, 0, false, "", nil), decaying})
	if err != nil {
		t.Fatal(err)
	}
	want := "resuming plan plan-r from its journal (1 earlier apply run(s))\n[1/3] a: done earlier, skipping\n[2/3] b: starting\n[2/3] b: done in 0s\n" +
		"[3/3] c: was interrupted; found complete on re-check\n"
	if progress.String() != want {
		t.Errorf("progress\n%s\nwant\n%s", progress.String(), want)
	}
	if s := stepReport(t, rep, "b"); !s.Resumed || s.Attempts != 2 {
		t.Errorf("b after its second attempt: %+v", s)
	}
	if s := stepReport(t, rep, "a"); s.Resumed || s.Attempts != 1 {
		t.Errorf("a after one attempt: %+v", s)
	}
	// WHEN a step done earlier lost its effect, and another was interrupted and is not complete
	gone = true
	j.recs = append(j.recs, Record{Time: clock.Now(), PlanID: plan.ID, PlanHash: plan.Hash, Event: StepStarted, Step: "b", Attempt: 3})
	progress.Reset()
	e.Redo = []string{"b"}
	if _, err := e.Apply(ctx, plan, []Step{timedStep(clock, "a", 0, 0, false, "", nil), timedStep(clock, "b", 0, 0, false, "", nil), decaying}); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"[2/3] b: was interrupted mid-step; not complete on re-check, running it again (attempt 4)\n",
		"[3/3] c: done earlier, but its effect is gone (checked again): running it again\n",
	} {
		if !strings.Contains(progress.String(), line) {
			t.Errorf("progress lacks %q:\n%s", line, progress.String())
		}
	}
}

// TestAStepWhoseRecheckFailsIsReportedFailed: a step the journal records done whose effect cannot
// be checked again shows as failed in the report, with the cause, though its journal says done.
func TestAStepWhoseRecheckFailsIsReportedFailed(t *testing.T) {
	ctx := context.Background()
	plan := planOf(t, "a")
	j := &memJournal{recs: []Record{
		{Time: time.Now(), PlanID: plan.ID, PlanHash: plan.Hash, Event: ApplyStarted},
		{Time: time.Now(), PlanID: plan.ID, PlanHash: plan.Hash, Event: StepCompleted, Step: "a", Attempt: 1},
	}}
	unreachable := errors.New("route 53 unreachable")
	st := &StepFunc{StepName: "a", Decaying: true, CheckFunc: func(context.Context) (bool, error) { return false, unreachable },
		RunFunc: func(context.Context) error { return nil }}
	rep, err := (&Engine{Journal: j, Lock: &recordingLock{}}).Apply(ctx, plan, []Step{st})
	if !errors.Is(err, unreachable) {
		t.Fatalf("apply: %v", err)
	}
	if s := stepReport(t, rep, "a"); s.Status != StatusFailed || !strings.Contains(s.Error, "route 53 unreachable") {
		t.Fatalf("report of a: %+v", s)
	}
}

// TestALockThatCannotBeReleasedFailsTheApply: a release that fails is reported when the apply
// otherwise succeeded (the next apply would find the lock held), and never hides a step's failure.
func TestALockThatCannotBeReleasedFailsTheApply(t *testing.T) {
	ctx := context.Background()
	stuck := errors.New("lock object could not be deleted")
	lock := &recordingLock{releaseErr: stuck}
	_, err := (&Engine{Journal: &memJournal{}, Lock: lock}).Apply(ctx, planOf(t, "a"), []Step{&StepFunc{StepName: "a", RunFunc: func(context.Context) error { return nil }}})
	if !errors.Is(err, stuck) {
		t.Fatalf("apply with a stuck lock: %v", err)
	}
	boom := errors.New("boom")
	_, err = (&Engine{Journal: &memJournal{}, Lock: lock}).Apply(ctx, planOf(t, "a"), []Step{&StepFunc{StepName: "a", RunFunc: func(context.Context) error { return boom }}})
	if !errors.Is(err, boom) || errors.Is(err, stuck) {
		t.Fatalf("a failed step behind a stuck lock: %v", err)
	}
}

// TestApplyNamesWhoHoldsTheLock: the lock and the journal name the run: Me when given, else this
// process, named Operator when set, else its OS login.
func TestApplyNamesWhoHoldsTheLock(t *testing.T) {
	ctx := context.Background()
	login := ""
	if u, err := user.Current(); err == nil {
		login = u.Username
	}
	step := func() []Step {
		return []Step{&StepFunc{StepName: "a", RunFunc: func(context.Context) error { return nil }}}
	}
	for name, c := range map[string]struct {
		e          Engine
		owner      string
		pid        int
		stillOwner bool
	}{
		"given":    {e: Engine{Me: LockInfo{Owner: "alice", Host: "laptop", PID: 4242}}, owner: "alice", pid: 4242},
		"operator": {e: Engine{Operator: "oncall-bob"}, owner: "oncall-bob", pid: os.Getpid()},
		"login":    {e: Engine{}, owner: login, pid: os.Getpid()},
	} {
		lock, j := &recordingLock{}, &memJournal{}
		c.e.Lock, c.e.Journal = lock, j
		if _, err := c.e.Apply(ctx, planOf(t, "a"), step()); err != nil {
			t.Fatal(err)
		}
		if len(lock.acquiredBy) != 1 || lock.acquiredBy[0].Owner != c.owner || lock.acquiredBy[0].PID != c.pid || c.owner == "" {
			t.Errorf("%s: the lock was taken by %+v, want owner %q pid %d", name, lock.acquiredBy, c.owner, c.pid)
		}
		for _, r := range j.recs {
			if r.Owner != c.owner || r.PID != c.pid {
				t.Errorf("%s: journal record %s names %s/%d", name, r.Event, r.Owner, r.PID)
			}
		}
	}
}

// TestStatusOfAJournalThatCannotBeRead: a journal that cannot be read gives no state, only the
// error (a damaged one gives what could be read, with the damage).
func TestStatusOfAJournalThatCannotBeRead(t *testing.T) {
	unreachable := errors.New("bucket unreachable")
	st, recs, err := StatusOf(context.Background(), &memJournal{err: unreachable})
	if !errors.Is(err, unreachable) || st != nil || recs != nil {
		t.Fatalf("StatusOf = %+v, %v, %v", st, recs, err)
	}
}
