package ledger_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/internal/ledger/ledgertest"
)

func appendMore(t *testing.T, env *ledgertest.Env, from, to int) {
	t.Helper()
	ctx := context.Background()
	l := &ledger.Ledger{Store: env.Store}
	cpr := env.Checkpointer(10)
	for i := from; i < to; i++ {
		if _, _, err := l.Append(ctx, ledger.TestEvent(i, "t1")); err != nil {
			t.Fatal(err)
		}
		if _, err := cpr.Run(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func TestIncrementalVerificationStartsFromTheLastSignedRecord(t *testing.T) {
	ctx := context.Background()
	incremental := ledger.VerifyOptions{Incremental: true}
	// GIVEN 35 entries (checkpoints 0-2 anchoring 30) and no verification record
	env := filled(t, 35, 10)
	v := env.Verifier(t)
	// WHEN verified incrementally THEN it is a full pass that proves checkpoint 2
	rep, err := v.Verify(ctx, incremental)
	if err != nil || !rep.OK || rep.IncrementalFrom != nil || rep.EntriesVerified != 35 || rep.Proven == nil || rep.Proven.Checkpoint != 2 {
		t.Fatalf("first: %+v %v", rep, err)
	}
	// AND its record, signed in KMS, is kept in the bucket beside the checkpoints
	rec, err := ledger.RecordVerification(ctx, rep, env.Signer, env.Bucket, 9, time.Now())
	if err != nil || rec == nil || !rec.Full {
		t.Fatalf("record: %+v %v", rec, err)
	}
	r, err := env.Bucket.Retention(ctx, ledger.VerificationKey(2))
	if err != nil || r.Mode != ledger.ObjectLockCompliance {
		t.Fatalf("record's lock: %+v %v", r, err)
	}
	if rep, err := v.Verify(ctx, ledger.VerifyOptions{}); err != nil || !rep.OK || rep.CheckpointsVerified != 3 {
		t.Fatalf("the listing of checkpoints must skip the record: %+v %v", rep, err)
	}

	// WHEN 30 more entries are appended (checkpoints 3-5) and verified incrementally
	appendMore(t, env, 35, 65)
	rep, err = v.Verify(ctx, incremental)
	// THEN it starts at checkpoint 2's tree, checks only the 35 entries after it, and proves
	// checkpoint 5 consistent with checkpoint 2 (RFC 9162)
	if err != nil || !rep.OK || rep.IncrementalFrom == nil || rep.IncrementalFrom.Checkpoint != 2 || rep.FromSeq != 30 || rep.EntriesVerified != 35 ||
		rep.Proven.Checkpoint != 5 || rep.Proven.FromTreeSize != 30 || len(rep.Proven.ConsistencyProof) == 0 {
		t.Fatalf("incremental: %+v %v", rep, err)
	}
	if err := ledger.VerifyConsistency(30, 60, rep.Proven.ConsistencyProof, rep.Proven.FromRootHash, rep.Proven.RootHash); err != nil {
		t.Fatal(err)
	}
	if rec, err = ledger.RecordVerification(ctx, rep, env.Signer, env.Bucket, 9, time.Now()); err != nil || rec.Full || rec.Checkpoint != 5 {
		t.Fatalf("second record: %+v %v", rec, err)
	}

	// WHEN an entry after the last record is altered THEN the incremental verification names it
	coll := env.DB.Collection(ledger.EntriesCollection)
	if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: ledger.EntryDocID(62)}}, set("event.action", "patient:read")); err != nil {
		t.Fatal(err)
	}
	if rep, err = v.Verify(ctx, incremental); err != nil || rep.OK || rep.FirstBad.Seq != 62 {
		t.Fatalf("altered new entry: %+v %v", rep.FirstBad, err)
	}
	// WHEN an entry the record covers is altered THEN only a full verification re-checks it
	if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: ledger.EntryDocID(5)}}, set("event.action", "patient:read")); err != nil {
		t.Fatal(err)
	}
	if rep, err = v.Verify(ctx, ledger.VerifyOptions{}); err != nil || rep.OK || rep.FirstBad.Seq != 5 {
		t.Fatalf("full: %+v %v", rep.FirstBad, err)
	}
}

