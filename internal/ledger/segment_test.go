package ledger_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/internal/ledger/ledgertest"
	"github.com/carohealth/platform/internal/localstack"
)

// yearlyLedger is a ledger written over several years with a pinned clock: the checkpointer cuts a
// checkpoint every 5 entries and the sealer runs after it, as in the audit writer.
type yearlyLedger struct {
	t      *testing.T
	env    *ledgertest.Env
	now    time.Time
	cpr    *ledger.Checkpointer
	sealer *ledger.Sealer
	n      int
}

func newYearlyLedger(t *testing.T) *yearlyLedger {
	t.Helper()
	y := &yearlyLedger{t: t, env: servers.NewEnv(t)}
	clock := func() time.Time { return y.now }
	y.cpr = y.env.Checkpointer(5)
	y.cpr.Now = clock
	y.sealer = &ledger.Sealer{Records: y.env.Store, Seals: y.env.Bucket, Signer: y.env.Signer, Now: clock}
	prev := servers.Shim.Now
	servers.Shim.Now = clock
	t.Cleanup(func() { servers.Shim.Now = prev })
	return y
}

// year appends ten events on the given day (two checkpoints), running the checkpointer and the
// sealer after each, and returns the seals written.
func (y *yearlyLedger) year(day string) []*ledger.Seal {
	y.t.Helper()
	ctx := context.Background()
	var err error
	if y.now, err = time.Parse(time.DateOnly, day); err != nil {
		y.t.Fatal(err)
	}
	l := &ledger.Ledger{Store: y.env.Store}
	var seals []*ledger.Seal
	for range 10 {
		y.n++
		ev := audit.Event{ID: audit.NewEventID(), Time: y.now, Actor: "sub-1", TenantID: "t1", Action: "patient:write",
			ResourceType: "patient", ResourceID: fmt.Sprintf("p%d", y.n), Interface: audit.InterfaceAPI, RequestID: fmt.Sprintf("r%d", y.n),
			AfterHash: fmt.Sprintf("%064x", y.n)}
		if _, _, err := l.Append(ctx, ev); err != nil {
			y.t.Fatal(err)
		}
		if _, err := y.cpr.Run(ctx); err != nil {
			y.t.Fatal(err)
		}
		s, err := y.sealer.Run(ctx)
		if err != nil {
			y.t.Fatal(err)
		}
		seals = append(seals, s...)
	}
	return seals
}

func (y *yearlyLedger) at(day string) {
	y.t.Helper()
	var err error
	if y.now, err = time.Parse(time.DateOnly, day); err != nil {
		y.t.Fatal(err)
	}
}

func (y *yearlyLedger) verify(incremental bool) *ledger.Report {
	y.t.Helper()
	v := y.env.Verifier(y.t)
	v.Now = func() time.Time { return y.now }
	rep, err := v.Verify(context.Background(), ledger.VerifyOptions{Incremental: incremental})
	if err != nil {
		y.t.Fatal(err)
	}
	return rep
}

// deleteBehindTheLock deletes every version of checkpoint objects first..last straight from the S3
// server, around the Object Lock shim: what an attacker with the storage itself could do.
func (y *yearlyLedger) deleteBehindTheLock(first, last uint64) {
	y.t.Helper()
	ctx := context.Background()
	raw := s3.NewFromConfig(localstack.AWSConfig(ledgertest.Region, servers.S3.Endpoint()), func(o *s3.Options) { o.UsePathStyle = true })
	for n := first; n <= last; n++ {
		out, err := raw.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(y.env.BucketName), Prefix: aws.String(ledger.CheckpointKey(n))})
		if err != nil {
			y.t.Fatal(err)
		}
		for _, v := range out.Versions {
			if _, err := raw.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(y.env.BucketName), Key: v.Key, VersionId: v.VersionId}); err != nil {
				y.t.Fatal(err)
			}
		}
	}
}

// fourYears writes 2026 to 2029, each year's segment sealed early the next year.
func fourYears(t *testing.T) *yearlyLedger {
	y := newYearlyLedger(t)
	if s := y.year("2026-03-01"); len(s) != 0 {
		t.Fatalf("sealed during its own year: %+v", s)
	}
	for i, day := range []string{"2027-02-01", "2028-02-01", "2029-02-01"} {
		s := y.year(day)
		// THEN the first run of a new year seals the year before, at its last checkpoint
		if len(s) != 1 || s[0].Segment != 2026+i || s[0].Final.Number != uint64(2*i+1) || s[0].FirstCheckpoint != uint64(2*i) {
			t.Fatalf("seals of %s: %+v", day, s)
		}
	}
	return y
}

