package ledger

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// AfterRestoreOptions say where the failover restore step's ledger recovery (RecoverAfterRestore)
// reads from and writes to. Callers (the AWS step in cmd/caro, the local provider) read their
// configuration into it; the recovery, its probe of the own bucket and its wording are here.
type AfterRestoreOptions struct {
	// Store is the restored database's ledger.
	Store RecoveryStore
	// Client reads both checkpoint buckets.
	Client S3API
	// OwnBucket is the target region's own checkpoint bucket ("": none, the replica alone is read):
	// on a failback it holds the checkpoints from before the first failover. ReplicaBucket is the
	// target region's replica of the source region's bucket. Both are named in the command to run.
	OwnBucket, ReplicaBucket string
	// Region is the target region, named in the command to run.
	Region string
	// PublicKey or PublicKeys (a key ring, each checkpoint checked with the key its KeyID names)
	// are the pinned keys the checkpoints are verified with; the signing regions may be down.
	PublicKey  crypto.PublicKey
	PublicKeys KeyRing
	// RetentionYears and MaxAge are Recover's (zero: the defaults).
	RetentionYears int
	MaxAge         time.Duration
	// Problem, when set, is why the recovery cannot run (configuration the caller could not
	// read, such as the pinned keys): nothing is read or written and the summary says what to run.
	Problem string
	// KeyHint says where both regions' keys are pinned for the next step after a failback, like
	// "pin both in CARO_LEDGER_PUBLIC_KEY as KEYID=FILE,KEYID=FILE" ("": not said).
	KeyHint string
	// OwnBucketHint says what to do when the own bucket has another name, like "set
	// CARO_FAILOVER_LEDGER_OWN_BUCKET if it has another name" ("": not said).
	OwnBucketHint string
	// Progress, when set, receives progress lines; warnings start with "WARNING: ".
	Progress func(string)
}

// RecoverAfterRestore is the failover restore step's ledger recovery, run after the data is
// restored and before the step's marker is written (so a resumed step redoes both; Recover is
// idempotent): it recovers the audit entries the restore rolled back from the target region's own
// checkpoint bucket and its replica of the source's, read as one series (MergedCheckpoints). On a
// first failover the own bucket holds nothing yet and the replica everything; on a failback the
// target's checkpoints from before the first failover are in its own bucket (its key), the later
// ones in the replica (the peer's key), so PublicKeys then pins both keys by key ID. The own bucket
// is probed with one cheap listing first: one that cannot be read (a role not yet granted it, a
// renamed bucket) is skipped with a warning rather than costing the replica.
//
// It never fails the step (the data restore succeeded and traffic must be able to move): it
// returns a one-line summary for the step's detail, says on Progress when the ledger was not (or
// not fully) recovered and which 'caro audit recover' to run, and reports recovered only when
// every checkpoint verified and the recovery completed.
func RecoverAfterRestore(ctx context.Context, o AfterRestoreOptions) (summary string, recovered bool) {
	say := o.Progress
	if say == nil {
		say = func(string) {}
	}
	command := func(keys string) string {
		cmd := "caro audit recover --mongodb-uri <uri>"
		for _, b := range []string{o.OwnBucket, o.ReplicaBucket} {
			if b != "" {
				cmd += " --bucket " + b
			}
		}
		if o.Region != "" {
			cmd += " --region " + o.Region
		}
		return cmd + " " + keys + " --yes"
	}
	notRecovered := func(why string) (string, bool) {
		msg := fmt.Sprintf("audit ledger NOT recovered (%s): run '%s' now (after a failback, one --public-key KEYID=FILE per region's key); "+
			"until then the ledger hold stays, so audit events are refused and retried (then kept in the dead-letter queue); "+
			"only if recovery is impossible, release it with 'caro audit release-hold --mongodb-uri <uri> --reason <why> --yes'",
			why, command("--public-key <pem>"))
		say("WARNING: " + msg)
		return msg, false
	}
	switch {
	case o.Problem != "":
		return notRecovered(o.Problem)
	case o.Store == nil:
		return notRecovered("no restored database to recover into")
	case o.Client == nil || o.ReplicaBucket == "":
		return notRecovered("no checkpoint replica to read")
	case o.PublicKey == nil && len(o.PublicKeys) == 0:
		return notRecovered("no pinned ledger public key")
	}
	replica := &CheckpointBucket{Client: o.Client, Name: o.ReplicaBucket}
	buckets := []*CheckpointBucket{replica}
	if o.OwnBucket != "" {
		own := &CheckpointBucket{Client: o.Client, Name: o.OwnBucket}
		if err := own.Probe(ctx); err != nil {
			hint := ""
			if o.OwnBucketHint != "" {
				hint = ": " + o.OwnBucketHint
			}
			say(fmt.Sprintf("WARNING: audit ledger: the target's own checkpoint bucket s3://%s cannot be read (%v): recovering from s3://%s alone "+
				"(enough on a first failover; after a failback the checkpoints from before the first failover are missing%s)",
				own.Name, err, replica.Name, hint))
		} else {
			buckets = []*CheckpointBucket{own, replica}
		}
	}
	from := BucketsSource(buckets...)
	rep, err := Recover(ctx, RecoverOptions{Store: o.Store, Checkpoints: from.Checkpoints, Locks: from.Locks, PublicKey: o.PublicKey, PublicKeys: o.PublicKeys,
		RetentionYears: o.RetentionYears, MaxAge: o.MaxAge, Progress: func(s string) { say("audit ledger: " + s) }})
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return notRecovered("interrupted")
		}
		return notRecovered(fmt.Sprintf("from %s: %v", from.Name, err))
	}
	msg := fmt.Sprintf("audit ledger: %d entries and %d checkpoint records recovered from %s", rep.EntriesRecovered, rep.CheckpointRecordsRestored, from.Name)
	if rep.LastAnchoredSeq != nil {
		msg += fmt.Sprintf(" (anchored up to entry %d, checkpoint %d); entries after it, at most %s, cannot be recovered", *rep.LastAnchoredSeq, *rep.LastCheckpoint, rep.MaxLossWindow)
	}
	if rep.CheckpointProblem == "" {
		return msg, true
	}
	hint := ""
	if o.KeyHint != "" {
		hint = ", and " + o.KeyHint
	}
	msg += fmt.Sprintf("; WARNING: audit ledger NOT fully recovered (the ledger hold stays: audit events are refused and retried), a later checkpoint does not verify: %s (after a failback the peer region's "+
		"checkpoints need its key too: run '%s' now%s)", rep.CheckpointProblem, command("--public-key <key ARN A>=<pem A> --public-key <key ARN B>=<pem B>"), hint)
	say("WARNING: " + msg)
	return msg, false
}

// Probe checks with one cheap listing (the call a reader's role is granted on the bucket) that the
// bucket's checkpoints can be read.
func (b *CheckpointBucket) Probe(ctx context.Context) error {
	_, err := b.Client.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(b.Name), Prefix: aws.String(checkpointPrefix), MaxKeys: aws.Int32(1)})
	return err
}
