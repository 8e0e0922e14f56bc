package restore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/erasure"
	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/internal/maintenance"
)

// finish completes a committed run: the audit events still pending in the collections moved aside
// are kept, the erasure register is applied to the live data once more (everything registered up to
// now: applying is idempotent), the ledger recovered, the restore's audit record written (its one
// event ID) and published, the marker written, the maintenance switch turned off. Every part can be
// repeated, so a run interrupted here is finished by the next restore or Recover. seen are the
// erasures already applied to the staged data by this process (none when resuming).
func (o *Options) finish(ctx context.Context, db *mongo.Database, run Run, seen map[string]bool, rep *Report) error {
	kept := make([]string, 0, len(run.Existing))
	for _, e := range run.Existing {
		if e.KeptAs != "" {
			kept = append(kept, e.KeptAs)
		}
	}
	if n, err := carryPendingEvents(ctx, db, run.BackupID, kept); err != nil {
		return newErr(ErrSwitchFailed, err, hintRecover, "the restored data of run %s is live in %s, but the audit events pending in the collections moved aside could not be kept yet", run.ID, db.Name())
	} else if n > 0 {
		o.say("switch", "%d audit events still pending in the replaced collections kept in %s for the reconciler", n, backup.LogCollection)
	}
	rep.Replaced = run.Existing
	if len(kept) > 0 {
		o.say("switch", "replaced collections kept: %s (remove them with `caro backup discard-replaced --mongodb-uri <uri> --run %s --yes` once the restore is confirmed)", keptList(run.Existing), run.ID)
	}
	if run.Kind == KindSnapshot {
		if err := o.holdSnapshotLedger(ctx, db, run, rep); err != nil {
			return err
		}
	}
	if err := o.erasuresAfterSwitch(ctx, db, run, seen, rep); err != nil {
		return err
	}
	o.expireRetained(ctx, db, rep)
	if h, err := ledger.ReadHold(ctx, db); err != nil {
		return newErr(backup.ErrTargetUnreachable, err, hintTarget, "reading the audit ledger hold of %s", db.Name())
	} else if h != nil {
		rep.LedgerHeld = true
		o.recoverLedger(ctx, db, rep)
	}
	o.recordAudit(ctx, db, run, rep)
	if err := o.step("marker"); err != nil {
		return err
	}
	var staged *StagedCopy
	if run.Standby {
		inv, err := Take(ctx, db)
		if err != nil {
			return err
		}
		staged = &StagedCopy{Inventory: inv, VerifiedAt: time.Now().UTC(), Seconds: time.Since(run.Started).Seconds(),
			BackupTime: run.BackupTime, PlaintextSHA256: run.PlaintextSHA256}
	}
	if err := completeRun(ctx, db, run, run.Existing, time.Now(), staged); err != nil {
		return newErr(ErrSwitchFailed, err, hintRecover, "the restored data of run %s is live in %s", run.ID, db.Name())
	}
	if err := o.step("maintenance-off"); err != nil {
		return err
	}
	if run.Standby {
		// The staged copy is not the live data: the standby's API keeps refusing writes into it
		// until a failover activates it.
		if _, err := maintenance.Transfer(context.WithoutCancel(ctx), db, run.Owner, StandbyOwner, standbyReason(run.BackupID)); err != nil {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("the maintenance switch could not be handed to %q (%v): the standby's API would accept writes into the staged copy", StandbyOwner, err))
		}
	} else if _, err := maintenance.Off(context.WithoutCancel(ctx), db, run.Owner, false); err != nil {
		w := fmt.Sprintf("the maintenance switch of run %s could not be turned off (%v): the API refuses writes until `caro backup recover --mongodb-uri <uri> --yes` clears it", run.ID, err)
		rep.Warnings = append(rep.Warnings, w)
		o.say("done", "WARNING: %s", w)
	}
	if err := dropPrefixed(context.WithoutCancel(ctx), db, stagePrefix); err != nil {
		o.say("done", "warning: left-over staging collections could not be dropped (the next restore drops them): %v", err)
	}
	return nil
}

