package local

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/failover"
	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/internal/localstack"
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
	if len(target.LedgerPublicKeys) == 0 {
		warnings = append(warnings, fmt.Sprintf("audit ledger: %s has no pinned ledger public key in the local environment, "+
			"so the restore step will NOT recover the audit ledger the restore rolls back (the failover itself goes on): "+
			"run 'caro audit recover' against %s's database right after the restore", to, to))
	}
	return action, warnings
}

// recoverLedger is the restore step's audit ledger recovery, as on AWS (cmd/caro's
// recoverLedgerAfterRestore): run after the data is restored and before the step's marker is
// written, so a resumed step redoes both (ledger.Recover is idempotent). It puts back the entries
// the restore rolled back from the target's replica of the source's checkpoints, verified with the
// pinned keys. Like the AWS step it never fails the step (the data is restored and traffic must be
// able to move): it returns, and says loudly, what was not recovered and what to run.
func (r *run) recoverLedger(ctx context.Context, db *mongo.Database, progress failover.Progress) string {
	t := r.target
	if t.LedgerS3Endpoint == "" || t.LedgerReplicaBucket == "" {
		return "no audit ledger replica configured for " + r.plan.To + " in the local environment: ledger not recovered"
	}
	notRecovered := func(why string) string {
		msg := fmt.Sprintf("audit ledger NOT recovered (%s): run 'caro audit recover' against %s's database with the checkpoints in %s and the pinned key now",
			why, r.plan.To, t.LedgerReplicaBucket)
		progress("WARNING: %s", msg)
		return msg
	}
	ring, err := ledger.NewKeyRing(t.LedgerPublicKeys)
	if err != nil {
		return notRecovered("the pinned ledger public keys: " + err.Error())
	}
	if len(ring) == 0 {
		return notRecovered("no pinned ledger public key for the replica in the local environment")
	}
	cb := LedgerCheckpoints(r.plan.To, t, t.LedgerReplicaBucket)
	rep, err := ledger.Recover(ctx, ledger.RecoverOptions{Store: ledger.NewMongoStore(db), Checkpoints: cb, Locks: cb, PublicKeys: ring,
		Progress: func(s string) { progress("audit ledger: %s", s) }})
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return notRecovered("interrupted")
		}
		return notRecovered(fmt.Sprintf("from s3://%s: %v", t.LedgerReplicaBucket, err))
	}
	msg := fmt.Sprintf("audit ledger: %d entries and %d checkpoint records recovered from s3://%s", rep.EntriesRecovered, rep.CheckpointRecordsRestored, t.LedgerReplicaBucket)
	if rep.LastAnchoredSeq != nil {
		msg += fmt.Sprintf(" (anchored up to entry %d, checkpoint %d); entries after it, at most %s, cannot be recovered", *rep.LastAnchoredSeq, *rep.LastCheckpoint, rep.MaxLossWindow)
	}
	if rep.CheckpointProblem != "" {
		msg += "; WARNING: a later checkpoint does not verify: " + rep.CheckpointProblem
		progress("WARNING: %s", msg)
	}
	return msg
}

// LedgerCheck is the verifier's result on a region's audit ledger.
type LedgerCheck struct {
	Report *ledger.Report
	// EventIDs are the event IDs of the stored entries in sequence order.
	EventIDs []string
}

// VerifyLedger runs the ledger verifier on region name's database against its replica of the peer's
// checkpoints (every checkpoint: signature with the pinned keys, chain, Merkle root, Object Lock;
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
	cb := LedgerCheckpoints(name, r, r.LedgerReplicaBucket)
	v := &ledger.Verifier{Entries: store, Checkpoints: cb, Locks: cb, PublicKeys: ring, RetentionYears: ledger.DefaultRetentionYears}
	rep, err := v.Verify(ctx, ledger.VerifyOptions{})
	if err != nil {
		return nil, err
	}
	out := &LedgerCheck{Report: rep}
	err = store.ScanEntries(ctx, 0, func(e ledger.Entry) error { out.EventIDs = append(out.EventIDs, e.EventID); return nil })
	return out, err
}