func TestAVerificationRecordThatDoesNotVerifyIsAFinding(t *testing.T) {
	ctx := context.Background()
	// GIVEN a ledger with a verification record signed by a key the verifier does not trust
	env := filled(t, 25, 10)
	v := env.Verifier(t)
	rep, err := v.Verify(ctx, ledger.VerifyOptions{})
	if err != nil || !rep.OK {
		t.Fatal(rep, err)
	}
	other := servers.NewEnv(t)
	if _, err := ledger.RecordVerification(ctx, rep, other.Signer, env.Bucket, 9, time.Now()); err != nil {
		t.Fatal(err)
	}
	// WHEN verified incrementally THEN the record is refused as a finding
	rep, err = v.Verify(ctx, ledger.VerifyOptions{Incremental: true})
	if err != nil || rep.OK || !strings.Contains(rep.FirstBad.Reason, "verification record of checkpoint 1") ||
		!strings.Contains(rep.FirstBad.Reason, "signature does not verify") {
		t.Fatalf("%+v %v", rep.FirstBad, err)
	}
}

func TestAVerificationPastItsDeadlineStopsAtACheckpointAndTheNextContinues(t *testing.T) {
	ctx := context.Background()
	// GIVEN 45 entries (checkpoints 0-3)
	env := filled(t, 45, 10)
	v := env.Verifier(t)
	// WHEN verified with a deadline already passed
	rep, err := v.Verify(ctx, ledger.VerifyOptions{Incremental: true, Deadline: time.Now().Add(-time.Second)})
	// THEN it stops at the first checkpoint boundary, proving checkpoint 0, and says it is partial
	if err != nil || !rep.OK || !rep.Partial || rep.Proven.Checkpoint != 0 || rep.EntriesVerified != 10 {
		t.Fatalf("partial: %+v %v", rep, err)
	}
	if _, err := ledger.RecordVerification(ctx, rep, env.Signer, env.Bucket, 9, time.Now()); err != nil {
		t.Fatal(err)
	}
	// AND the next run continues from there to the end
	rep, err = v.Verify(ctx, ledger.VerifyOptions{Incremental: true})
	if err != nil || !rep.OK || rep.Partial || rep.FromSeq != 10 || rep.EntriesVerified != 35 || rep.Proven.Checkpoint != 3 {
		t.Fatalf("continued: %+v %v", rep, err)
	}
}

func TestAnIncrementalVerificationNoticesProvenEntriesGone(t *testing.T) {
	ctx := context.Background()
	// GIVEN a ledger verified and recorded up to checkpoint 1 (20 entries)
	env := filled(t, 25, 10)
	v := env.Verifier(t)
	rep, err := v.Verify(ctx, ledger.VerifyOptions{Incremental: true})
	if err != nil || !rep.OK {
		t.Fatal(rep, err)
	}
	if _, err := ledger.RecordVerification(ctx, rep, env.Signer, env.Bucket, 9, time.Now()); err != nil {
		t.Fatal(err)
	}
	// WHEN the database loses the entries (emptied, or restored from an old backup)
	if _, err := env.DB.Collection(ledger.EntriesCollection).DeleteMany(ctx, bson.D{}); err != nil {
		t.Fatal(err)
	}
	// THEN the incremental verification fails at the last entry the record proved
	rep, err = v.Verify(ctx, ledger.VerifyOptions{Incremental: true})
	if err != nil || rep.OK || rep.FirstBad.Seq != 19 || !strings.Contains(rep.FirstBad.Reason, "record of checkpoint 1 proved it") {
		t.Fatalf("%+v %v", rep.FirstBad, err)
	}
}
