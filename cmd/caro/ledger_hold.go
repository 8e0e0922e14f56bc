package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/atlas"
	"github.com/carohealth/platform/internal/ledger"
)

// holdAfterSnapshotRestore places the audit ledger hold in a database an Atlas snapshot restore has
// just brought back, when it holds a ledger: first of all, before the reconciler, the scheduled
// checkpointer or the restore's own events can append to the rolled-back ledger (the job replaces
// the whole cluster, so the hold cannot be placed before it as the logical restore does).
// 'caro audit recover' removes it. It returns an error when the hold cannot be placed.
func holdAfterSnapshotRestore(ctx context.Context, db *mongo.Database, res atlas.RestoreResult, w io.Writer) error {
	held, err := ledger.HoldIfLedger(ctx, db, ledger.Hold{BackupID: "atlas-snapshot-" + res.SnapshotID,
		Reason: fmt.Sprintf("Atlas snapshot %s (restore job %s) restored: the audit ledger is rolled back to the snapshot's time", res.SnapshotID, res.RestoreJobID)})
	if err != nil {
		return err
	}
	if held {
		fmt.Fprintf(w, "audit ledger held: appends are refused until 'caro audit recover --target <uri> ...' recovers the entries the checkpoints anchor (it removes the hold)\n")
	}
	return nil
}

// holdSnapshotLedger connects to uri and holds the ledger of database (holdAfterSnapshotRestore);
// held says whether the database holds a ledger and is held now.
func holdSnapshotLedger(ctx context.Context, uri, database string, res atlas.RestoreResult, w io.Writer) (held bool, err error) {
	client, closeClient, err := connectTarget(ctx, uri)
	if err != nil {
		return false, fmt.Errorf("the audit ledger hold could not be placed: %w", err)
	}
	defer closeClient()
	db := client.Database(database)
	if err := holdAfterSnapshotRestore(ctx, db, res, w); err != nil {
		return false, err
	}
	h, err := ledger.ReadHold(ctx, db)
	return h != nil, err
}

// recoverRestoredLedger recovers the ledger a logical restore just held (caro backup restore),
// before the restore's own audit events are published, so the writer appends them rather than
// refusing them. It reads the configuration the audit commands read from the environment
// (CARO_LEDGER_BUCKET and CARO_LEDGER_REPLICA_BUCKET, CARO_REGION, CARO_LEDGER_SIGNING_KEY_ARN or
// the pinned CARO_LEDGER_PUBLIC_KEY). Without it, or when the recovery does not complete, the
// hold stays and w says what to run. It reports whether the ledger was recovered (hold removed).
func recoverRestoredLedger(ctx context.Context, w io.Writer, uri, database string) bool {
	f := auditFlags{mongoURI: uri, database: database, buckets: auditEnvList("CARO_LEDGER_BUCKET", "CARO_LEDGER_REPLICA_BUCKET"),
		region: auditEnvOr("CARO_REGION", os.Getenv("AWS_REGION")), signingKeys: auditEnvList("CARO_LEDGER_SIGNING_KEY_ARN"),
		retentionYears: auditEnvInt("CARO_LEDGER_RETENTION_YEARS", ledger.DefaultRetentionYears), output: "text"}
	if v := os.Getenv(envLedgerPublicKey); v != "" {
		f.publicKeys = strings.Split(v, ",")
	}
	notRecovered := func(why string) bool {
		fmt.Fprintf(w, "WARNING: audit ledger HELD and NOT recovered (%s): run 'caro audit recover --target <uri> --database %s --yes' now (it removes the hold); "+
			"until then the audit writer refuses every event (retried, then kept in its dead-letter queue: redrive it after the recovery)\n", why, database)
		return false
	}
	if err := f.validateLedger(); err != nil {
		return notRecovered("no ledger configuration here: " + err.Error())
	}
	l, err := openAuditLedger(ctx, &f)
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
	fmt.Fprintf(w, "audit ledger: %d entries and %d checkpoint records recovered; the hold is released ('caro audit verify' checks the whole ledger)\n",
		rep.EntriesRecovered, rep.CheckpointRecordsRestored)
	return true
}
