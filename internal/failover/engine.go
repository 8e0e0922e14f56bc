package failover

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strings"
	"time"
)

// Engine executes plans. It holds no cloud knowledge: steps come from a Provider, the journal and
// lock from wherever the caller keeps them.
type Engine struct {
	Journal Journal
	Lock    Lock
	// Progress receives one line per step transition and the steps' own progress lines (stderr).
	Progress io.Writer
	// Now is the clock (tests inject one); nil means time.Now.
	Now func() time.Time
	// Me identifies this run in the lock; zero means CurrentLockInfo, named Operator when set.
	Me LockInfo
	// Operator names who applies (the configuration's operator name); default: the OS login.
	Operator string
	// IgnoreExpiry lets an apply start from an expired plan (never set by the CLI except when
	// resuming a started journal).
	IgnoreExpiry bool
	// Redo names steps the operator asks to run again although the journal records them done
	// (`apply --redo <step>`); each must be a step of the plan, and each request is journaled.
	Redo []string
}

// StepReport is one step's line in the report.
type StepReport struct {
	Name string `json:"name"`
	// Status: completed (ran now), already-done (Check found it done), done-before (completed in an
	// earlier, interrupted apply), failed, not-run.
	Status   string  `json:"status"`
	Seconds  float64 `json:"seconds"`
	Attempts int     `json:"attempts,omitempty"`
	Detail   string  `json:"detail,omitempty"`
	Error    string  `json:"error,omitempty"`
	// Resumed is true when the step was found half-done (started, never finished) in the journal.
	Resumed bool `json:"resumed,omitempty"`
}

// Step statuses.
const (
	StatusCompleted  = "completed"
	StatusAlready    = "already-done"
	StatusDoneBefore = "done-before"
	StatusFailed     = "failed"
	StatusNotRun     = "not-run"
)

// Report is what apply prints: per-step times, RTO, RPO and what changed.
type Report struct {
	OK       bool         `json:"ok"`
	PlanID   string       `json:"plan_id"`
	Kind     string       `json:"kind"`
	From     string       `json:"from"`
	To       string       `json:"to"`
	Resumed  bool         `json:"resumed"`
	Applies  int          `json:"applies"`
	Started  time.Time    `json:"started"`
	Finished time.Time    `json:"finished"`
	Steps    []StepReport `json:"steps"`
	// RTOSeconds is wall time from the first apply start to the end, interruptions included.
	RTOSeconds float64 `json:"rto_seconds"`
	// RPOSeconds is the age of the restored backup when this apply started: the data written after
	// it in the old region is what the failover loses.
	RPOSeconds float64 `json:"rpo_seconds"`
	// EngineSeconds is the time this apply spent outside step Check/Run (journal, lock, plan checks).
	EngineSeconds float64 `json:"engine_seconds"`
	// ApplySeconds is this apply's own wall time.
	ApplySeconds float64  `json:"apply_seconds"`
	Changes      []string `json:"changes,omitempty"`
	Error        string   `json:"error,omitempty"`
}

// ErrStepsMismatch is returned when the provider's steps do not match the plan's.
var ErrStepsMismatch = errors.New("the provider's steps do not match the plan")

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Engine) progress(format string, args ...any) {
	if e.Progress != nil {
		fmt.Fprintf(e.Progress, format+"\n", args...)
	}
}