func TestSegmentsAreSealedAndARetiredSegmentVerifies(t *testing.T) {
	ctx := context.Background()
	// GIVEN a ledger of four yearly segments (checkpoints 0-1, 2-3, 4-5, 6-7), verified and recorded
	// once in 2027 (the record of checkpoint 3)
	y := fourYears(t)
	y.at("2027-06-01")
	if rep := y.verify(false); !rep.OK || rep.Retired != nil || rep.EntriesVerified != 40 {
		t.Fatalf("before any retention ended: %+v %v", rep, rep.FirstBad)
	}
	old := y.verify(true)
	old.Proven.Checkpoint, old.Proven.TreeSize = 3, 20 // a record of checkpoint 3, as a 2027 run would have written
	cp3, err := y.env.Bucket.GetCheckpoint(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	old.Proven.RootHash, old.Proven.CheckpointDigest, old.Proven.ConsistencyProof = cp3.RootHash, cp3.Digest(), nil
	if _, err := ledger.RecordVerification(ctx, old, y.env.Signer, y.env.Bucket, 9, y.now); err != nil {
		t.Fatal(err)
	}

	// WHEN the retention of 2026 and 2027 has ended (their finals were cut in March 2026 and
	// February 2027), before anything is deleted
	y.at("2036-06-01")
	for _, incremental := range []bool{false, true} {
		rep := y.verify(incremental)
		// THEN verification starts from 2027's seal: checkpoints 4-7 and entries 20-39
		if !rep.OK || rep.Retired == nil || rep.Retired.Segment != 2027 || rep.Retired.Checkpoint != 3 || rep.FromSeq != 20 || rep.EntriesVerified != 20 {
			t.Fatalf("incremental %v, retention of 2026-2027 ended: %+v %v", incremental, rep, rep.FirstBad)
		}
	}

	// WHEN the expired segments are retired
	rep, err := ledger.Retire(ctx, ledger.RetireOptions{Store: y.env.Store, Bucket: y.env.Bucket, PublicKey: mustKey(t, y.env), Now: func() time.Time { return y.now }})
	if err != nil {
		t.Fatal(err)
	}
	// THEN their checkpoints, record, entries and checkpoint records are gone, the rest is not
	// (the verification record of checkpoint 3, written months after it, is still locked: deferred)
	if fmt.Sprint(rep.Segments) != "[2026 2027]" || rep.Entries != 20 || rep.Records != 4 || rep.Objects != 4 || rep.Deferred != 1 || rep.Base == nil || *rep.Base != 3 {
		t.Fatalf("retired %+v", rep)
	}
	stored, err := y.env.Bucket.ListCheckpoints(ctx)
	if err != nil || len(stored) != 4 || stored[0].Key != ledger.CheckpointKey(4) {
		t.Fatalf("checkpoints left: %d (%v)", len(stored), err)
	}
	if n, _ := y.env.DB.Collection(ledger.EntriesCollection).CountDocuments(ctx, bson.D{}); n != 20 {
		t.Fatalf("%d entries left, want 20", n)
	}
	// AND the ledger whose oldest segments were retired verifies, fully and incrementally
	for _, incremental := range []bool{false, true} {
		if rep := y.verify(incremental); !rep.OK || rep.Retired == nil || rep.EntriesVerified != 20 || rep.CheckpointsVerified != 5 {
			t.Fatalf("incremental %v after retirement: %+v %v", incremental, rep, rep.FirstBad)
		}
	}
	// AND retiring again changes nothing
	if again, err := ledger.Retire(ctx, ledger.RetireOptions{Store: y.env.Store, Bucket: y.env.Bucket, PublicKey: mustKey(t, y.env), Now: func() time.Time { return y.now }}); err != nil || len(again.Segments) != 0 || again.Deferred != 1 {
		t.Fatalf("second retirement %+v %v", again, err)
	}
	// AND once the record's own lock has ended, a run deletes it too
	y.at("2036-06-03")
	if later, err := ledger.Retire(ctx, ledger.RetireOptions{Store: y.env.Store, Bucket: y.env.Bucket, PublicKey: mustKey(t, y.env), Now: func() time.Time { return y.now }}); err != nil || later.Objects != 1 || later.Deferred != 0 {
		t.Fatalf("later retirement %+v %v", later, err)
	}

	// WHEN a middle segment (2028, still within its retention) is deleted behind the Object Lock
	y.deleteBehindTheLock(4, 5)
	// THEN verification refuses, naming the missing checkpoint
	if rep := y.verify(false); rep.OK || rep.FirstBad == nil || !strings.Contains(rep.FirstBad.Reason, "checkpoint 4") {
		t.Fatalf("a deleted middle segment verified: %+v %v", rep, rep.FirstBad)
	}
}

func TestASegmentRemovedBeforeItsRetentionEndedDoesNotVerify(t *testing.T) {
	ctx := context.Background()
	// GIVEN the same ledger in 2035, when no segment's retention has ended yet
	y := fourYears(t)
	y.at("2035-01-15")
	// WHEN retirement runs THEN it deletes nothing (the locks have not ended)
	rep, err := ledger.Retire(ctx, ledger.RetireOptions{Store: y.env.Store, Bucket: y.env.Bucket, PublicKey: mustKey(t, y.env), Now: func() time.Time { return y.now }})
	if err != nil || len(rep.Segments) != 0 || rep.Objects != 0 || rep.Entries != 0 {
		t.Fatalf("retired early: %+v %v", rep, err)
	}
	// WHEN the oldest segment is deleted anyway, behind the lock, with its entries
	y.deleteBehindTheLock(0, 1)
	if _, err := y.env.DB.Collection(ledger.EntriesCollection).DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$lt", Value: ledger.EntryDocID(10)}}}}); err != nil {
		t.Fatal(err)
	}
	// THEN verification refuses: a segment within its retention is missing
	if rep := y.verify(false); rep.OK || rep.Retired != nil {
		t.Fatalf("a segment deleted before its retention ended verified: %+v", rep)
	}
}

func mustKey(t *testing.T, e *ledgertest.Env) any {
	t.Helper()
	pub, err := ledger.ParsePublicKey(e.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}