func keptList(rs []Replaced) string {
	parts := make([]string, 0, len(rs))
	for _, r := range rs {
		if r.KeptAs != "" {
			parts = append(parts, fmt.Sprintf("%s as %s (%d documents)", r.Collection, r.KeptAs, r.Documents))
		}
	}
	return strings.Join(parts, ", ")
}

// erasuresAfterSwitch lists the register once more and applies what the staged data has not had
// (an erasure the API recorded after the last listing but applied to the old collections before
// they were switched out would otherwise come back). The marker is not written unless it succeeds,
// so the run is finished again (by the next restore or Recover) until it does.
func (o *Options) erasuresAfterSwitch(ctx context.Context, db *mongo.Database, run Run, seen map[string]bool, rep *Report) error {
	if o.SkipErasureRegister {
		rep.ErasureRegisterSkipped = true
		return nil
	}
	if o.Erasures == nil {
		w := fmt.Sprintf("the erasure register was not given, so the erasures recorded since run %s staged its data are not re-applied: run `caro gdpr reapply --mongodb-uri <uri> --yes` now", run.ID)
		rep.Warnings = append(rep.Warnings, w)
		o.say("erasures", "WARNING: %s", w)
		return nil
	}
	if seen == nil {
		seen = map[string]bool{}
	}
	more, err := o.reapplyRecorded(ctx, db, erasure.Live(), seen)
	if rep.Erasures == nil {
		rep.Erasures = &erasure.Summary{}
	}
	mergeErasures(rep.Erasures, more)
	if err == nil {
		err = o.step("erasures-after")
	}
	if err != nil {
		if errors.Is(err, errCrash) {
			return err
		}
		return newErr(ErrErasureRegister, err, "run the restore (or `caro backup recover --mongodb-uri <uri> --yes` with the register) again: it finishes this run; or `caro gdpr reapply --mongodb-uri <uri> --yes`",
			"the restored data of run %s is live in %s, but the erasure register could not be applied to it again", run.ID, db.Name())
	}
	if more.Registered > 0 {
		o.say("erasures", "%d registered erasures applied to the restored data after the switch", more.Registered)
	}
	return nil
}

// recoverLedger recovers the held ledger with o.Ledger, or says what to run.
func (o *Options) recoverLedger(ctx context.Context, db *mongo.Database, rep *Report) {
	if o.Ledger == nil {
		rep.LedgerSummary = fmt.Sprintf("audit ledger HELD and NOT recovered (no ledger configuration here): run 'caro audit recover --mongodb-uri <uri> --database %s --yes' now (it removes the hold); "+
			"until then the audit writer refuses every event (retried, then kept in its dead-letter queue: redrive it after the recovery)", db.Name())
		rep.Warnings = append(rep.Warnings, rep.LedgerSummary)
		o.say("ledger", "WARNING: %s", rep.LedgerSummary)
		return
	}
	rep.LedgerSummary, rep.LedgerRecovered = o.Ledger(ctx, db)
	if !rep.LedgerRecovered {
		rep.Warnings = append(rep.Warnings, rep.LedgerSummary)
	}
}

// holdSnapshotLedger holds the ledger of a database an Atlas snapshot just replaced, when it holds
// one (the job replaces the whole cluster, so the hold cannot be placed before it).
func (o *Options) holdSnapshotLedger(ctx context.Context, db *mongo.Database, run Run, rep *Report) error {
	held, err := ledger.HoldIfLedger(ctx, db, ledger.Hold{BackupID: "atlas-snapshot-" + run.BackupID, Time: run.HoldTime,
		Reason: fmt.Sprintf("Atlas snapshot %s (restore job %s, run %s) restored: the audit ledger is rolled back to the snapshot's time", run.BackupID, run.SnapshotJob, run.ID)})
	if err != nil {
		return fmt.Errorf("snapshot %s was restored, but the audit ledger hold could not be placed: %w (run the restore again: it places the hold first)", run.BackupID, err)
	}
	if held {
		o.say("ledger", "audit ledger held: appends are refused until it is recovered from the checkpoints")
	}
	rep.LedgerHeld = held
	return nil
}

