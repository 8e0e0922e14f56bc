package main

import (
	"context"
	"fmt"
	"io"

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

// holdSnapshotLedger connects to uri and holds the ledger of database (holdAfterSnapshotRestore).
func holdSnapshotLedger(ctx context.Context, uri, database string, res atlas.RestoreResult, w io.Writer) error {
	client, closeClient, err := connectTarget(ctx, uri)
	if err != nil {
		return fmt.Errorf("the audit ledger hold could not be placed: %w", err)
	}
	defer closeClient()
	return holdAfterSnapshotRestore(ctx, client.Database(database), res, w)
}
