package failover

import (
	"context"
	"os"
	"os/exec"
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