// Apply executes plan's steps, resuming from the journal: steps recorded completed are not redone; a
// step that started but never finished is re-checked with Check and finished (Run again, which steps
// make safe to repeat) unless Check says it is already done.
func (e *Engine) Apply(ctx context.Context, plan *Plan, steps []Step) (rep *Report, err error) {
	t0 := e.now()
	var inSteps time.Duration
	rep = &Report{PlanID: plan.ID, Kind: plan.Kind, From: plan.From, To: plan.To}
	defer func() {
		rep.ApplySeconds = e.now().Sub(t0).Seconds()
		rep.EngineSeconds = max(rep.ApplySeconds-inSteps.Seconds(), 0)
		if err != nil {
			rep.Error = err.Error()
		}
	}()

	records, err := e.Journal.Records(ctx)
	if err != nil {
		return rep, err
	}
	prior := Replay(records)
	if prior.PlanID != "" && (prior.PlanID != plan.ID || prior.PlanHash != plan.Hash) {
		return rep, fmt.Errorf("the journal belongs to plan %s (hash %.12s), not this plan %s (hash %.12s): apply the plan file that journal was started with", prior.PlanID, prior.PlanHash, plan.ID, plan.Hash)
	}
	resuming := len(records) > 0
	if err := plan.Validate(t0, !resuming && !e.IgnoreExpiry); err != nil {
		return rep, err
	}
	if err := matchSteps(plan, steps); err != nil {
		return rep, err
	}
	for _, name := range e.Redo {
		if !slices.Contains(plan.StepNames(), name) {
			return rep, fmt.Errorf("--redo %q: plan %s has no such step (its steps: %s)", name, plan.ID, strings.Join(plan.StepNames(), ", "))
		}
	}

	me := e.Me
	if me.PID == 0 {
		me = CurrentLockInfo(plan.ID, t0)
		if e.Operator != "" {
			me.Owner = e.Operator
		}
	}
	if err := e.acquire(ctx, me); err != nil {
		return rep, err
	}
	defer func() {
		if rerr := e.Lock.Release(context.WithoutCancel(ctx), me); rerr != nil && err == nil {
			err = rerr
		}
	}()
	// Re-read under the lock: another apply may have progressed between our read and the lock.
	if records, err = e.Journal.Records(ctx); err != nil {
		return rep, err
	}
	prior = Replay(records)
	resuming = len(records) > 0
	rep.Resumed = resuming

	base := Record{PlanID: plan.ID, PlanHash: plan.Hash, Owner: me.Owner, Host: me.Host, PID: me.PID}
	appendRec := func(r Record) error {
		r.PlanID, r.PlanHash, r.Owner, r.Host, r.PID = base.PlanID, base.PlanHash, base.Owner, base.Host, base.PID
		if r.Time.IsZero() {
			r.Time = e.now().UTC()
		}
		if err := e.Journal.Append(context.WithoutCancel(ctx), r); err != nil {
			return fmt.Errorf("journal write failed, stopping so no action goes unrecorded (%w): fix the journal storage and run apply again to resume", err)
		}
		return nil
	}

	if prior.Completed && len(e.Redo) == 0 {
		e.progress("plan %s already completed at %s: nothing to do (`--redo <step>` runs a step again)", plan.ID, prior.Finished.Format(time.RFC3339))
		e.fillReport(rep, plan, prior, t0)
		return rep, nil
	}
	ev := ApplyStarted
	if resuming {
		ev = ApplyResumed
		e.progress("resuming plan %s from its journal (%d earlier apply run(s))", plan.ID, prior.Applies)
	}
	if err := appendRec(Record{Event: ev, Detail: fmt.Sprintf("%s %s -> %s", plan.Kind, plan.From, plan.To)}); err != nil {
		return rep, err
	}
	redo := map[string]bool{}
	for _, name := range e.Redo {
		redo[name] = true
		if err := appendRec(Record{Event: StepRedoRequested, Step: name, Detail: "the operator asked to redo it (--redo)"}); err != nil {
			return rep, err
		}
		e.progress("%s: will run again (--redo)", name)
	}

	statuses := map[string]*StepReport{}
	fail := func(cause error) (*Report, error) {
		_ = appendRec(Record{Event: ApplyFailed, Error: cause.Error()})
		recs, _ := e.Journal.Records(context.WithoutCancel(ctx))
		e.fillReport(rep, plan, Replay(recs), t0)
		for i := range rep.Steps {
			if s, ok := statuses[rep.Steps[i].Name]; ok && s.Status == StatusFailed {
				rep.Steps[i].Status, rep.Steps[i].Error = StatusFailed, s.Error
			}
		}
		return rep, cause
	}

	n := len(steps)
	for i, st := range steps {
		name := st.Name()
		ps := prior.Steps[name]
		if ps != nil && ps.Done && !redo[name] {
			gone, err := e.decayed(ctx, st, i, n, appendRec)
			if err != nil {
				statuses[name] = &StepReport{Name: name, Status: StatusFailed, Error: err.Error()}
				return fail(err)
			}
			if !gone {
				continue
			}
		}
		if err := ctx.Err(); err != nil {
			return fail(fmt.Errorf("interrupted before step %s: %w: run apply again to resume", name, err))
		}
		halfDone := ps != nil && ps.Started
		attempt := 1
		if ps != nil {
			attempt = ps.Attempts + 1
		}
		stepCtx := WithProgress(ctx, func(format string, args ...any) {
			e.progress("[%d/%d] %s: "+format, append([]any{i + 1, n, name}, args...)...)
		})

		ts := e.now()
		done, cerr := false, error(nil)
		if !redo[name] {
			done, cerr = safeCheck(stepCtx, st)
		}
		inSteps += e.now().Sub(ts)
		if cerr != nil {
			statuses[name] = &StepReport{Name: name, Status: StatusFailed, Error: cerr.Error()}
			_ = appendRec(Record{Event: StepFailed, Step: name, Attempt: attempt, Error: "check: " + cerr.Error(), Seconds: e.now().Sub(ts).Seconds()})
			return fail(fmt.Errorf("step %s: checking whether it is done failed: %w: fix the cause and run apply again to resume", name, cerr))
		}
		if done {
			detail := "already in place (checked)"
			if halfDone {
				detail = "was interrupted; found complete on re-check"
			}
			if s, ok := st.(Summarizer); ok && s.Summary() != "" {
				detail += ": " + s.Summary()
			}
			if err := appendRec(Record{Event: StepAlreadyDone, Step: name, Attempt: attempt, Seconds: e.now().Sub(ts).Seconds(), Detail: detail}); err != nil {
				return fail(err)
			}
			e.progress("[%d/%d] %s: %s", i+1, n, name, detail)
			continue
		}
		if halfDone {
			e.progress("[%d/%d] %s: was interrupted mid-step; not complete on re-check, running it again (attempt %d)", i+1, n, name, attempt)
		} else {
			e.progress("[%d/%d] %s: starting", i+1, n, name)
		}
		if err := appendRec(Record{Event: StepStarted, Step: name, Attempt: attempt}); err != nil {
			return fail(err)
		}
		tr := e.now()
		rerr := safeRun(stepCtx, st)
		d := e.now().Sub(tr)
		inSteps += d
		if rerr != nil {
			statuses[name] = &StepReport{Name: name, Status: StatusFailed, Error: rerr.Error()}
			_ = appendRec(Record{Event: StepFailed, Step: name, Attempt: attempt, Seconds: d.Seconds(), Error: rerr.Error()})
			e.progress("[%d/%d] %s: FAILED after %s: %v", i+1, n, name, d.Round(time.Millisecond), rerr)
			return fail(fmt.Errorf("step %s failed: %w: fix the cause and run the same apply again; completed steps are not redone", name, rerr))
		}
		detail := ""
		if s, ok := st.(Summarizer); ok {
			detail = s.Summary()
		}
		if err := appendRec(Record{Event: StepCompleted, Step: name, Attempt: attempt, Seconds: (d + tr.Sub(ts)).Seconds(), Detail: detail}); err != nil {
			return fail(err)
		}
		e.progress("[%d/%d] %s: done in %s%s", i+1, n, name, d.Round(time.Millisecond), suffix(detail))
	}
	if err := appendRec(Record{Event: ApplyCompleted}); err != nil {
		return fail(err)
	}
	recs, err := e.Journal.Records(ctx)
	if err != nil {
		return rep, err
	}
	e.fillReport(rep, plan, Replay(recs), t0)
	return rep, nil
}

