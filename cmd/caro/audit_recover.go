package main

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/spf13/cobra"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/failover"
	"github.com/carohealth/platform/internal/ledger"
	awsprov "github.com/carohealth/platform/internal/providers/aws"
)

type auditRecoverOptions struct {
	target string
	yes    bool
	maxAge time.Duration
}

func newAuditRecoverCmd(streams IOStreams, f *auditFlags) *cobra.Command {
	o := auditRecoverOptions{maxAge: ledger.DefaultMaxAge}
	if d, err := time.ParseDuration(os.Getenv("CARO_LEDGER_CHECKPOINT_MAX_AGE")); err == nil && d > 0 {
		o.maxAge = d
	}
	cmd := &cobra.Command{
		Use:   "recover --target <mongodb-uri> --yes",
		Short: "Put back the audit entries a database restore rolled back, from the signed checkpoints",
		Long: `The ledger lives in the application's database, so a backup or snapshot restore rolls it back to
the backup's time, while the checkpoint bucket keeps every checkpoint cut since, and each checkpoint
carries the entries it anchors. Run this right after a restore, before the audit writer appends
again (caro backup restore and the failover's restore step do it before switching traffic).

It verifies every checkpoint in --bucket (signature, chain, Merkle root, Object Lock) and the
restored chain, exactly as 'caro audit verify' does, then inserts the missing checkpoint records and
appends every anchored entry the database lacks, each checked against its signed leaf hash and
chained to the stored head. During an outage of the primary region, point --bucket and --region at
the standby region's replica of the checkpoint bucket and pin the key with --public-key. When the
checkpoints are in two buckets signed by two keys (a ledger that was already continued in the other
region once, then failed back), repeat --bucket (own and replica, read as one series) and pin each
key as --public-key KEYID=FILE (KEYID the key ARN the checkpoints name).

It writes nothing and exits 2 when the restored ledger diverges from the checkpoints (entries were
appended after the restore, or the ledger was altered), or when the missing entries are only in
checkpoints written before they carried entries. Running it again changes nothing. Entries
appended after the last checkpoint cannot be recovered: at most --max-age (the checkpointer's
MaxAge) of audit records.

Progress goes to stderr, the summary to stdout (-o json for the report).
Exit status: 0 recovered (or nothing to do), 2 refused or a checkpoint does not verify, 1 could not run.`,
		Example: `  caro audit recover --target "$MONGODB_URI" --yes
  caro audit recover --target "$STANDBY_MONGODB_URI" --bucket caro-ledger-replica-eu-central-1 --region eu-central-1 --public-key ledger.pem --yes -o json
  caro audit recover --target "$MONGODB_URI" --bucket caro-ledger-<account>-eu-west-1 --bucket caro-ledger-replica-<account>-eu-west-1 \
    --public-key arn:aws:kms:eu-west-1:<account>:key/<a>=ledger-eu-west-1.pem --public-key arn:aws:kms:eu-central-1:<account>:key/<b>=ledger-eu-central-1.pem --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Validate.
			if o.target == "" {
				return errors.New("no target: pass --target <mongodb-uri> of the restored database")
			}
			g := *f
			g.mongoURI = o.target
			if err := g.validateLedger(); err != nil {
				return err
			}
			if !o.yes {
				return errors.New("recover appends entries and checkpoint records to the target's ledger: add --yes to confirm")
			}
			if o.maxAge <= 0 {
				return fmt.Errorf("invalid --max-age %s: give the checkpointer's MaxAge, like 5m", o.maxAge)
			}
			// Execute.
			ctx := cmd.Context()
			l, err := openAuditLedger(ctx, &g)
			if err != nil {
				return err
			}
			defer l.close()
			pub, ring, err := l.keys()
			if err != nil {
				return err
			}
			fmt.Fprintf(streams.ErrOut, "recovering the ledger in %s from checkpoints in %s (%s)...\n", g.database, l.where, l.keyLabel())
			rep, err := ledger.Recover(ctx, ledger.RecoverOptions{Store: l.store, Checkpoints: l.checkpoints, Locks: l.checkpoints, PublicKey: pub, PublicKeys: ring,
				RetentionYears: g.retentionYears, MaxAge: o.maxAge, Progress: func(s string) { fmt.Fprintln(streams.ErrOut, s) }})
			if err != nil {
				if errors.Is(err, ledger.ErrDiverged) || errors.Is(err, ledger.ErrNotRecoverable) {
					return &exitError{code: exitAuditFailed, err: fmt.Errorf("audit ledger not recovered: %w", err)}
				}
				return fmt.Errorf("audit ledger recovery failed: %w", err)
			}
			if err := printRecoveryReport(streams, g.output, rep); err != nil {
				return err
			}
			if rep.CheckpointProblem != "" {
				return &exitError{code: exitAuditFailed, err: fmt.Errorf("recovered what the verified checkpoints anchor, but a later checkpoint does not verify: %s; run 'caro audit verify'", rep.CheckpointProblem)}
			}
			fmt.Fprintln(streams.ErrOut, "done; 'caro audit verify' checks the whole ledger")
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.target, "target", "", "MongoDB URI of the restored database (its --database holds the ledger)")
	fl.BoolVar(&o.yes, "yes", false, "confirm writing to the target's ledger")
	fl.DurationVar(&o.maxAge, "max-age", o.maxAge, "the checkpointer's MaxAge (CARO_LEDGER_CHECKPOINT_MAX_AGE), reported as the most audit time that cannot be recovered")
	return cmd
}

func printRecoveryReport(streams IOStreams, output string, rep *ledger.RecoveryReport) error {
	if output == "json" {
		return auditWriteJSON(streams.Out, rep)
	}
	fmt.Fprintf(streams.Out, "checkpoints verified:  %d (anchoring %d entries)\n", rep.CheckpointsVerified, rep.AnchoredTreeSize)
	if rep.LastCheckpoint != nil {
		fmt.Fprintf(streams.Out, "last checkpoint:       %d (entries up to %d, cut %s)\n", *rep.LastCheckpoint, *rep.LastAnchoredSeq, rep.LastCheckpointTime.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(streams.Out, "entries before:        %d\n", rep.StoredEntries)
	fmt.Fprintf(streams.Out, "entries recovered:     %d\n", rep.EntriesRecovered)
	fmt.Fprintf(streams.Out, "checkpoint records:    %d restored\n", rep.CheckpointRecordsRestored)
	if rep.UnanchoredEntries > 0 {
		fmt.Fprintf(streams.Out, "not yet anchored:      %d (kept; the next checkpoint anchors them)\n", rep.UnanchoredEntries)
	}
	fmt.Fprintf(streams.Out, "not recoverable:       %s\n", rep.Unrecoverable)
	if rep.CheckpointProblem != "" {
		fmt.Fprintf(streams.Out, "checkpoint problem:    %s\n", rep.CheckpointProblem)
	}
	return nil
}

// Environment of the ledger recovery in the failover's restore step.
const (
	// envLedgerPublicKey pins the ledger's public key(s), because the signing keys live in regions
	// that may be down: a PEM file (caro audit public-key), or KEYID=FILE items separated by commas
	// (a key ring, for a failback: both regions' keys), as 'caro audit --public-key' takes them.
	envLedgerPublicKey = "CARO_LEDGER_PUBLIC_KEY"
	// envFailoverLedgerBucket overrides the target region's replica of the source's checkpoint
	// bucket (default caro-ledger-replica-<account>-<target>, the CaroReplica stack's name).
	envFailoverLedgerBucket = "CARO_FAILOVER_LEDGER_BUCKET"
	// envFailoverLedgerOwnBucket overrides the target region's own checkpoint bucket (default
	// caro-ledger-<account>-<target>, the name the CaroPlatform stack gives it).
	envFailoverLedgerOwnBucket = "CARO_FAILOVER_LEDGER_OWN_BUCKET"
)

// recoverLedgerAfterRestore is the failover restore step's ledger recovery, run after the data is
// restored and before the step's marker is written (so a resumed step redoes both; Recover is
// idempotent): it recovers the audit entries the restore rolled back from the target region's
// own checkpoint bucket and its replica of the source's, read as one series. On a first failover
// the own bucket holds nothing yet and the replica everything; on a failback the target's
// checkpoints from before the first failover are in its own bucket (its key), the later ones in
// the replica (the peer's key), so CARO_LEDGER_PUBLIC_KEY then pins both keys by key ID. An own
// bucket that cannot be read is skipped with a warning (the replica alone is what the step read
// before). It never fails the step (the data restore succeeded and traffic must be able to move);
// instead it returns, and says on the progress stream, that the ledger was not recovered and what
// to run.
func recoverLedgerAfterRestore(ctx context.Context, c *awsprov.Clients, db *mongo.Database, plan *failover.Plan, progress failover.Progress) string {
	own, replica := os.Getenv(envFailoverLedgerOwnBucket), os.Getenv(envFailoverLedgerBucket)
	notRecovered := func(why string) string {
		o, r := own, replica
		if o == "" {
			o = "caro-ledger-<account>-" + plan.To
		}
		if r == "" {
			r = "caro-ledger-replica-<account>-" + plan.To
		}
		msg := fmt.Sprintf("audit ledger NOT recovered (%s): run 'caro audit recover --target <uri> --bucket %s --bucket %s --region %s "+
			"--public-key <pem> --yes' now (after a failback, one --public-key KEYID=FILE per region's key)", why, o, r, plan.To)
		progress("WARNING: %s", msg)
		return msg
	}
	if c == nil {
		return notRecovered("no AWS clients for the target region")
	}
	if os.Getenv(envLedgerPublicKey) == "" {
		return notRecovered("set " + envLedgerPublicKey + " to the pinned ledger public key (caro audit public-key)")
	}
	single, ring, err := ledgerPinnedKeys(os.Getenv(envLedgerPublicKey))
	if err != nil {
		return notRecovered(err.Error())
	}
	var pub crypto.PublicKey
	var keys ledger.KeyRing
	if ring != nil {
		keys, err = ledger.NewKeyRing(ring)
	} else {
		pub, err = ledger.ParsePublicKey(single)
	}
	if err != nil {
		return notRecovered(err.Error())
	}
	if own == "" || replica == "" {
		if c.STS == nil {
			return notRecovered("no STS client to name the checkpoint buckets: set " + envFailoverLedgerBucket + " and " + envFailoverLedgerOwnBucket)
		}
		id, err := c.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			return notRecovered("naming the checkpoint buckets: " + err.Error())
		}
		if own == "" {
			own = fmt.Sprintf("caro-ledger-%s-%s", aws.ToString(id.Account), plan.To)
		}
		if replica == "" {
			replica = fmt.Sprintf("caro-ledger-replica-%s-%s", aws.ToString(id.Account), plan.To)
		}
	}
	s3c, ok := c.S3.(ledger.S3API)
	if !ok {
		return notRecovered("the S3 client cannot read checkpoints")
	}
	maxAge := ledger.DefaultMaxAge
	if d, err := time.ParseDuration(os.Getenv("CARO_LEDGER_CHECKPOINT_MAX_AGE")); err == nil && d > 0 {
		maxAge = d
	}
	var checkpoints auditCheckpoints = &ledger.CheckpointBucket{Client: s3c, Name: replica}
	where := "s3://" + replica
	// The own bucket is probed with the one call the role allows on it before reading: one that
	// cannot be listed (a role not yet granted it, a renamed bucket) must not cost the replica.
	if _, err := s3c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(own), Prefix: aws.String("checkpoints/"), MaxKeys: aws.Int32(1)}); err != nil {
		progress("WARNING: audit ledger: the target's own checkpoint bucket s3://%s cannot be read (%v): recovering from s3://%s alone "+
			"(enough on a first failover; after a failback the checkpoints from before the first failover are missing: set %s if it has another name)",
			own, err, replica, envFailoverLedgerOwnBucket)
	} else {
		m := ledger.NewMergedCheckpoints(ledger.BucketSource(&ledger.CheckpointBucket{Client: s3c, Name: own}),
			ledger.BucketSource(&ledger.CheckpointBucket{Client: s3c, Name: replica}))
		checkpoints, where = m, m.Names()
	}
	rep, err := ledger.Recover(ctx, ledger.RecoverOptions{Store: ledger.NewMongoStore(db), Checkpoints: checkpoints, Locks: checkpoints,
		PublicKey: pub, PublicKeys: keys,
		RetentionYears: auditEnvInt("CARO_LEDGER_RETENTION_YEARS", ledger.DefaultRetentionYears), MaxAge: maxAge,
		Progress: func(s string) { progress("audit ledger: %s", s) }})
	if err != nil {
		return notRecovered(fmt.Sprintf("from %s: %v", where, err))
	}
	msg := fmt.Sprintf("audit ledger: %d entries and %d checkpoint records recovered from %s", rep.EntriesRecovered, rep.CheckpointRecordsRestored, where)
	if rep.LastAnchoredSeq != nil {
		msg += fmt.Sprintf(" (anchored up to entry %d, checkpoint %d); entries after it, at most %s, cannot be recovered", *rep.LastAnchoredSeq, *rep.LastCheckpoint, rep.MaxLossWindow)
	}
	if rep.CheckpointProblem != "" {
		msg += fmt.Sprintf("; WARNING: audit ledger NOT fully recovered, a later checkpoint does not verify: %s (after a failback the peer region's "+
			"checkpoints need its key too: run 'caro audit recover --target <uri> --bucket %s --bucket %s --region %s "+
			"--public-key <key ARN A>=<pem A> --public-key <key ARN B>=<pem B> --yes' now, and pin both in %s as KEYID=FILE,KEYID=FILE)",
			rep.CheckpointProblem, own, replica, plan.To, envLedgerPublicKey)
		progress("WARNING: %s", msg)
	}
	return msg
}
