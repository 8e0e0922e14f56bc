package ledger_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/internal/ledger/ledgertest"
)

// appendRun appends events from..to-1 and runs cpr after each, as the audit writer does.
func appendRun(t *testing.T, store ledger.EntryStore, cpr *ledger.Checkpointer, from, to int) {
	t.Helper()
	ctx := context.Background()
	l := &ledger.Ledger{Store: store}
	for i := from; i < to; i++ {
		if _, _, err := l.Append(ctx, ledger.TestEvent(i, "tenant-a")); err != nil {
			t.Fatal(err)
		}
		if _, err := cpr.Run(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// replicaOf copies every checkpoint object of env's bucket, with its Object Lock, into a second
// bucket, as S3 replication does into the peer region's CaroReplica bucket.
func replicaOf(t *testing.T, env *ledgertest.Env) *ledger.CheckpointBucket {
	t.Helper()
	ctx := context.Background()
	name := env.BucketName + "-replica"
	if err := servers.S3.CreateBucket(name); err != nil {
		t.Fatal(err)
	}
	if _, err := env.S3.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(name),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	stored, err := env.Bucket.ListCheckpoints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range stored {
		out, err := env.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(env.BucketName), Key: aws.String(sc.Key)})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(out.Body)
		out.Body.Close()
		r, err := env.Bucket.Retention(ctx, sc.Key)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(name), Key: aws.String(sc.Key), Body: bytes.NewReader(body),
			ObjectLockMode: s3types.ObjectLockMode(r.Mode), ObjectLockRetainUntilDate: aws.Time(r.RetainUntil),
			ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256}); err != nil {
			t.Fatal(err)
		}
	}
	return &ledger.CheckpointBucket{Client: env.S3, Name: name}
}

