package local

import (
	"context"
	"fmt"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/carohealth/platform/internal/failover"
	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/internal/ledger/ledgertest"
)

// assertLedgerVerifies checks that region name's ledger in database verifies (VerifyLedger, over
// the buckets the restore step reads) with the events ids in order, anchored by checkpoints.
func assertLedgerVerifies(t *testing.T, name string, r Region, database string, ids []string, checkpoints int) {
	t.Helper()
	chk, err := VerifyLedger(context.Background(), name, r, database)
	if err != nil {
		t.Fatal(err)
	}
	if !chk.Report.OK || chk.Report.EntriesVerified != uint64(len(ids)) || chk.Report.CheckpointsVerified != checkpoints || strings.Join(chk.EventIDs, ",") != strings.Join(ids, ",") {
		t.Fatalf("after recovery: %+v ids %v, want %v", chk.Report, chk.EventIDs, ids)
	}
}

func TestRestoreStepRecoversTheLedgerFromTheReplica(t *testing.T) {
	if testing.Short() {
		t.Skip("starts FerretDB, local-kms and S3")
	}
	ctx := context.Background()
	s := ledgertest.StartServersForTest(t)
	// GIVEN the primary's ledger: 3 entries in the backup, 3 more checkpointed after it, its
	// bucket replicated to the standby; and the standby's database restored from the backup
	primary, standby := s.NewEnv(t), s.NewEnv(t)
	ids := primary.AppendAndCheckpoint(t, 0, 3, 3)
	ledgertest.TakeSnapshot(t, primary.DB).RestoreInto(t, standby.DB)
	ids = append(ids, primary.AppendAndCheckpoint(t, 3, 6, 3)...)
	replica := primary.Replicate(t)
	target := Region{MongoURI: s.FerretDB.URI(), LedgerS3Endpoint: s.S3Endpoint(), LedgerReplicaBucket: replica.Name,
		LedgerPublicKeys: map[string][]byte{primary.Signer.Key: primary.PublicKey}}
	var progress []string
	r := &run{plan: &failover.Plan{To: DrillStandby}, target: target}
	say := func(f string, a ...any) { progress = append(progress, fmt.Sprintf(f, a...)) }

	// WHEN the restore step recovers the ledger
	msg := recoverWith(ctx, r, standby.DB, say)
	// THEN the 3 entries after the backup and their checkpoint record are back, and verify passes
	if want := "audit ledger: 3 entries and 1 checkpoint records recovered from s3://" + replica.Name; !strings.Contains(msg, want) {
		t.Fatalf("recovery says %q, want %q; progress %q", msg, want, progress)
	}
	assertLedgerVerifies(t, DrillStandby, target, standby.DB.Name(), ids, 2)
	// AND a resumed step (killed after the recovery, before the marker) changes nothing
	if msg := recoverWith(ctx, r, standby.DB, say); !strings.Contains(msg, "0 entries and 0 checkpoint records") {
		t.Fatalf("second recovery says %q", msg)
	}
	if chk, err := VerifyLedger(ctx, DrillStandby, target, standby.DB.Name()); err != nil || !chk.Report.OK || len(chk.EventIDs) != 6 {
		t.Fatalf("after the second recovery: %+v %v", chk, err)
	}
}

func TestRestoreStepOfAFailbackRecoversFromTheOwnBucketAndTheReplicaWithBothKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("starts FerretDB, local-kms and S3")
	}
	ctx := context.Background()
	s := ledgertest.StartServersForTest(t)
	// GIVEN region B continued region A's ledger after a failover (checkpoints 0..4 by key A in A's
	// own bucket, 5 and 6 by key B in B's), a backup of B's database then, 9 more entries in B
	// (checkpoints 7 and 8), and B's bucket replicated into A
	f := s.NewFailover(t, 12, 27, 11, 5)
	restoredA := s.NewEnv(t)
	ledgertest.TakeSnapshot(t, f.B.DB).RestoreInto(t, restoredA.DB)
	ids := append(f.IDs, f.B.AppendAndCheckpoint(t, 38, 47, 5)...)
	replicaInA := f.B.Replicate(t)
	// AND the failback (B to A) restored that backup into A's database; A's local environment pins
	// both keys, as CARO_LEDGER_PUBLIC_KEY does on AWS
	target := Region{MongoURI: s.FerretDB.URI(), LedgerS3Endpoint: s.S3Endpoint(), LedgerBucket: f.A.BucketName, LedgerReplicaBucket: replicaInA.Name,
		LedgerPublicKeys: map[string][]byte{f.A.Signer.Key: f.A.PublicKey, f.B.Signer.Key: f.B.PublicKey}}
	r := &run{plan: &failover.Plan{From: DrillStandby, To: DrillPrimary}, target: target}
	var progress []string
	say := func(f string, a ...any) { progress = append(progress, fmt.Sprintf(f, a...)) }

	// WHEN the restore step recovers the ledger
	msg := recoverWith(ctx, r, restoredA.DB, say)
	// THEN it reads A's own bucket and the replica as one series and puts back the 9 entries and
	// checkpoint records 7 and 8, without a warning
	if want := "audit ledger: 9 entries and 2 checkpoint records recovered from s3://" + f.A.BucketName + ", s3://" + replicaInA.Name; !strings.Contains(msg, want) ||
		!strings.Contains(msg, "anchored up to entry 44, checkpoint 8") || strings.Contains(strings.Join(progress, "\n"), "WARNING") {
		t.Fatalf("recovery says %q, want %q; progress %q", msg, want, progress)
	}
	// AND A's ledger verifies over both buckets with both keys, every event in order
	assertLedgerVerifies(t, DrillPrimary, target, restoredA.DB.Name(), ids, 9)
	// AND the plan names both buckets
	if a, w := ledgerPlanNotes(DrillPrimary, target); !strings.Contains(a, "from the checkpoint bucket "+f.A.BucketName+" and the checkpoint replica "+replicaInA.Name) || w != nil {
		t.Fatalf("plan: %q %q", a, w)
	}
}

