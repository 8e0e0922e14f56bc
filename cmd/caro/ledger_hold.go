package main

import (
	"context"
	"fmt"
	"io"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/config"
	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/internal/restore"
)

// cliLedgerRecovery is the ledger recovery of `caro backup restore` (restore.LedgerRecovery): with
// the ledger settings the audit commands use (s: ledger-bucket and ledger-replica-bucket, region,
// the pinned ledger-public-keys and the ledger-signing-key) it recovers the ledger the restore
// held, before the restore's own audit events are published, so the writer appends them rather
// than refusing them. Without them, or when the recovery does not complete, the hold stays and w
// (and the summary) say what to run.
func cliLedgerRecovery(w io.Writer, uri string, s envSettings) restore.LedgerRecovery {
	return func(ctx context.Context, db *mongo.Database) (string, bool) {
		return recoverRestoredLedger(ctx, w, uri, db.Name(), s)
	}
}

// recoverRestoredLedger is cliLedgerRecovery's work on uri's database.
func recoverRestoredLedger(ctx context.Context, w io.Writer, uri, database string, s envSettings) (string, bool) {
	f := auditFlags{mongoURI: uri, database: database, buckets: s.LedgerBuckets, region: s.Region, signingKeys: s.LedgerSigningKeys,
		retentionYears: s.LedgerRetentionYears, output: "text", publicKeys: []string{s.LedgerPublicKey},
		publicKeySource: "setting " + config.KeyLedgerPublicKeys, s3PathStyle: s.S3PathStyle}
	if len(s.LedgerBuckets) > 1 {
		// The replica of the peer's bucket (often named by convention only) may not exist: an
		// unreadable one is skipped with a warning rather than costing the recovery.
		f.optionalBuckets = s.LedgerBuckets[1:]
	}
	notRecovered := func(why string) (string, bool) {
		msg := fmt.Sprintf("audit ledger HELD and NOT recovered (%s): run 'caro audit recover --mongodb-uri <uri> --database %s --yes' now (it removes the hold); "+
			"until then the audit writer refuses every event (retried, then kept in its dead-letter queue: redrive it after the recovery)", why, database)
		fmt.Fprintln(w, "WARNING: "+msg)
		return msg, false
	}
	if err := f.validateLedger(); err != nil {
		return notRecovered("no ledger configuration here: " + err.Error())
	}
	l, err := openAuditLedger(ctx, &f, w)
	if err != nil {
		return notRecovered(err.Error())
	}
	defer l.close()
	pub, ring, err := l.keys()
	if err != nil {
		return notRecovered(err.Error())
	}
	fmt.Fprintf(w, "audit ledger: recovering from the checkpoints in %s before the restore's events are published\n", l.checkpoints.Name)
	rep, err := ledger.Recover(ctx, ledger.RecoverOptions{Store: l.store, Checkpoints: l.checkpoints.Checkpoints, Locks: l.checkpoints.Locks, PublicKey: pub, PublicKeys: ring,
		RetentionYears: f.retentionYears, Progress: func(s string) { fmt.Fprintln(w, "audit ledger: "+s) }})
	switch {
	case err != nil:
		return notRecovered(err.Error())
	case rep.CheckpointProblem != "":
		return notRecovered("a later checkpoint does not verify: " + rep.CheckpointProblem)
	}
	msg := fmt.Sprintf("audit ledger: %d entries and %d checkpoint records recovered; the hold is released ('caro audit verify' checks the whole ledger)",
		rep.EntriesRecovered, rep.CheckpointRecordsRestored)
	fmt.Fprintln(w, msg)
	return msg, true
}