func recoverFrom(t *testing.T, env *ledgertest.Env, bucket *ledger.CheckpointBucket) (*ledger.RecoveryReport, error) {
	t.Helper()
	pub, err := ledger.ParsePublicKey(env.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	// A fresh store: a process started after the restore, with no cached head.
	return ledger.Recover(context.Background(), ledger.RecoverOptions{Store: ledger.NewMongoStore(env.DB), Checkpoints: bucket, Locks: bucket, PublicKey: pub})
}

func verifyFresh(t *testing.T, env *ledgertest.Env) *ledger.Report {
	t.Helper()
	v := env.Verifier(t)
	v.Entries = ledger.NewMongoStore(env.DB)
	rep, err := v.Verify(context.Background(), ledger.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func countDocs(t *testing.T, db *mongo.Database, name string) int64 {
	t.Helper()
	n, err := db.Collection(name).CountDocuments(context.Background(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRecoverAfterARestoreFromTheReplicaBucket(t *testing.T) {
	ctx := context.Background()
	// GIVEN 12 entries checkpointed every 5 (checkpoints 0 and 1), and a backup taken then
	env := filled(t, 12, 5)
	backup := ledgertest.TakeSnapshot(t, env.DB)
	// AND 15 more entries, anchored up to entry 24 by checkpoints 2..4 (entries 25 and 26 not yet)
	appendRun(t, env.Store, env.Checkpointer(5), 12, 27)
	replica := replicaOf(t, env)
	// WHEN the database is restored from the backup
	backup.RestoreInto(t, env.DB)
	// THEN verify reports the anchored entries as missing and points at caro audit recover
	if rep := verifyFresh(t, env); rep.OK || rep.FirstBad.Seq != 12 || !strings.Contains(rep.FirstBad.Reason, "caro audit recover") {
		t.Fatalf("before recovery: %+v", rep.FirstBad)
	}
	// WHEN the ledger is recovered from the peer region's replica bucket
	rep, err := recoverFrom(t, env, replica)
	// THEN entries 12..24 and checkpoint records 2..4 are back, and the report names the last
	// anchored entry and the window that cannot be recovered
	if err != nil || rep.StoredEntries != 12 || rep.EntriesRecovered != 13 || rep.CheckpointRecordsRestored != 3 ||
		*rep.LastAnchoredSeq != 24 || *rep.LastCheckpoint != 4 || rep.MaxLossWindow != "5m0s" || !strings.Contains(rep.Unrecoverable, "cannot be recovered") {
		t.Fatalf("%+v %v", rep, err)
	}
	// AND the ledger verifies against the region's own bucket
	if v := verifyFresh(t, env); !v.OK || v.EntriesVerified != 25 || v.CheckpointsVerified != 5 {
		t.Fatalf("after recovery: %+v %+v", v, v.FirstBad)
	}
	// AND a second recovery changes nothing
	again, err := recoverFrom(t, env, replica)
	if err != nil || again.EntriesRecovered != 0 || again.CheckpointRecordsRestored != 0 || again.StoredEntries != 25 {
		t.Fatalf("second run: %+v %v", again, err)
	}
	// AND a writer started after the restore continues: new entries chain on and the next
	// checkpoint is number 5
	cpr := env.Checkpointer(5)
	fresh := ledger.NewMongoStore(env.DB)
	cpr.Entries, cpr.Records = fresh, fresh
	appendRun(t, fresh, cpr, 100, 105)
	if v := verifyFresh(t, env); !v.OK || v.EntriesVerified != 30 || v.CheckpointsVerified != 6 {
		t.Fatalf("after new appends: %+v %+v", v, v.FirstBad)
	}
	if last, err := ledger.NewMongoStore(env.DB).LastCheckpoint(ctx); err != nil || last.Number != 5 {
		t.Fatalf("last record %+v %v", last, err)
	}
}

func TestRecoverRefusesADivergedLedgerAndWritesNothing(t *testing.T) {
	env := filled(t, 7, 5)
	backup := ledgertest.TakeSnapshot(t, env.DB)
	appendRun(t, env.Store, env.Checkpointer(5), 7, 15)
	for _, tc := range []struct {
		name    string
		diverge func(t *testing.T)
	}{
		{"an entry appended after the restore", func(t *testing.T) {
			if _, _, err := (&ledger.Ledger{Store: ledger.NewMongoStore(env.DB)}).Append(context.Background(), ledger.TestEvent(500, "t1")); err != nil {
				t.Fatal(err)
			}
		}},
		{"a checkpoint cut from the restored database", func(t *testing.T) {
			cpr := env.Checkpointer(1)
			cpr.Entries, cpr.Records = ledger.NewMongoStore(env.DB), ledger.NewMongoStore(env.DB)
			// It records checkpoint 1 over entries 5..6; the bucket refuses it (it holds another 1).
			if _, err := cpr.Run(context.Background()); err == nil {
				t.Fatal("a checkpoint differing from the published one was accepted")
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// GIVEN a database restored from the backup AND then written to before the recovery
			backup.RestoreInto(t, env.DB)
			tc.diverge(t)
			entries, records := countDocs(t, env.DB, ledger.EntriesCollection), countDocs(t, env.DB, ledger.CheckpointsCollection)
			// WHEN recovered THEN it refuses with ErrDiverged and writes nothing
			rep, err := recoverFrom(t, env, env.Bucket)
			if !errors.Is(err, ledger.ErrDiverged) || !strings.Contains(err.Error(), "nothing was written") {
				t.Fatalf("%+v %v", rep, err)
			}
			if countDocs(t, env.DB, ledger.EntriesCollection) != entries || countDocs(t, env.DB, ledger.CheckpointsCollection) != records {
				t.Fatal("something was written")
			}
		})
	}
}

// oldFormat publishes checkpoints as the writer did before objects carried their entries.
type oldFormat struct{ b *ledger.CheckpointBucket }

func (o oldFormat) Publish(ctx context.Context, c *ledger.Checkpoint, until time.Time) error {
	cp := *c
	cp.Entries = nil
	return o.b.Publish(ctx, &cp, until)
}

func TestCheckpointsWithoutEntriesStillVerifyAndRecoveryNeedsNewOnes(t *testing.T) {
	// GIVEN 10 entries anchored by checkpoints 0 and 1 in the old format (no entries carried)
	env := servers.NewEnv(t)
	old := env.Checkpointer(5)
	old.Bucket = oldFormat{env.Bucket}
	appendRun(t, env.Store, old, 0, 3)
	early := ledgertest.TakeSnapshot(t, env.DB)
	appendRun(t, env.Store, old, 3, 12)
	late := ledgertest.TakeSnapshot(t, env.DB)
	// AND 8 more anchored by new-format checkpoints 2..3
	appendRun(t, env.Store, env.Checkpointer(5), 12, 20)
	if c, err := env.Bucket.GetCheckpoint(context.Background(), 1); err != nil || len(c.Entries) != 0 {
		t.Fatalf("checkpoint 1 should be in the old format: %v", err)
	}
	// THEN the mixed bucket verifies
	if v := verifyFresh(t, env); !v.OK || v.CheckpointsVerified != 4 {
		t.Fatalf("%+v %+v", v, v.FirstBad)
	}
	// WHEN restored to a backup inside the old checkpoints' range THEN recovery refuses, writing nothing
	early.RestoreInto(t, env.DB)
	if _, err := recoverFrom(t, env, env.Bucket); !errors.Is(err, ledger.ErrNotRecoverable) ||
		countDocs(t, env.DB, ledger.EntriesCollection) != 3 || countDocs(t, env.DB, ledger.CheckpointsCollection) != 0 {
		t.Fatalf("early backup: %v", err)
	}
	// WHEN restored to a backup after them THEN the entries of the new checkpoints are recovered
	late.RestoreInto(t, env.DB)
	rep, err := recoverFrom(t, env, env.Bucket)
	if err != nil || rep.EntriesRecovered != 8 {
		t.Fatalf("%+v %v", rep, err)
	}
	if v := verifyFresh(t, env); !v.OK || v.EntriesVerified != 20 {
		t.Fatalf("%+v %+v", v, v.FirstBad)
	}
}

func TestRecoverFillsTheGapLeftByAWriterThatCachedTheOldHead(t *testing.T) {
	for _, tc := range []struct {
		name     string
		appended int // entries before the restore; checkpoints every 5 anchor up to 24
		ok       bool
	}{
		{"its cached head was anchored", 25, true},
		{"its cached head was lost unanchored", 26, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// GIVEN a backup at 12 entries, more entries appended and checkpointed, a restore
			env := filled(t, 12, 5)
			backup := ledgertest.TakeSnapshot(t, env.DB)
			appendRun(t, env.Store, env.Checkpointer(5), 12, tc.appended)
			backup.RestoreInto(t, env.DB)
			// AND a warm writer (env.Store caches the old head) appending one event after the restore
			if _, _, err := (&ledger.Ledger{Store: env.Store}).Append(context.Background(), ledger.TestEvent(700, "t1")); err != nil {
				t.Fatal(err)
			}
			entries := countDocs(t, env.DB, ledger.EntriesCollection)
			// WHEN recovered
			rep, err := recoverFrom(t, env, env.Bucket)
			if !tc.ok {
				// THEN an entry no checkpoint holds is missing before it: refused, nothing written
				if !errors.Is(err, ledger.ErrDiverged) || countDocs(t, env.DB, ledger.EntriesCollection) != entries {
					t.Fatalf("%+v %v", rep, err)
				}
				return
			}
			// THEN the gap 12..24 is filled and the appended entry chains on: the ledger verifies
			if err != nil || rep.EntriesRecovered != 13 || rep.StoredEntries != 13 {
				t.Fatalf("%+v %v", rep, err)
			}
			if v := verifyFresh(t, env); !v.OK || v.EntriesVerified != 26 {
				t.Fatalf("%+v %+v", v, v.FirstBad)
			}
		})
	}
}
