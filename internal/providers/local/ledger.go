package local

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/failover"
	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/internal/localstack"
	"github.com/carohealth/platform/internal/restore"
)

// LedgerCheckpoints is one of region r's checkpoint buckets, read and written through its Object
// Lock endpoint.
func LedgerCheckpoints(name string, r Region, bucket string) *ledger.CheckpointBucket {
	sc := s3.NewFromConfig(localstack.AWSConfig(name, r.LedgerS3Endpoint), func(o *s3.Options) { o.UsePathStyle = true })
	return &ledger.CheckpointBucket{Client: sc, Name: bucket}
}

// ledgerPlanNotes is what the plan says about the restore step's ledger recovery into region to:
// the action's addition, and a warning (as on AWS without CARO_LEDGER_PUBLIC_KEY, never a
// refusal) when the replica has no pinned key to verify it with.
func ledgerPlanNotes(to string, target Region) (action string, warnings []string) {
	if target.LedgerReplicaBucket == "" {
		return "", nil
	}
	action = fmt.Sprintf(", recover the audit ledger from the checkpoint replica %s", target.LedgerReplicaBucket)
	if target.LedgerBucket != "" {
		action = fmt.Sprintf(", recover the audit ledger from the checkpoint bucket %s and the checkpoint replica %s", target.LedgerBucket, target.LedgerReplicaBucket)
	}
	if len(target.LedgerPublicKeys) == 0 {
		warnings = append(warnings, fmt.Sprintf("audit ledger: %s has no pinned ledger public key in the local environment, "+
			"so the restore step will NOT recover the audit ledger the restore rolls back (the failover itself goes on): "+
			"run 'caro audit recover' against %s's database right after the restore", to, to))
	}
	return action, warnings
}

// ledgerRecovery is the restore step's audit ledger recovery, the same as on AWS
// (ledger.RecoverAfterRestore): from the target's own checkpoint bucket and its replica of the
// source's, read as one series (so a failback finds the checkpoints from before the first
// failover), verified with the pinned keys; the protocol runs it after the switch and before the
// marker. It never fails the step: it says, loudly, what was not recovered and what to run.
func (r *run) ledgerRecovery(progress failover.Progress) restore.LedgerRecovery {
	t := r.target
	if t.LedgerS3Endpoint == "" || t.LedgerReplicaBucket == "" {
		return func(context.Context, *mongo.Database) (string, bool) {
			return "no audit ledger replica configured for " + r.plan.To + " in the local environment: ledger not recovered", false
		}
	}
	o := ledger.AfterRestoreOptions{Client: LedgerCheckpoints(r.plan.To, t, "").Client,
		OwnBucket: t.LedgerBucket, ReplicaBucket: t.LedgerReplicaBucket, Region: r.plan.To,
		KeyHint:  "pin both in the local environment's ledger_public_keys",
		Progress: func(s string) { progress("%s", s) }}
	ring, err := ledger.NewKeyRing(t.LedgerPublicKeys)
	switch {
	case err != nil:
		o.Problem = "the pinned ledger public keys: " + err.Error()
	case len(ring) == 0:
		o.Problem = "no pinned ledger public key for the replica in the local environment"
	}
	o.PublicKeys = ring
	return restore.AfterRestore(o)
}

// ledgerSource is what region r's ledger is checked against: its own checkpoint bucket and its
// replica of the peer's, read as one series, as the restore step reads them.
func ledgerSource(name string, r Region) ledger.CheckpointSource {
	buckets := []*ledger.CheckpointBucket{LedgerCheckpoints(name, r, r.LedgerReplicaBucket)}
	if r.LedgerBucket != "" {
		buckets = append([]*ledger.CheckpointBucket{LedgerCheckpoints(name, r, r.LedgerBucket)}, buckets...)
	}
	return ledger.BucketsSource(buckets...)
}

// LedgerCheck is the verifier's result on a region's audit ledger.
type LedgerCheck struct {
	Report *ledger.Report
	// EventIDs are the event IDs of the stored entries in sequence order.
	EventIDs []string
}

// VerifyLedger runs the ledger verifier on region name's database against its own checkpoint bucket
// and its replica of the peer's, read as one series (every checkpoint: signature with the pinned keys, chain, Merkle root, Object Lock;
// every entry against its anchored hash) and lists the stored event IDs.
func VerifyLedger(ctx context.Context, name string, r Region, database string) (*LedgerCheck, error) {
	if r.LedgerS3Endpoint == "" || r.LedgerReplicaBucket == "" {
		return nil, fmt.Errorf("region %s has no audit ledger replica in the local environment", name)
	}
	ring, err := ledger.NewKeyRing(r.LedgerPublicKeys)
	if err != nil {
		return nil, err
	}
	c, err := connect(ctx, r.MongoURI)
	if err != nil {
		return nil, err
	}
	defer c.Disconnect(context.Background())
	store := ledger.NewMongoStore(c.Database(database))
	src := ledgerSource(name, r)
	v := &ledger.Verifier{Entries: store, Checkpoints: src.Checkpoints, Locks: src.Locks, PublicKeys: ring, RetentionYears: ledger.DefaultRetentionYears}
	rep, err := v.Verify(ctx, ledger.VerifyOptions{})
	if err != nil {
		return nil, err
	}
	out := &LedgerCheck{Report: rep}
	err = store.ScanEntries(ctx, 0, func(e ledger.Entry) error { out.EventIDs = append(out.EventIDs, e.EventID); return nil })
	return out, err
}
