package ledger_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/carohealth/platform/internal/ledger"
)

// rewriteTail alters entry seq and rehashes the chain from it to the end, as an attacker with
// database access does to hide the change from the chain check.
func rewriteTail(t *testing.T, env interface{ Tamper() mongoTamper }, seq uint64) {
	t.Helper()
	tt := env.Tamper()
	e := tt.Get(t, seq)
	e.Event.Action = "patient:read"
	tt.Put(t, ledger.Rehash(e))
	n := tt.Count(t)
	prev := tt.Get(t, seq).Hash
	for s := seq + 1; s < n; s++ {
		e := tt.Get(t, s)
		e.PrevHash = prev
		e = ledger.Rehash(e)
		tt.Put(t, e)
		prev = e.Hash
	}
}

type tamperEnv struct{ coll mongoTamper }

func (e tamperEnv) Tamper() mongoTamper { return e.coll }

func TestAMissingNewestCheckpointCannotHideARewrittenTail(t *testing.T) {
	ctx := context.Background()
	// GIVEN 25 entries with checkpoints 0 (entries 0-9) and 1 (10-19), and a copy of the bucket
	// that lacks checkpoint 1 (a lagging replica; or the object removed after its retention)
	env := servers.NewEnv(t)
	env.AppendAndCheckpoint(t, 0, 15, 10)
	lagging := env.Replicate(t)
	env.AppendAndCheckpoint(t, 15, 25, 10)
	// WHEN the tail after checkpoint 0 is rewritten and rehashed
	rewriteTail(t, tamperEnv{mongoTamper{coll: env.DB.Collection(ledger.EntriesCollection)}}, 12)
	v := env.Verifier(t)
	v.Checkpoints, v.Locks = lagging, lagging
	v.MaxAge = 0 // the defaults: 5 minutes plus the 5-minute schedule
	v.Now = func() time.Time { return time.Now().Add(time.Hour) }
	// THEN verification fails: the database recorded checkpoint 1, which the bucket lacks
	rep, err := v.Verify(ctx, ledger.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || rep.FirstBad == nil || rep.FirstBad.Seq != 10 || rep.FirstBad.Checkpoint == nil || *rep.FirstBad.Checkpoint != 1 ||
		!strings.Contains(rep.FirstBad.Reason, "recorded in the database") {
		t.Fatalf("rewritten tail not found: %+v %v", rep, rep.FirstBad)
	}
	// AND against the bucket the writer publishes to, the rewrite itself is named
	rep, err = env.Verifier(t).Verify(ctx, ledger.VerifyOptions{})
	if err != nil || rep.OK || rep.FirstBad.Seq != 12 {
		t.Fatalf("%+v %v", rep.FirstBad, err)
	}
}

func TestEntriesLeftUnanchoredLongerThanTheWindowAreAFinding(t *testing.T) {
	ctx := context.Background()
	// GIVEN 25 entries of events timed 2026-11-23 06:00 and checkpoints anchoring 0-19 only (the
	// checkpoint of 20-24 and its database record removed, or the checkpointer stopped)
	env := filled(t, 25, 10)
	v := env.Verifier(t)
	v.MaxAge = 5 * time.Minute
	// WHEN verified within MaxAge plus the schedule of entry 20's event time THEN they are "not yet anchored"
	v.Now = func() time.Time { return time.Date(2026, 11, 23, 6, 0, 28, 0, time.UTC) }
	rep, err := v.Verify(ctx, ledger.VerifyOptions{})
	if err != nil || !rep.OK || rep.UnanchoredEntries != 5 || rep.OldestUnanchored == nil || rep.UnanchoredWindow != "10m0s" {
		t.Fatalf("within the window: %+v %v", rep, err)
	}
	// WHEN verified later THEN it is a finding naming the first unanchored entry
	v.Now = func() time.Time { return time.Date(2026, 11, 23, 6, 11, 0, 0, time.UTC) }
	rep, err = v.Verify(ctx, ledger.VerifyOptions{})
	if err != nil || rep.OK || rep.FirstBad.Seq != 20 || !strings.Contains(rep.FirstBad.Reason, "anchored by no checkpoint") ||
		!strings.Contains(rep.FirstBad.Reason, "undetectably") {
		t.Fatalf("stale unanchored entries: %+v %v", rep.FirstBad, err)
	}
	// AND a ledger without any checkpoint is judged the same way from its first entry
	bare := servers.NewEnv(t)
	for i := 0; i < 3; i++ {
		if _, _, err := (&ledger.Ledger{Store: bare.Store}).Append(ctx, ledger.TestEvent(i, "t1")); err != nil {
			t.Fatal(err)
		}
	}
	bv := bare.Verifier(t)
	bv.MaxAge, bv.Now = 5*time.Minute, v.Now
	if rep, err = bv.Verify(ctx, ledger.VerifyOptions{}); err != nil || rep.OK || rep.FirstBad.Seq != 0 {
		t.Fatalf("no checkpoint at all: %+v %v", rep.FirstBad, err)
	}
}

func TestCheckpointRecordsAreCrossCheckedWithTheBucket(t *testing.T) {
	ctx := context.Background()
	// GIVEN a writer that recorded checkpoint 0 and has not published it yet
	env := servers.NewEnv(t)
	recordUnpublishedCheckpoint(t, env, 3)
	v := env.Verifier(t)
	v.MaxAge = 0 // the defaults: 5 minutes plus the 5-minute schedule
	// WHEN verified right away THEN it is pending, not a finding
	rep, err := v.Verify(ctx, ledger.VerifyOptions{})
	if err != nil || !rep.OK || rep.PendingCheckpoints != 1 || rep.CheckpointRecordsChecked != 1 {
		t.Fatalf("pending: %+v %v", rep, err)
	}
	// WHEN it is still missing from the bucket after the window THEN it is a finding
	v.Now = func() time.Time { return time.Now().Add(11 * time.Minute) }
	rep, err = v.Verify(ctx, ledger.VerifyOptions{})
	if err != nil || rep.OK || rep.FirstBad.Seq != 0 || !strings.Contains(rep.FirstBad.Reason, "bucket has no such checkpoint") {
		t.Fatalf("missing from the bucket: %+v %v", rep.FirstBad, err)
	}

	for _, tc := range []struct {
		name, want string
		update     func(json string) bson.D
	}{
		{"a record that differs from the signed checkpoint", "differs from the signed checkpoint 0", func(j string) bson.D {
			return set("json", strings.Replace(j, `"keyId":"`, `"keyId":"x`, 1))
		}},
		{"a record that is not checkpoint JSON", "not in the form the writer writes", func(string) bson.D { return set("json", "{") }},
		{"a record with an extra field", "not in the form the writer writes", func(string) bson.D { return set("note", "x") }},
		{"a record whose JSON has a field in another case", "not in the form the writer writes", func(j string) bson.D {
			return set("json", strings.Replace(j, `"rootHash"`, `"RootHash"`, 1))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// GIVEN a verified ledger with 2 checkpoints
			env := filled(t, 25, 10)
			recs := env.DB.Collection(ledger.CheckpointsCollection)
			var doc struct {
				JSON string `bson:"json"`
			}
			id := bson.D{{Key: "_id", Value: ledger.EntryDocID(0)}}
			if err := recs.FindOne(ctx, id).Decode(&doc); err != nil {
				t.Fatal(err)
			}
			// WHEN the database's record of checkpoint 0 is altered
			if _, err := recs.UpdateOne(ctx, id, tc.update(doc.JSON)); err != nil {
				t.Fatal(err)
			}
			// THEN verification fails at checkpoint 0, saying how
			rep, err := env.Verifier(t).Verify(ctx, ledger.VerifyOptions{})
			if err != nil || rep.OK || rep.FirstBad.Checkpoint == nil || *rep.FirstBad.Checkpoint != 0 || !strings.Contains(rep.FirstBad.Reason, tc.want) {
				t.Fatalf("%+v %v", rep.FirstBad, err)
			}
		})
	}
}