// decayed says, for a step the journal records done, whether its effect is gone: only a Decayer is
// checked again (the journal answers for every other step); a gone effect is journaled
// (StepDecayed) and the step runs again.
func (e *Engine) decayed(ctx context.Context, st Step, i, n int, appendRec func(Record) error) (bool, error) {
	name := st.Name()
	d, ok := st.(Decayer)
	if !ok || !d.Decays() {
		e.progress("[%d/%d] %s: done earlier, skipping", i+1, n, name)
		return false, nil
	}
	done, err := safeCheck(ctx, st)
	if err != nil {
		_ = appendRec(Record{Event: StepFailed, Step: name, Error: "re-check of a completed step: " + err.Error()})
		return false, fmt.Errorf("step %s: checking that its effect is still in place failed: %w: fix the cause and run apply again to resume", name, err)
	}
	if done {
		e.progress("[%d/%d] %s: done earlier, still in place (checked again)", i+1, n, name)
		return false, nil
	}
	e.progress("[%d/%d] %s: done earlier, but its effect is gone (checked again): running it again", i+1, n, name)
	if err := appendRec(Record{Event: StepDecayed, Step: name, Detail: "done earlier; its effect was gone on resume"}); err != nil {
		return false, err
	}
	return true, nil
}

func suffix(detail string) string {
	if detail == "" {
		return ""
	}
	return ": " + detail
}

