package erasure

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestRegistersListsTheUnionOfTwoBuckets: after a failover and failback the region's own bucket
// and its replica of the peer's each hold erasures the other lacks; a restore needs both.
func TestRegistersListsTheUnionOfTwoBuckets(t *testing.T) {
	ctx := context.Background()
	own, replica := newStore(t), newStore(t)
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	// GIVEN an erasure only in the own bucket, one only in the replica, and one in both
	// (replicated: the replica's copy is the same subject, recorded later by a retry)
	for _, rec := range []struct {
		reg *Register
		e   Erasure
	}{
		{NewRegister(own), Erasure{TenantID: "t-one", PatientID: pidA, ErasedAt: t0, RequestID: "own"}},
		{NewRegister(replica), Erasure{TenantID: "t-two", PatientID: pidB, ErasedAt: t0.Add(time.Hour), RequestID: "peer"}},
		{NewRegister(own), Erasure{TenantID: "t-two", PatientID: pidA, ErasedAt: t0.Add(2 * time.Hour), RequestID: "both"}},
		{NewRegister(replica), Erasure{TenantID: "t-two", PatientID: pidA, ErasedAt: t0.Add(3 * time.Hour), RequestID: "both-retry"}},
	} {
		if err := rec.reg.Record(ctx, rec.e); err != nil {
			t.Fatal(err)
		}
	}
	// WHEN both are read as one
	src := BucketsRegister([]string{"s3://own", "s3://replica"}, own, replica)
	all, err := src.List(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	// THEN every subject is listed once, in order, the duplicate with its earliest erasure
	if len(all) != 3 || all[0].TenantID != "t-one" || all[1].PatientID != pidA || all[1].RequestID != "both" ||
		!all[1].ErasedAt.Equal(t0.Add(2*time.Hour)) || all[2].PatientID != pidB {
		t.Fatalf("union %+v", all)
	}
	// AND the since filter applies to each
	later, err := src.List(ctx, t0.Add(90*time.Minute))
	if err != nil || len(later) != 1 || later[0].RequestID != "both" {
		t.Fatalf("since: %+v %v", later, err)
	}
}

// TestRegistersRefusesAPartialUnion: one unreadable bucket fails the whole list, naming it.
func TestRegistersRefusesAPartialUnion(t *testing.T) {
	ctx := context.Background()
	own := newStore(t)
	if err := NewRegister(own).Record(ctx, Erasure{TenantID: "t", PatientID: pidA, ErasedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	// GIVEN a readable own bucket and an unreachable replica
	src := BucketsRegister([]string{"s3://own", "s3://replica"}, own, failingStore{})
	// WHEN listing
	l, err := src.List(ctx, time.Time{})
	// THEN nothing is listed and the error names the bucket
	if !errors.Is(err, errUnreachable) || l != nil || !strings.Contains(err.Error(), "s3://replica") {
		t.Fatalf("got %v %v", l, err)
	}
}