func TestRestoreStepSaysWhenTheLedgerIsNotRecovered(t *testing.T) {
	if testing.Short() {
		t.Skip("starts FerretDB, local-kms and S3")
	}
	ctx := context.Background()
	s := ledgertest.StartServersForTest(t)
	primary, standby, other := s.NewEnv(t), s.NewEnv(t), s.NewEnv(t)
	primary.AppendAndCheckpoint(t, 0, 3, 3)
	replica := primary.Replicate(t)
	var progress []string
	say := func(f string, a ...any) { progress = append(progress, fmt.Sprintf(f, a...)) }

	// GIVEN an environment without a ledger replica (written before the drill had a ledger)
	r := &run{plan: &failover.Plan{To: DrillStandby}, target: Region{MongoURI: s.FerretDB.URI()}}
	// THEN the step says so and goes on
	if msg := recoverWith(ctx, r, standby.DB, say); !strings.Contains(msg, "no audit ledger replica configured") {
		t.Fatalf("without a replica: %q", msg)
	}
	// GIVEN the replica pinned with the wrong key
	r.target = Region{MongoURI: s.FerretDB.URI(), LedgerS3Endpoint: s.S3Endpoint(), LedgerReplicaBucket: replica.Name,
		LedgerPublicKeys: map[string][]byte{primary.Signer.Key: other.PublicKey}}
	// THEN nothing is written and the warning says what to run
	msg := recoverWith(ctx, r, standby.DB, say)
	if !strings.Contains(msg, "audit ledger NOT recovered") || !strings.Contains(msg, "caro audit recover") || len(progress) == 0 || !strings.HasPrefix(progress[len(progress)-1], "WARNING:") {
		t.Fatalf("with the wrong key: %q, progress %q", msg, progress)
	}
	if n, err := standby.DB.Collection(ledger.EntriesCollection).CountDocuments(ctx, bson.D{}); err != nil || n != 0 {
		t.Fatalf("entries written with the wrong key: %d %v", n, err)
	}
}

func TestPlanNamesTheLedgerRecoveryAndWarnsWithoutAPinnedKey(t *testing.T) {
	// GIVEN no ledger replica: nothing said
	if a, w := ledgerPlanNotes(DrillStandby, Region{}); a != "" || w != nil {
		t.Fatalf("without a replica: %q %q", a, w)
	}
	// GIVEN a replica and its pinned key: the step's action names it, no warning
	a, w := ledgerPlanNotes(DrillStandby, Region{LedgerReplicaBucket: "caro-ledger-replica-eu-central-1", LedgerPublicKeys: map[string][]byte{"k": {1}}})
	if !strings.Contains(a, "recover the audit ledger from the checkpoint replica caro-ledger-replica-eu-central-1") || w != nil {
		t.Fatalf("with a pinned key: %q %q", a, w)
	}
	// GIVEN a replica without a pinned key: a warning saying the ledger will not be recovered
	if _, w := ledgerPlanNotes(DrillStandby, Region{LedgerReplicaBucket: "r"}); len(w) != 1 || !strings.Contains(w[0], "will NOT recover the audit ledger") {
		t.Fatalf("without a pinned key: %q", w)
	}
}

// recoverWith runs the restore step's ledger recovery of r on db.
func recoverWith(ctx context.Context, r *run, db *mongo.Database, say failover.Progress) string {
	msg, _ := r.ledgerRecovery(say)(ctx, db)
	return msg
}
