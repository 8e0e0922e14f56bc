package ledger_test

import (
	"context"
	"strings"
	"testing"

	"github.com/carohealth/platform/internal/ledger"
)

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
	run := "caro audit recover --target <uri> --bucket " + f.A.BucketName + " --bucket " + replicaInA.Name + " --region eu-west-1"

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
