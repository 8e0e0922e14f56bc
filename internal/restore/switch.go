package restore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/internal/maintenance"
)

// switchRun moves the target's collections aside (kept as KeptName) and the staged ones into
// place, one rename at a time (each rename is atomic on its own), recording the phase in the
// marker first, so an interruption is rolled back by Recover. A failed rename rolls the done ones
// back in reverse; if that fails too the error wraps ErrSwitchFailed and the marker stays for
// Recover. The phase becomes committed after the last rename.
func (o *Options) switchRun(ctx context.Context, db *mongo.Database, run Run) error {
	if err := setRun(ctx, db, run.ID, bson.D{{Key: "phase", Value: PhaseSwitching}, {Key: "existing", Value: run.Existing}}); err != nil {
		return err
	}
	type rename struct{ from, to string }
	var done []rename
	rollback := func(cause error) error {
		if errors.Is(cause, errCrash) {
			return cause
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		for i := len(done) - 1; i >= 0; i-- {
			if err := renameCollection(rctx, db, done[i].to, done[i].from); err != nil {
				return newErr(ErrSwitchFailed, errors.Join(cause, err), hintRecover, "switch of %s (run %s) failed after %d of its renames", db.Name(), run.ID, len(done))
			}
		}
		return fmt.Errorf("restore: switching collections into %s failed and was rolled back, the target is as it was: %w", db.Name(), cause)
	}
	step := func(from, to, name string) error {
		if err := o.step(name); err != nil {
			return err
		}
		if err := renameCollection(ctx, db, from, to); err != nil {
			return fmt.Errorf("renaming %s to %s: %w", from, to, err)
		}
		done = append(done, rename{from, to})
		return nil
	}
	for _, e := range run.Existing {
		if err := step(e.Collection, e.KeptAs, "rename-existing:"+e.Collection); err != nil {
			return rollback(err)
		}
	}
	for _, c := range run.Collections {
		if err := step(stageName(run.ID, c), c, "rename-stage:"+c); err != nil {
			return rollback(err)
		}
	}
	if err := o.step("commit"); err != nil {
		return rollback(err)
	}
	if err := setRun(ctx, db, run.ID, bson.D{{Key: "phase", Value: PhaseCommitted}}); err != nil {
		return rollback(err)
	}
	return nil
}

// rollback undoes a run that has not switched (or whose switch was rolled back): its staging
// collections are dropped, the ledger hold it placed released, its maintenance switch turned off
// and its record removed. It returns cause, with what could not be undone added.
func (o *Options) rollback(ctx context.Context, db *mongo.Database, run Run, cause error) error {
	if errors.Is(cause, errCrash) {
		return cause
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	if err := undoRun(rctx, db, run); err != nil {
		return fmt.Errorf("%w; undoing the restore's own changes failed too (%v): run `caro backup recover --mongodb-uri <uri> --yes`", cause, err)
	}
	return cause
}

// undoRun drops run's staging collections, releases its ledger hold, turns its maintenance switch
// off and removes its record.
func undoRun(ctx context.Context, db *mongo.Database, run Run) error {
	if err := dropPrefixed(ctx, db, stagePrefix+run.ID+"_"); err != nil {
		return fmt.Errorf("dropping the staging collections: %w", err)
	}
	if err := releaseOwnHold(ctx, db, run); err != nil {
		return err
	}
	if _, err := maintenance.Off(ctx, db, run.Owner, false); err != nil && !errors.Is(err, maintenance.ErrHeldByOther) {
		return err
	}
	if err := endRun(ctx, db, run.ID); err != nil {
		return err
	}
	// A standby's pre-staged copy stays guarded by its switch when a run over it rolls back.
	if m, err := ReadMarker(ctx, db); err == nil && m != nil && m.Staged != nil {
		if _, err := maintenance.On(ctx, db, StandbyOwner, standbyReason(m.BackupID)); err != nil && !errors.Is(err, maintenance.ErrHeldByOther) {
			return err
		}
	}
	return nil
}

// releaseOwnHold removes the ledger hold when run placed it (same time and backup).
func releaseOwnHold(ctx context.Context, db *mongo.Database, run Run) error {
	if run.HoldTime.IsZero() {
		return nil
	}
	h, err := ledger.ReadHold(ctx, db)
	if err != nil || h == nil {
		return err
	}
	if !h.Time.Equal(run.HoldTime) || h.BackupID != run.BackupID {
		return nil // an earlier restore's hold: it stays until that ledger is recovered
	}
	_, err = ledger.ReleaseHold(ctx, db)
	return err
}

func renameCollection(ctx context.Context, db *mongo.Database, from, to string) error {
	return db.Client().Database("admin").RunCommand(ctx, bson.D{
		{Key: "renameCollection", Value: db.Name() + "." + from},
		{Key: "to", Value: db.Name() + "." + to},
	}).Err()
}

func dropPrefixed(ctx context.Context, db *mongo.Database, prefix string) error {
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return err
	}
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			if err := db.Collection(n).Drop(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// carryPendingEvents keeps the audit events still pending in the outboxes of replaced collections
// (renamed aside by a committed switch, where the reconciler no longer looks): each is added to
// the outbox of the document "replaced-<backup ID>" in backup.LogCollection (tenantId
// audit.PlatformTenant), which the reconciler publishes like any outbox. Only collections with the
// outbox index (audit.PendingIndex, which the API creates on every outbox collection) are scanned.
// Each event is added by one update conditional on it not being there yet, so a repeated carry-over
// (a crash, then Recover) neither duplicates nor double-counts it. It returns how many were added.
func carryPendingEvents(ctx context.Context, db *mongo.Database, backupID string, collections []string) (int, error) {
	docID := "replaced-" + backupID
	log := db.Collection(backup.LogCollection)
	added := 0
	for _, name := range collections {
		coll := db.Collection(name)
		specs, err := coll.Indexes().ListSpecifications(ctx)
		if err != nil {
			return added, fmt.Errorf("listing indexes of %s: %w", name, err)
		}
		if !slices.ContainsFunc(specs, func(s mongo.IndexSpecification) bool { return s.Name == audit.PendingIndexName }) {
			continue
		}
		cur, err := coll.Find(ctx, bson.D{{Key: audit.FieldPending, Value: bson.D{{Key: "$gt", Value: 0}}}},
			options.Find().SetProjection(bson.D{{Key: audit.FieldOutbox, Value: 1}}))
		if err != nil {
			return added, fmt.Errorf("reading pending audit events of %s: %w", name, err)
		}
		var docs []audit.Outbox
		if err := cur.All(ctx, &docs); err != nil {
			return added, fmt.Errorf("reading pending audit events of %s: %w", name, err)
		}
		for _, d := range docs {
			for id, ev := range d.Events {
				field := audit.FieldOutbox + "." + id
				res, err := log.UpdateOne(ctx, bson.D{{Key: "_id", Value: docID}, {Key: field, Value: bson.D{{Key: "$exists", Value: false}}}},
					bson.D{{Key: "$set", Value: bson.D{{Key: "tenantId", Value: audit.PlatformTenant}, {Key: field, Value: audit.OutboxEvent(ev)}}},
						{Key: "$inc", Value: bson.D{{Key: audit.FieldPending, Value: 1}}}},
					options.UpdateOne().SetUpsert(true))
				if mongo.IsDuplicateKeyError(err) {
					continue // already carried over: the document exists and holds the event
				}
				if err != nil {
					return added, fmt.Errorf("keeping pending audit event %s of %s: %w", id, name, err)
				}
				if res.ModifiedCount+res.UpsertedCount > 0 {
					added++
				}
			}
		}
	}
	return added, nil
}
