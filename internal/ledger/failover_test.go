package ledger_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/carohealth/platform/internal/ledger"
)

func TestLedgerContinuedInTheStandbyRegionVerifiesAcrossBothBucketsAndKeys(t *testing.T) {
	ctx := context.Background()
	// GIVEN region A's ledger: 27 entries checkpointed every 5 with key A into bucket A (checkpoints
	// 0..4), replicated to region B; a backup taken at entry 12 restored in region B and recovered
	// from the replica; entries 25, 26 lost with A; then 11 more entries in region B with key B into bucket B (checkpoints 5, 6)
	f := servers.NewFailover(t, 12, 27, 11, 5)
	ring := f.KeyRing(t)
	merged := f.Merged()
	v := &ledger.Verifier{Entries: f.B.Store, Checkpoints: merged, Locks: merged, PublicKeys: ring, RetentionYears: ledger.DefaultRetentionYears}

	// WHEN region B's ledger is verified over its own bucket and the replica, with both keys
	// THEN every entry and checkpoint holds
	rep, err := v.Verify(ctx, ledger.VerifyOptions{})
	if err != nil || !rep.OK || rep.EntriesVerified != 36 || rep.CheckpointsVerified != 7 || rep.AnchoredTreeSize != 35 {
		t.Fatalf("%+v %v", rep, err)
	}
	// AND a copy of a checkpoint present in two buckets (A's own bucket beside its replica) is fine
	three := ledger.NewMergedCheckpoints(ledger.BucketSource(f.B.Bucket), ledger.BucketSource(f.Replica), ledger.BucketSource(f.A.Bucket))
	if rep, err := (&ledger.Verifier{Entries: f.B.Store, Checkpoints: three, Locks: three, PublicKeys: ring, RetentionYears: ledger.DefaultRetentionYears}).Verify(ctx, ledger.VerifyOptions{}); err != nil || !rep.OK || rep.CheckpointsVerified != 7 {
		t.Fatalf("with duplicates: %+v %v", rep, err)
	}
	// AND region B's bucket alone does not (checkpoint 0 is missing)
	alone := *v
	alone.Checkpoints, alone.Locks = f.B.Bucket, f.B.Bucket
	if rep, _ := alone.Verify(ctx, ledger.VerifyOptions{}); rep.OK || rep.CheckpointsVerified != 0 || !strings.Contains(rep.FirstBad.Reason, "missing") {
		t.Fatalf("own bucket alone: %+v", rep.FirstBad)
	}
	// AND with only key B pinned, checkpoint 0 (key A) is refused as an unknown key
	onlyB := *v
	onlyB.PublicKeys = ledger.KeyRing{f.B.Signer.Key: ring[f.B.Signer.Key]}
	if rep, _ := onlyB.Verify(ctx, ledger.VerifyOptions{}); rep.OK || *rep.FirstBad.Checkpoint != 0 || !strings.Contains(rep.FirstBad.Reason, "not one of the pinned keys") ||
		!strings.Contains(rep.FirstBad.Reason, f.A.Signer.Key) {
		t.Fatalf("only key B: %+v", rep.FirstBad)
	}
	// AND the old single key verifies the A part only
	single := *v
	single.PublicKeys, single.PublicKey = nil, ring[f.A.Signer.Key]
	if rep, _ := single.Verify(ctx, ledger.VerifyOptions{}); rep.OK || rep.CheckpointsVerified != 5 || *rep.FirstBad.Checkpoint != 5 {
		t.Fatalf("single key: %+v", rep.FirstBad)
	}
	// AND an inclusion proof of an entry appended in region B carries key B
	p := &ledger.Prover{Entries: f.B.Store, Checkpoints: merged, PublicKeys: map[string][]byte{f.A.Signer.Key: f.A.PublicKey, f.B.Signer.Key: f.B.PublicKey}}
	proof, err := p.Prove(ctx, f.IDs[30])
	if err != nil || proof.Checkpoint.Number != 6 || proof.Verify(f.B.PublicKey) != nil {
		t.Fatalf("proof: %+v %v", proof, err)
	}

	// WHEN the replica holds a different checkpoint 5, validly signed with key B (a second writer
	// cut it, or someone with the key wrote it), beside bucket B's
	c5, err := f.B.Bucket.GetCheckpoint(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	c5.Time = c5.Time.Add(1000)
	c5.Entries = nil
	if err := c5.Sign(ctx, f.B.Signer); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(c5)
	r, err := f.B.Bucket.Retention(ctx, c5.ObjectKey())
	if err != nil {
		t.Fatal(err)
	}
	f.B.PutLocked(t, f.Replica.Name, c5.ObjectKey(), body, r)
	// THEN verification reports checkpoint 5, naming both buckets
	rep, err = v.Verify(ctx, ledger.VerifyOptions{})
	if err != nil || rep.OK || *rep.FirstBad.Checkpoint != 5 || !strings.Contains(rep.FirstBad.Reason, "hold different checkpoints") ||
		!strings.Contains(rep.FirstBad.Reason, f.Replica.Name) || !strings.Contains(rep.FirstBad.Reason, f.B.BucketName) {
		t.Fatalf("conflict: %+v %v", rep.FirstBad, err)
	}
}

func TestRecoverAfterAFailbackReadsBothBucketsWithBothKeys(t *testing.T) {
	ctx := context.Background()
	// GIVEN region B continued region A's ledger (checkpoints 0..4 by key A in bucket A, 5 and 6
	// by key B in bucket B), and bucket B replicated back to region A
	f := servers.NewFailover(t, 12, 27, 11, 5)
	replicaInA := f.B.Replicate(t)
	// WHEN region A takes the traffic back with a database that holds no ledger yet (restored from
	// a backup taken before the ledger's first entry) and recovers from its own bucket and its
	// replica of B's, with both keys pinned
	back := servers.NewEnv(t)
	merged := ledger.NewMergedCheckpoints(ledger.BucketSource(f.A.Bucket), ledger.BucketSource(replicaInA))
	rep, err := ledger.Recover(ctx, ledger.RecoverOptions{Store: back.Store, Checkpoints: merged, Locks: merged, PublicKeys: f.KeyRing(t)})
	// THEN every anchored entry (0..34) and all 7 checkpoint records are back
	if err != nil || rep.EntriesRecovered != 35 || rep.CheckpointRecordsRestored != 7 || *rep.LastCheckpoint != 6 {
		t.Fatalf("%+v %v", rep, err)
	}
	v := &ledger.Verifier{Entries: ledger.NewMongoStore(back.DB), Checkpoints: merged, Locks: merged, PublicKeys: f.KeyRing(t), RetentionYears: ledger.DefaultRetentionYears}
	if rep, err := v.Verify(ctx, ledger.VerifyOptions{}); err != nil || !rep.OK || rep.EntriesVerified != 35 {
		t.Fatalf("after recovery: %+v %v", rep, err)
	}
	// AND with key A alone the recovery refuses checkpoint 5 (an unknown key), recovers only what
	// key A's checkpoints anchor, and says so
	other := servers.NewEnv(t)
	pubA := f.KeyRing(t)[f.A.Signer.Key]
	rep, err = ledger.Recover(ctx, ledger.RecoverOptions{Store: other.Store, Checkpoints: merged, Locks: merged, PublicKeys: ledger.KeyRing{f.A.Signer.Key: pubA}})
	if err != nil || rep.EntriesRecovered != 25 || !strings.Contains(rep.CheckpointProblem, "not one of the pinned keys") {
		t.Fatalf("key A only: %+v %v", rep, err)
	}
}

func TestRecoverAfterRestoreReadsTheOwnBucketAndTheReplicaAndSaysWhatToRun(t *testing.T) {
	ctx := context.Background()
	// GIVEN region B continued region A's ledger (checkpoints 0..4 by key A in bucket A, 5 and 6 by
	// key B in bucket B), bucket B replicated back to region A, and region A failing back with a
	// database that holds no ledger yet
	f := servers.NewFailover(t, 12, 27, 11, 5)
	replicaInA := f.B.Replicate(t)
	var lines []string
	options := func(store ledger.RecoveryStore) ledger.AfterRestoreOptions {
		lines = nil
		return ledger.AfterRestoreOptions{Store: store, Client: f.A.S3, OwnBucket: f.A.BucketName, ReplicaBucket: replicaInA.Name, Region: "eu-west-1",
			KeyHint: "pin both in KEYS", OwnBucketHint: "set OWN if it has another name", Progress: func(s string) { lines = append(lines, s) }}
	}
	count := func(s ledger.RecoveryStore) uint64 {
		t.Helper()
		n, err := s.(*ledger.MongoStore).CountEntries(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	run := "caro audit recover --mongodb-uri <uri> --bucket " + f.A.BucketName + " --bucket " + replicaInA.Name + " --region eu-west-1"

	// WHEN the caller could not read its configuration THEN nothing is written, and the summary and
	// a warning say what to run
	none := servers.NewEnv(t)
	o := options(none.Store)
	o.Problem, o.PublicKeys = "KEYS is not set", f.KeyRing(t)
	msg, ok := ledger.RecoverAfterRestore(ctx, o)
	if ok || !strings.Contains(msg, "audit ledger NOT recovered (KEYS is not set): run '"+run+" --public-key <pem> --yes' now") ||
		len(lines) != 1 || lines[0] != "WARNING: "+msg || count(none.Store) != 0 {
		t.Fatalf("with a problem: %v %q %q", ok, msg, lines)
	}
	// WHEN no key is pinned THEN the same
	if msg, ok := ledger.RecoverAfterRestore(ctx, options(none.Store)); ok || !strings.Contains(msg, "NOT recovered (no pinned ledger public key)") || count(none.Store) != 0 {
		t.Fatalf("without a key: %v %q", ok, msg)
	}

	// WHEN only key A is pinned, as on the first failover THEN both buckets are read, the recovery
	// stops at checkpoint 5 (key B's) and says what to pin and run
	keyA := servers.NewEnv(t)
	o = options(keyA.Store)
	o.PublicKeys = ledger.KeyRing{f.A.Signer.Key: f.KeyRing(t)[f.A.Signer.Key]}
	msg, ok = ledger.RecoverAfterRestore(ctx, o)
	for _, want := range []string{"25 entries and 5 checkpoint records recovered from s3://" + f.A.BucketName + ", s3://" + replicaInA.Name,
		"anchored up to entry 24, checkpoint 4", "WARNING: audit ledger NOT fully recovered", "checkpoint 5",
		run + " --public-key <key ARN A>=<pem A> --public-key <key ARN B>=<pem B> --yes' now, and pin both in KEYS)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("key A only: %q does not say %q", msg, want)
		}
	}
	if ok || lines[len(lines)-1] != "WARNING: "+msg {
		t.Fatalf("key A only: %v, progress %q", ok, lines)
	}

	// WHEN both keys are pinned THEN every anchored entry and checkpoint record is back, read as one
	// series, and the recovery says so without a warning
	both := servers.NewEnv(t)
	o = options(both.Store)
	o.PublicKeys = f.KeyRing(t)
	msg, ok = ledger.RecoverAfterRestore(ctx, o)
	if !ok || !strings.Contains(msg, "35 entries and 7 checkpoint records recovered from s3://"+f.A.BucketName+", s3://"+replicaInA.Name) ||
		!strings.Contains(msg, "anchored up to entry 34, checkpoint 6") || strings.Contains(strings.Join(lines, "\n"), "WARNING") || count(both.Store) != 35 {
		t.Fatalf("both keys: %v %q %q", ok, msg, lines)
	}
	// AND run again (a resumed step) it recovers nothing more
	if msg, ok := ledger.RecoverAfterRestore(ctx, o); !ok || !strings.Contains(msg, "0 entries and 0 checkpoint records") {
		t.Fatalf("again: %v %q", ok, msg)
	}

	// WHEN the own bucket cannot be read THEN it is skipped with a warning naming what to set, and the
	// replica alone is read (here: B's checkpoints only, which do not start at 0)
	skip := servers.NewEnv(t)
	o = options(skip.Store)
	o.PublicKeys, o.OwnBucket = f.KeyRing(t), "caro-ledger-missing"
	msg, _ = ledger.RecoverAfterRestore(ctx, o)
	if all := strings.Join(lines, "\n"); !strings.Contains(all, "WARNING: audit ledger: the target's own checkpoint bucket s3://caro-ledger-missing cannot be read") ||
		!strings.Contains(all, "recovering from s3://"+replicaInA.Name+" alone") || !strings.Contains(all, "set OWN if it has another name") ||
		!strings.Contains(msg, "s3://"+replicaInA.Name) || strings.Contains(msg, "caro-ledger-missing, ") {
		t.Fatalf("own bucket unreadable: %q\n%s", msg, all)
	}
}