// acquire takes the lock; a lock whose holder is provably dead on this host is taken over.
func (e *Engine) acquire(ctx context.Context, me LockInfo) error {
	err := e.Lock.Acquire(ctx, me)
	var le *LockedError
	if !errors.As(err, &le) || !HolderDead(le.Holder) {
		return err
	}
	e.progress("lock held by dead process %d on this host (owner %s, started %s): taking it over", le.Holder.PID, le.Holder.Owner, le.Holder.Started.Format(time.RFC3339))
	if _, berr := e.Lock.Break(ctx); berr != nil {
		return err
	}
	if err := e.Lock.Acquire(ctx, me); err != nil {
		return err
	}
	return e.Journal.Append(ctx, Record{Time: e.now().UTC(), PlanID: me.PlanID, Event: LockTakenOver,
		Detail: fmt.Sprintf("stale lock of pid %d (owner %s, host %s, started %s)", le.Holder.PID, le.Holder.Owner, le.Holder.Host, le.Holder.Started.Format(time.RFC3339)),
		Owner:  me.Owner, Host: me.Host, PID: me.PID})
}

// fillReport builds the per-step report from the journal state.
func (e *Engine) fillReport(rep *Report, plan *Plan, s *State, applyStart time.Time) {
	rep.Applies = s.Applies
	rep.Started = s.Started
	rep.OK = s.Completed
	end := s.Finished
	if end.IsZero() {
		end = e.now()
	}
	rep.Finished = end
	if !s.Started.IsZero() {
		rep.RTOSeconds = end.Sub(s.Started).Seconds()
	}
	if !plan.Backup.TakenAt.IsZero() {
		start := s.Started
		if start.IsZero() {
			start = applyStart
		}
		rep.RPOSeconds = start.Sub(plan.Backup.TakenAt).Seconds()
	}
	rep.Steps = rep.Steps[:0]
	rep.Changes = nil
	for _, ps := range plan.Steps {
		sr := StepReport{Name: ps.Name, Status: StatusNotRun}
		if st, ok := s.Steps[ps.Name]; ok {
			sr.Seconds, sr.Attempts, sr.Detail, sr.Error = st.Seconds, st.Attempts, st.Detail, st.Error
			sr.Resumed = st.Attempts > 1
			switch {
			case st.Done && st.AlreadyDone:
				sr.Status = StatusAlready
			case st.Done && st.DoneAt.Before(applyStart):
				sr.Status = StatusDoneBefore
			case st.Done:
				sr.Status = StatusCompleted
			case st.Failed:
				sr.Status = StatusFailed
			}
			if st.Done && st.Detail != "" && !st.AlreadyDone {
				rep.Changes = append(rep.Changes, ps.Name+": "+st.Detail)
			}
		}
		rep.Steps = append(rep.Steps, sr)
	}
}

func matchSteps(plan *Plan, steps []Step) error {
	got := make([]string, len(steps))
	for i, s := range steps {
		got[i] = s.Name()
	}
	want := plan.StepNames()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		return fmt.Errorf("%w: plan has [%s], provider %q builds [%s]: make the plan with this caro version", ErrStepsMismatch, strings.Join(want, ", "), plan.Provider, strings.Join(got, ", "))
	}
	return nil
}

// safeRun runs a step, turning a panic into an error so the failure is journaled.
func safeRun(ctx context.Context, st Step) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	return st.Run(ctx)
}

func safeCheck(ctx context.Context, st Step) (done bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic in check: %v", r)
		}
	}()
	return st.Check(ctx)
}

// StatusOf reads the journal and returns its replayed state, for `caro failover status`. A journal
// with damaged records still returns the state of the others, with the *DamagedError.
func StatusOf(ctx context.Context, j Journal) (*State, []Record, error) {
	recs, err := j.Records(ctx)
	var damaged *DamagedError
	if err != nil && !errors.As(err, &damaged) {
		return nil, nil, err
	}
	return Replay(recs), recs, err
}
