package failover

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// memLock is a lock that outlives its holder, like the S3 lock.
type memLock struct{ holder *LockInfo }

func (m *memLock) Acquire(_ context.Context, me LockInfo) error {
	if m.holder != nil {
		return &LockedError{Holder: *m.holder, Where: "mem"}
	}
	m.holder = &me
	return nil
}
func (m *memLock) Release(context.Context, LockInfo) error { m.holder = nil; return nil }
func (m *memLock) Holder(context.Context) (*LockInfo, error) {
	return m.holder, nil
}
func (m *memLock) Break(context.Context) (*LockInfo, error) {
	h := m.holder
	m.holder = nil
	return h, nil
}

func TestStaleLockOfDeadProcessOnThisHostIsTakenOver(t *testing.T) {
	// GIVEN a lock left by a process of this host that no longer exists (kill -9 with an S3 lock)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skip("no `true` binary")
	}
	host, _ := os.Hostname()
	lk := &memLock{holder: &LockInfo{Owner: "alice", Host: host, PID: dead.Process.Pid, Started: time.Now().Add(-time.Hour)}}
	state, w := t.TempDir(), world{t.TempDir()}
	j, _ := NewFileJournal(state, "plan-1")
	// WHEN apply runs
	rep, err := (&Engine{Journal: j, Lock: lk}).Apply(context.Background(), testPlan(t), steps(w, nil))
	// THEN it takes the lock over, records that, and completes
	if err != nil || !rep.OK {
		t.Fatalf("%v %+v", err, rep)
	}
	recs, _ := j.Records(context.Background())
	if len(recs) == 0 || recs[0].Event != LockTakenOver {
		t.Fatalf("first record %+v, want lock-taken-over", recs[0])
	}
	// AND a lock held by another host is never presumed dead
	lk.holder = &LockInfo{Owner: "bob", Host: "other-laptop", PID: dead.Process.Pid, Started: time.Now()}
	if HolderDead(*lk.holder) {
		t.Fatal("holder on another host presumed dead")
	}
	// AND neither is a live process here
	if HolderDead(CurrentLockInfo("p", time.Now())) {
		t.Fatal("this process presumed dead")
	}
}

// BenchmarkEngineOverheadPerStep measures what the engine adds per step (journal fsyncs, lock,
// replay) around steps that do nothing: the drill's overhead budget is 2 % of the apply.
func BenchmarkEngineOverheadPerStep(b *testing.B) {
	p := testPlan(b)
	for i := 0; i < b.N; i++ {
		state := b.TempDir()
		j, _ := NewFileJournal(state, p.ID)
		lk, _ := NewFileLock(state)
		ss := make([]Step, len(stepNames))
		for k, n := range stepNames {
			ss[k] = &StepFunc{StepName: n, RunFunc: func(context.Context) error { return nil }}
		}
		rep, err := (&Engine{Journal: j, Lock: lk}).Apply(context.Background(), p, ss)
		if err != nil || !rep.OK {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(stepNames)), "µs/step")
}

// TestARecycledPIDIsADeadHolder: a lock whose PID now belongs to a process that started at another
// time is the lock of a dead holder (issue 23, mutant 3: without the start-time check a recycled
// PID keeps a stale lock alive forever); the same PID with its own start time is alive.
func TestARecycledPIDIsADeadHolder(t *testing.T) {
	me := CurrentLockInfo("p", time.Now())
	if me.ProcStart == 0 {
		t.Skip("no /proc start times here")
	}
	if HolderDead(me) {
		t.Fatal("this process, with its own start time, presumed dead")
	}
	recycled := me
	recycled.ProcStart = me.ProcStart + 1 // the holder's process started at another time: the PID was reused
	if !HolderDead(recycled) {
		t.Fatal("a recycled PID kept the lock of a dead holder alive")
	}
	unknown := me
	unknown.ProcStart = 0 // an older lock without a start time: only the PID can be checked
	if HolderDead(unknown) {
		t.Fatal("a live PID without a recorded start time presumed dead")
	}
}

// TestStatusAndUnlockNeverMakeAnApplyRefuse: a status (or unlock) probing the lock at the very
// moment an apply takes it must not make the apply refuse.
func TestStatusAndUnlockNeverMakeAnApplyRefuse(t *testing.T) {
	ctx := context.Background()
	state := t.TempDir()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		probe := &FileLock{Path: filepath.Join(state, "failover.lock")}
		for {
			select {
			case <-stop:
				return
			default:
				_, _ = probe.Holder(ctx)
			}
		}
	}()
	defer func() { close(stop); <-done }()
	for i := range 200 {
		lk, err := NewFileLock(state)
		if err != nil {
			t.Fatal(err)
		}
		me := CurrentLockInfo("p", time.Now())
		if err := lk.Acquire(ctx, me); err != nil {
			t.Fatalf("attempt %d: an apply refused while only a status probed the lock: %v", i, err)
		}
		if err := lk.Release(ctx, me); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTheLockRefusalAlwaysNamesTheOwner: a refusal read while the holder has not written its record
// yet, or after it wrote garbage, still names a login, a PID and a start time (from the kernel's
// lock table), never an empty owner, pid 0 or year 1.
func TestTheLockRefusalAlwaysNamesTheOwner(t *testing.T) {
	ctx := context.Background()
	for _, owner := range []string{"", "{\"owner\": \"half", "{\"owner\":\"\",\"pid\":0}"} {
		t.Run(fmt.Sprintf("owner file %q", owner), func(t *testing.T) {
			state := t.TempDir()
			holder, _ := NewFileLock(state)
			me := CurrentLockInfo("p", time.Now())
			if err := holder.Acquire(ctx, me); err != nil {
				t.Fatal(err)
			}
			defer holder.Release(ctx, me)
			// the record as a holder that has just taken the flock (or a broken one) leaves it
			if owner == "" {
				os.Remove(holder.ownerPath())
			} else {
				os.WriteFile(holder.ownerPath(), []byte(owner), 0o600)
			}
			other := &FileLock{Path: holder.Path, Wait: 100 * time.Millisecond}
			err := other.Acquire(ctx, CurrentLockInfo("q", time.Now()))
			var le *LockedError
			if !errors.As(err, &le) {
				t.Fatalf("err = %v", err)
			}
			h := le.Holder
			if h.Owner == "" || h.PID == 0 || h.Started.IsZero() || h.Started.Year() < 2000 {
				t.Fatalf("refusal names %+v: %v", h, err)
			}
			if h.PID != os.Getpid() {
				t.Errorf("refusal names pid %d, the holder is %d", h.PID, os.Getpid())
			}
			for _, bad := range []string{"pid 0", "0001-01-01", "owner  "} {
				if strings.Contains(err.Error(), bad) {
					t.Errorf("refusal %q contains %q", err, bad)
				}
			}
		})
	}
	// AND with the record in place it names exactly that
	state := t.TempDir()
	holder, _ := NewFileLock(state)
	me := CurrentLockInfo("p", time.Now())
	me.Owner = "alice"
	if err := holder.Acquire(ctx, me); err != nil {
		t.Fatal(err)
	}
	defer holder.Release(ctx, me)
	h, err := (&FileLock{Path: holder.Path}).Holder(ctx)
	if err != nil || h == nil || h.Owner != "alice" || h.PID != os.Getpid() || !h.Started.Equal(me.Started) {
		t.Fatalf("holder %+v %v", h, err)
	}
}
