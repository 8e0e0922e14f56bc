package failover

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// world is a directory-backed fake platform: each step leaves a "done" marker when its effect is in
// place and appends to a "runs" file each time Run starts, so tests (and a killed subprocess) can
// tell what ran how often.
type world struct{ dir string }

func (w world) done(step string) bool {
	_, err := os.Stat(filepath.Join(w.dir, "done-"+step))
	return err == nil
}

func (w world) runs(step string) int {
	b, _ := os.ReadFile(filepath.Join(w.dir, "runs-"+step))
	return strings.Count(string(b), "\n")
}

func (w world) mark(name string) {
	f, err := os.OpenFile(filepath.Join(w.dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		panic(err)
	}
	fmt.Fprintln(f, "x")
	f.Sync()
	f.Close()
}

// hook is called mid-step (after the partial effect, before completion) with the attempt number.
type hook func(ctx context.Context, step string, run int) error

type fakeStep struct {
	name string
	w    world
	mid  hook
}

func (s *fakeStep) Name() string { return s.name }
func (s *fakeStep) Check(context.Context) (bool, error) {
	return s.w.done(s.name), nil
}
func (s *fakeStep) Run(ctx context.Context) error {
	s.w.mark("runs-" + s.name)
	s.w.mark("partial-" + s.name)
	if s.mid != nil {
		if err := s.mid(ctx, s.name, s.w.runs(s.name)); err != nil {
			return err
		}
	}
	s.w.mark("done-" + s.name)
	return nil
}
func (s *fakeStep) Summary() string { return "did " + s.name }

var stepNames = []string{"preflight", "deploy", "restore", "identities", "verify", "dns", "confirm"}

func testPlan(t testing.TB) *Plan {
	t.Helper()
	now := time.Now()
	p := &Plan{Version: PlanVersion, ID: "plan-1", Kind: KindFailover, Provider: "fake", From: "a", To: "b",
		CreatedAt: now, ExpiresAt: now.Add(time.Hour), Backup: BackupRef{ID: "bk", TakenAt: now.Add(-5 * time.Minute)}}
	for _, n := range stepNames {
		p.Steps = append(p.Steps, PlannedStep{Name: n, Action: "do " + n, ExpectedSeconds: 1})
	}
	if err := p.Seal(); err != nil {
		t.Fatal(err)
	}
	return p
}

func steps(w world, mid hook) []Step {
	out := make([]Step, len(stepNames))
	for i, n := range stepNames {
		out[i] = &fakeStep{name: n, w: w, mid: mid}
	}
	return out
}

func newEngine(t testing.TB, state string, j Journal) *Engine {
	t.Helper()
	lk, err := NewFileLock(state)
	if err != nil {
		t.Fatal(err)
	}
	if j == nil {
		fj, err := NewFileJournal(state, "plan-1")
		if err != nil {
			t.Fatal(err)
		}
		j = fj
	}
	return &Engine{Journal: j, Lock: lk}
}

func assertAllDone(t *testing.T, w world) {
	t.Helper()
	for _, n := range stepNames {
		if !w.done(n) {
			t.Errorf("step %s effect missing", n)
		}
	}
}

func TestApplyRunsAllStepsAndReports(t *testing.T) {
	state, w := t.TempDir(), world{t.TempDir()}
	p := testPlan(t)
	rep, err := newEngine(t, state, nil).Apply(context.Background(), p, steps(w, nil))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Resumed || len(rep.Steps) != len(stepNames) {
		t.Fatalf("report = %+v", rep)
	}
	for _, s := range rep.Steps {
		if s.Status != StatusCompleted || s.Detail != "did "+s.Name {
			t.Errorf("step %+v", s)
		}
	}
	if rep.RPOSeconds < 299 || rep.RPOSeconds > 400 {
		t.Errorf("RPO = %v, want ~300 s (backup 5 min old)", rep.RPOSeconds)
	}
	assertAllDone(t, w)

	// A second apply of a completed plan does nothing.
	rep2, err := newEngine(t, state, nil).Apply(context.Background(), p, steps(w, nil))
	if err != nil || !rep2.OK {
		t.Fatalf("re-apply: %v %+v", err, rep2)
	}
	for _, n := range stepNames {
		if w.runs(n) != 1 {
			t.Errorf("step %s ran %d times, want 1", n, w.runs(n))
		}
	}
}

// crashingJournal loses every append after the first `after` ones, like a process that dies at that
// point: nothing more reaches the journal.
type crashingJournal struct {
	Journal
	after int
	n     int
}

func (c *crashingJournal) Append(ctx context.Context, r Record) error {
	if c.n >= c.after {
		return errors.New("simulated crash")
	}
	c.n++
	return c.Journal.Append(ctx, r)
}

// TestResumeAfterCrashAtEveryBoundary crashes the apply after each journal record (every step
// boundary: before start, after start, after the effect but before the completion record) and
// checks that the resumed apply finishes, never redoes a step recorded complete, and leaves every
// effect in place.
func TestResumeAfterCrashAtEveryBoundary(t *testing.T) {
	// A clean run writes: apply-started + 2 per step + apply-completed.
	total := 2 + 2*len(stepNames)
	for k := 0; k <= total; k++ {
		t.Run(fmt.Sprintf("after-%d-records", k), func(t *testing.T) {
			state, w := t.TempDir(), world{t.TempDir()}
			p := testPlan(t)
			fj, _ := NewFileJournal(state, p.ID)
			_, err := newEngine(t, state, &crashingJournal{Journal: fj, after: k}).Apply(context.Background(), p, steps(w, nil))
			if k < total && err == nil {
				t.Fatalf("crash after %d records: apply reported success", k)
			}
			recs, _ := fj.Records(context.Background())
			before := Replay(recs)

			rep, err := newEngine(t, state, nil).Apply(context.Background(), p, steps(w, nil))
			if err != nil || !rep.OK {
				t.Fatalf("resume: %v %+v", err, rep)
			}
			assertAllDone(t, w)
			for _, n := range stepNames {
				if st := before.Steps[n]; st != nil && st.Done && w.runs(n) != 1 {
					t.Errorf("step %s was recorded complete before the crash but ran %d times", n, w.runs(n))
				}
				if w.runs(n) > 1 {
					t.Errorf("step %s ran %d times; its effect was in place, Check should have caught it", n, w.runs(n))
				}
			}
		})
	}
}

// TestResumeAfterInterruptionMidStep interrupts each step in its middle (partial effect written) by
// an error, a panic and a cancellation, then resumes.
func TestResumeAfterInterruptionMidStep(t *testing.T) {
	modes := map[string]func(cancel context.CancelFunc) hook{
		"error": func(context.CancelFunc) hook {
			return func(context.Context, string, int) error { return errors.New("injected failure") }
		},
		"panic": func(context.CancelFunc) hook {
			return func(context.Context, string, int) error { panic("injected panic") }
		},
		"cancel": func(cancel context.CancelFunc) hook {
			return func(ctx context.Context, _ string, _ int) error { cancel(); return ctx.Err() }
		},
	}
	for mode, mk := range modes {
		for _, victim := range stepNames {
			t.Run(mode+"/"+victim, func(t *testing.T) {
				state, w := t.TempDir(), world{t.TempDir()}
				p := testPlan(t)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				inject := mk(cancel)
				mid := func(ctx context.Context, step string, run int) error {
					if step == victim && run == 1 {
						return inject(ctx, step, run)
					}
					return nil
				}
				rep, err := newEngine(t, state, nil).Apply(ctx, p, steps(w, mid))
				if err == nil || rep.OK {
					t.Fatalf("interrupted apply succeeded: %+v", rep)
				}
				if !strings.Contains(err.Error(), victim) || !strings.Contains(err.Error(), "again") {
					t.Errorf("error %q should name the step and say to run again", err)
				}
				rep, err = newEngine(t, state, nil).Apply(context.Background(), p, steps(w, mid))
				if err != nil || !rep.OK || !rep.Resumed {
					t.Fatalf("resume: %v %+v", err, rep)
				}
				assertAllDone(t, w)
				for _, n := range stepNames {
					want := 1
					if n == victim {
						want = 2
					}
					if w.runs(n) != want {
						t.Errorf("step %s ran %d times, want %d", n, w.runs(n), want)
					}
				}
				for _, s := range rep.Steps {
					if s.Name == victim && s.Attempts != 2 {
						t.Errorf("victim report %+v, want 2 attempts", s)
					}
				}
			})
		}
	}
}

func TestApplyRefusesEditedExpiredAndForeignPlans(t *testing.T) {
	state, w := t.TempDir(), world{t.TempDir()}
	p := testPlan(t)
	edited := *p
	edited.To = "c"
	if _, err := newEngine(t, state, nil).Apply(context.Background(), &edited, steps(w, nil)); !errors.Is(err, ErrPlanEdited) {
		t.Fatalf("edited plan: err = %v", err)
	}
	old := testPlan(t)
	old.ExpiresAt = time.Now().Add(-time.Minute)
	old.Seal()
	if _, err := newEngine(t, t.TempDir(), nil).Apply(context.Background(), old, steps(w, nil)); !errors.Is(err, ErrPlanExpired) {
		t.Fatalf("expired plan: err = %v", err)
	}
	// The journal of plan-1 refuses another plan with the same id but other content.
	if _, err := newEngine(t, state, nil).Apply(context.Background(), p, steps(w, func(context.Context, string, int) error { return errors.New("x") })); err == nil {
		t.Fatal("want failure")
	}
	other := testPlan(t)
	other.Restore = "atlas"
	other.Seal()
	if _, err := newEngine(t, state, nil).Apply(context.Background(), other, steps(w, nil)); err == nil || !strings.Contains(err.Error(), "journal belongs to plan") {
		t.Fatalf("foreign plan on journal: err = %v", err)
	}
	// Steps that don't match the plan are refused.
	if _, err := newEngine(t, t.TempDir(), nil).Apply(context.Background(), testPlan(t), steps(w, nil)[:3]); !errors.Is(err, ErrStepsMismatch) {
		t.Fatalf("step mismatch: err = %v", err)
	}
}

func TestConcurrentApplyRefusedInProcess(t *testing.T) {
	state, w := t.TempDir(), world{t.TempDir()}
	p := testPlan(t)
	inStep := make(chan struct{})
	release := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		_, err := newEngine(t, state, nil).Apply(context.Background(), p, steps(w, func(_ context.Context, step string, _ int) error {
			if step == "deploy" {
				close(inStep)
				<-release
			}
			return nil
		}))
		errc <- err
	}()
	<-inStep
	_, err := newEngine(t, state, nil).Apply(context.Background(), p, steps(w, nil))
	var le *LockedError
	if !errors.As(err, &le) {
		t.Fatalf("second apply: err = %v, want LockedError", err)
	}
	msg := err.Error()
	for _, want := range []string{le.Holder.Owner, fmt.Sprint(os.Getpid()), le.Holder.Started.UTC().Format(time.RFC3339), UnlockHint} {
		if !strings.Contains(msg, want) {
			t.Errorf("lock message %q lacks %q", msg, want)
		}
	}
	close(release)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// The helper process: with FAILOVER_TEST_HELPER set, the test binary applies the plan in
// FAILOVER_TEST_STATE and blocks in the middle of step FAILOVER_TEST_BLOCK until killed.
func TestMain(m *testing.M) {
	if os.Getenv("FAILOVER_TEST_HELPER") == "1" {
		helperApply()
		return
	}
	os.Exit(m.Run())
}

func helperApply() {
	state, wdir, block := os.Getenv("FAILOVER_TEST_STATE"), os.Getenv("FAILOVER_TEST_WORLD"), os.Getenv("FAILOVER_TEST_BLOCK")
	p, err := ReadPlan(filepath.Join(state, "plan.json"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	w := world{wdir}
	lk, _ := NewFileLock(state)
	j, _ := NewFileJournal(state, p.ID)
	e := &Engine{Journal: j, Lock: lk, Progress: os.Stderr}
	_, err = e.Apply(context.Background(), p, steps(w, func(_ context.Context, step string, _ int) error {
		if step == block {
			w.mark("blocked")
			time.Sleep(time.Minute)
		}
		return nil
	}))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func startHelper(t *testing.T, state, wdir, block string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "FAILOVER_TEST_HELPER=1", "FAILOVER_TEST_STATE="+state, "FAILOVER_TEST_WORLD="+wdir, "FAILOVER_TEST_BLOCK="+block)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(wdir, "blocked")); err == nil {
			return cmd
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("helper never reached the blocking step")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestKill9MidStepThenResume kills a real apply process with SIGKILL in the middle of a step; the
// kernel drops its lock, and a new apply resumes: earlier steps are not redone, the interrupted
// step is re-checked and finished.
func TestKill9MidStepThenResume(t *testing.T) {
	for _, victim := range []string{"deploy", "dns"} {
		t.Run(victim, func(t *testing.T) {
			state, w := t.TempDir(), world{t.TempDir()}
			p := testPlan(t)
			if err := WritePlan(filepath.Join(state, "plan.json"), p); err != nil {
				t.Fatal(err)
			}
			cmd := startHelper(t, state, w.dir, victim)
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()

			rep, err := newEngine(t, state, nil).Apply(context.Background(), p, steps(w, nil))
			if err != nil || !rep.OK || !rep.Resumed {
				t.Fatalf("resume after kill -9: %v %+v", err, rep)
			}
			assertAllDone(t, w)
			seen := false
			for _, n := range stepNames {
				want := 1
				if n == victim {
					want, seen = 2, true
				}
				if w.runs(n) != want {
					t.Errorf("step %s ran %d times, want %d", n, w.runs(n), want)
				}
			}
			if !seen {
				t.Fatal("victim not in steps")
			}
		})
	}
}

// TestConcurrentApplyRefusedAcrossProcesses holds the lock in a real second process.
func TestConcurrentApplyRefusedAcrossProcesses(t *testing.T) {
	state, w := t.TempDir(), world{t.TempDir()}
	p := testPlan(t)
	if err := WritePlan(filepath.Join(state, "plan.json"), p); err != nil {
		t.Fatal(err)
	}
	cmd := startHelper(t, state, w.dir, "restore")
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	_, err := newEngine(t, state, nil).Apply(context.Background(), p, steps(w, nil))
	var le *LockedError
	if !errors.As(err, &le) || le.Holder.PID != cmd.Process.Pid {
		t.Fatalf("err = %v, want the lock held by pid %d", err, cmd.Process.Pid)
	}
	if !strings.Contains(err.Error(), UnlockHint) {
		t.Errorf("message lacks unlock hint: %v", err)
	}
	// Breaking a local lock held by a live process is refused with the pid to stop.
	lk, _ := NewFileLock(state)
	if _, err := lk.Break(context.Background()); err == nil || !strings.Contains(err.Error(), fmt.Sprint(cmd.Process.Pid)) {
		t.Fatalf("break of a live lock: %v", err)
	}
}
