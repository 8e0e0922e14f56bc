package restore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/maintenance"
)

// SnapshotResult is a finished Atlas snapshot restore job.
type SnapshotResult struct {
	SnapshotID   string
	SnapshotTime time.Time
	RestoreJobID string
	FinishedAt   time.Time
}

// SnapshotSource is an Atlas snapshot restore: Run starts the restore job (or resumes the one an
// interrupted run started) and waits until it finished. ID is the snapshot's ID when known before
// the job (a failover plan names it), so a completed restore of it is not run again.
type SnapshotSource struct {
	ID  string
	Run func(ctx context.Context) (SnapshotResult, error)
}

// Snapshot restores an Atlas snapshot into the target cluster by the protocol: an interrupted
// earlier restore is finished or rolled back; the erasure register is read and the target listed
// before the job starts (the job replaces the whole cluster, so nothing can be kept aside: what it
// replaces is listed in the report, and a target that changed since the plan is refused unless
// accepted); the maintenance switch is on while the job runs. After the job the switch is turned
// on again (the snapshot replaced it), the ledger held, the erasure register applied, the ledger
// recovered, the audit record and the marker written and the switch turned off.
func Snapshot(ctx context.Context, o Options, src SnapshotSource) (*Report, error) {
	start := time.Now()
	if o.Database == "" {
		o.Database = backup.DefaultDatabase
	}
	if err := o.prepare(); err != nil {
		return nil, err
	}
	rep := &Report{Kind: KindSnapshot, BackupID: src.ID, Database: o.Database}
	db, err := o.db(ctx)
	if err != nil {
		return rep, err
	}
	if done, err := o.recoverFirst(ctx, db, rep, src.ID); done || err != nil {
		return rep, err
	}
	if _, err := o.readRegister(ctx, time.Time{}); err != nil {
		return rep, fmt.Errorf("no snapshot restore was started: %w", afterRecovery(rep, err))
	}
	before, err := Take(ctx, db)
	if err != nil {
		return rep, err
	}
	if o.Expect != nil {
		if changes := o.Expect.Changes(before); len(changes) > 0 {
			if !o.AcceptChanges {
				return rep, newErr(ErrTargetChanged, nil, "an Atlas snapshot restore replaces the whole cluster (nothing can be kept aside): check who wrote it; to go ahead anyway, run the same command again with --yes; or plan again",
					"%s: %s", o.Database, strings.Join(changes, "; "))
			}
			rep.TargetChanges = changes
		}
	}
	if len(before.Collections) > 0 && !o.Replace {
		return rep, newErr(ErrTargetNotEmpty, nil, "an Atlas snapshot restore replaces the whole cluster: confirm with --yes", "%s holds %s", o.Database, before)
	}
	run := o.newRun(KindSnapshot, src.ID)
	for _, n := range before.Names() {
		run.Existing = append(run.Existing, Replaced{Collection: n, Documents: before.Collections[n]})
	}
	rep.Run = run.ID
	if err := startRun(ctx, db, run); err != nil {
		return rep, err
	}
	stop := heartbeat(ctx, db, run.ID)
	defer stop()
	if _, err := o.maintenanceOn(ctx, db, run); err != nil {
		return rep, o.rollback(ctx, db, run, err)
	}
	if len(before.Collections) > 0 {
		o.say("stage", "WARNING: the snapshot replaces everything in %s, which cannot be kept aside: %s", o.Database, before)
	}
	res, err := src.Run(ctx)
	if err == nil {
		err = o.step("job")
	}
	if err != nil {
		return rep, o.rollback(ctx, db, run, fmt.Errorf("%w (the target may hold the snapshot or its old data: run the restore again, it resumes the job)", err))
	}
	run.BackupID, run.SnapshotJob, run.BackupTime, run.Phase = res.SnapshotID, res.RestoreJobID, res.SnapshotTime, PhaseCommitted
	run.HoldTime = time.Now().UTC().Truncate(time.Millisecond)
	rep.BackupID, rep.BackupTime, rep.SnapshotJob, rep.Verified = res.SnapshotID, res.SnapshotTime, res.RestoreJobID, true
	// The cluster now holds the snapshot, its reserved collections included: an interrupted restore
	// it caught is recovered like any, a maintenance switch it carries is the source's (not
	// running here), and this run is recorded again.
	if err := o.adoptSnapshot(ctx, db, run); err != nil {
		return rep, err
	}
	if err := o.finish(ctx, db, run, nil, rep); err != nil {
		return rep, err
	}
	if inv, err := Take(ctx, db); err == nil {
		rep.Documents = inv.Documents()
	}
	rep.Duration = time.Since(start)
	o.say("done", "restored Atlas snapshot %s (job %s) into %s", res.SnapshotID, res.RestoreJobID, o.Database)
	return rep, nil
}

// adoptSnapshot records run (committed) in the database a snapshot just replaced and turns the
// maintenance switch on for it again.
func (o *Options) adoptSnapshot(ctx context.Context, db *mongo.Database, run Run) error {
	m, err := ReadMarker(ctx, db)
	if err != nil {
		return err
	}
	if m != nil && m.InProgress != nil && m.InProgress.ID != run.ID {
		if _, err := Recover(ctx, db, Options{Progress: o.Progress, hooks: &hooks{dead: func(Run) bool { return true }}, SkipErasureRegister: true}); err != nil {
			return fmt.Errorf("snapshot %s was restored, but the restore it caught in progress could not be recovered: %w", run.BackupID, err)
		}
	}
	if s, err := maintenance.Get(ctx, db); err == nil && s != nil && s.Owner != run.Owner {
		if _, err := maintenance.Off(ctx, db, s.Owner, true); err == nil {
			o.say("stage", "the snapshot carried the source's maintenance switch (%s, since %s): turned off, it belongs to no operation here", s.Owner, s.Since.Format(time.RFC3339))
		}
	}
	if _, err := db.Collection(MarkerCollection).UpdateOne(ctx, bson.D{{Key: "_id", Value: MarkerID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "in_progress", Value: run}}}}, options.UpdateOne().SetUpsert(true)); err != nil {
		return fmt.Errorf("snapshot %s was restored, but its run could not be recorded: %w (run the restore again: it finishes)", run.BackupID, err)
	}
	if _, err := maintenance.On(ctx, db, run.Owner, fmt.Sprintf("finishing the restore of Atlas snapshot %s", run.BackupID)); err != nil {
		return newErr(ErrMaintenance, err, "run the restore again: it finishes", "snapshot %s was restored into %s", run.BackupID, db.Name())
	}
	return nil
}