// recordAudit writes the restore's record and its one backup:restore event (the run's event ID) in
// backup.LogCollection, then delivers every event the restore wrote. A record that cannot be
// written is a warning: the data is in place; the event is then delivered directly.
func (o *Options) recordAudit(ctx context.Context, db *mongo.Database, run Run, rep *Report) {
	now := time.Now().UTC()
	var written *audit.Written
	var ev audit.Event
	var err error
	switch run.Kind {
	case KindSnapshot:
		ev = backup.SnapshotRestoreEvent(run.Origin, run.BackupID, run.SnapshotJob, now)
		ev.ID = run.EventID
		var w audit.Written
		if w, err = backup.RecordSnapshotRestore(ctx, db, ev, run.BackupID, run.SnapshotJob, run.BackupTime); err == nil {
			written = &w
		}
	default:
		ev = run.Origin.Event(now, audit.PlatformTenant, backup.ActionRestore, backup.ResourceDatabase, run.BackupID)
		ev.ID, ev.AfterHash = run.EventID, run.PlaintextSHA256
		written, err = writeRestoreLog(ctx, db, run, ev, now)
	}
	rep.AuditEventID = ev.ID
	if written != nil {
		rep.AuditEvents = append(rep.AuditEvents, *written)
	} else {
		w := fmt.Sprintf("the restore and its audit event %s could not be recorded in %s (%v): the event is published directly", ev.ID, backup.LogCollection, err)
		rep.Warnings = append(rep.Warnings, w)
		o.say("done", "warning: %s", w)
		rep.UnstoredAuditEvent = &ev
	}
	if rep.Erasures != nil {
		rep.AuditEvents = append(rep.AuditEvents, rep.Erasures.Events...)
	}
	if o.Deliver != nil {
		o.Deliver(ctx, db, rep.AuditEvents, rep.UnstoredAuditEvent)
	}
}

// writeRestoreLog records the completed restore in backup.LogCollection together with its
// backup:restore event, in one single-document upsert: the record's fields are set and the event
// added to the document's outbox, conditional on the event not being there yet, so a run finished
// twice (or an attempt that committed but timed out) adds it once. Its resource ID is the backup
// ID, its after hash the backup's plaintext SHA-256 (the state restored, before the re-applied
// erasures, each of which has its own event); there is no before hash.
func writeRestoreLog(ctx context.Context, db *mongo.Database, run Run, ev audit.Event, now time.Time) (*audit.Written, error) {
	set := bson.D{{Key: "tenantId", Value: audit.PlatformTenant}, {Key: "restoredAt", Value: now}, {Key: "documents", Value: run.Documents},
		{Key: "plaintextSha256", Value: run.PlaintextSHA256}, {Key: "sourceRegion", Value: run.From}, {Key: "backupTime", Value: run.BackupTime}, {Key: "run", Value: run.ID}}
	upd, err := audit.WithEvent(bson.D{{Key: "$set", Value: set}}, ev)
	if err != nil {
		return nil, err
	}
	filter := bson.D{{Key: "_id", Value: run.BackupID}, {Key: audit.FieldOutbox + "." + ev.ID, Value: bson.D{{Key: "$exists", Value: false}}}}
	for attempt := range 3 {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		_, err = db.Collection(backup.LogCollection).UpdateOne(wctx, filter, upd, options.UpdateOne().SetUpsert(true))
		cancel()
		if err == nil || mongo.IsDuplicateKeyError(err) {
			// A duplicate key means the record exists with the event: it is stored.
			return &audit.Written{Collection: backup.LogCollection, TenantID: audit.PlatformTenant, DocID: run.BackupID, Event: ev}, nil
		}
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
	}
	return nil, err
}

// standbyReason is the reason of the switch that guards a staged copy.
func standbyReason(backupID string) string {
	return fmt.Sprintf("standby: pre-staged copy of backup %s, waiting for a failover", backupID)
}
