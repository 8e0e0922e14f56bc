package ledger

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// splitBuckets moves checkpoints from..to-1 of f's bucket into a second bucket, as after a failover
// (the earlier ones in the old primary's bucket, the later ones in the standby's own).
func splitBuckets(f *fixture, from, to uint64) *memBucket {
	b := newMemBucket()
	for n := from; n < to; n++ {
		k := CheckpointKey(n)
		b.objs[k], b.ret[k] = f.bucket.objs[k], f.bucket.ret[k]
		delete(f.bucket.objs, k)
		delete(f.bucket.ret, k)
	}
	return b
}

func TestMergedCheckpointsReadsOneSeriesFromTwoBuckets(t *testing.T) {
	ctx := context.Background()
	f, a, b := twoKeyFixture(t)
	other := splitBuckets(f, 2, 4)
	merged := NewMergedCheckpoints(CheckpointSource{Name: "s3://a", Checkpoints: f.bucket, Locks: f.bucket},
		CheckpointSource{Name: "s3://b", Checkpoints: other, Locks: other})
	v := &Verifier{Entries: f.store, Checkpoints: merged, Locks: merged, RetentionYears: DefaultRetentionYears,
		PublicKeys: KeyRing{a.ID: &a.Key.PublicKey, b.ID: &b.Key.PublicKey}}
	// GIVEN checkpoints 0-1 in bucket a and 2-3 in bucket b THEN the merged series verifies
	if rep, err := v.Verify(ctx, VerifyOptions{}); err != nil || !rep.OK || rep.CheckpointsVerified != 4 {
		t.Fatalf("%+v %v", rep, err)
	}
	// AND one bucket alone stops at the gap
	alone := *v
	alone.Checkpoints, alone.Locks = other, other
	if rep, _ := alone.Verify(ctx, VerifyOptions{}); rep.OK || !strings.Contains(rep.FirstBad.Reason, "missing") {
		t.Fatalf("alone: %+v", rep.FirstBad)
	}
	// WHEN both hold checkpoint 1 identically (a replica) THEN it still verifies
	k1 := CheckpointKey(1)
	other.objs[k1], other.ret[k1] = f.bucket.objs[k1], f.bucket.ret[k1]
	if rep, _ := v.Verify(ctx, VerifyOptions{}); !rep.OK {
		t.Fatalf("identical copies: %+v", rep.FirstBad)
	}
	// WHEN the copy in b has a weaker lock THEN that is the problem
	other.ret[k1] = Retention{Mode: "GOVERNANCE", RetainUntil: time.Now().AddDate(20, 0, 0)}
	if rep, _ := v.Verify(ctx, VerifyOptions{}); rep.OK || *rep.FirstBad.Checkpoint != 1 || !strings.Contains(rep.FirstBad.Reason, "GOVERNANCE") {
		t.Fatalf("weak lock: %+v", rep.FirstBad)
	}
	other.ret[k1] = f.bucket.ret[k1]
	// WHEN b holds a different, validly signed checkpoint 1 THEN the conflict is checkpoint 1's problem
	alt := *f.bucket.objs[k1].Checkpoint
	alt.Time = alt.Time.Add(time.Second)
	if err := alt.Sign(ctx, a); err != nil {
		t.Fatal(err)
	}
	other.objs[k1] = StoredCheckpoint{Key: k1, Checkpoint: &alt}
	list, _ := merged.ListCheckpoints(ctx)
	if !errors.Is(list[1].Err, ErrCheckpointConflict) {
		t.Fatalf("listing: %+v", list[1])
	}
	rep, _ := v.Verify(ctx, VerifyOptions{})
	if rep.OK || *rep.FirstBad.Checkpoint != 1 || !strings.Contains(rep.FirstBad.Reason, "s3://a and s3://b hold different checkpoints") {
		t.Fatalf("conflict: %+v", rep.FirstBad)
	}
}
