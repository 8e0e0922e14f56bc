package restore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/erasure"
	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/internal/maintenance"
)

// BackupSource is a logical backup to restore and how to load it.
type BackupSource struct {
	backup.ReadOptions
	// Workers, BatchBytes and BatchDocs tune the parallel loader (backup.StageOptions).
	Workers    int
	BatchBytes int
	BatchDocs  int
	// SkipPreverify loads while authenticating instead of reading the whole backup once first.
	// Nothing reaches the target's collections unless everything authenticated either way; the
	// pre-pass also keeps a damaged backup from creating even staging collections.
	SkipPreverify bool
	// Recount counts every staged collection on the server before the switch (slow on FerretDB).
	Recount bool
}

// Backup restores a logical backup into the target database by the protocol (see the package
// documentation): an interrupted earlier restore is finished or rolled back first; the manifest is
// authenticated (under an allowed key only); the erasure register is read and (unless
// SkipPreverify) the whole backup authenticated before anything is written; the data is loaded
// into staging collections under the maintenance switch; then hold, erasures, switch, ledger
// recovery, audit record, marker, maintenance off. A failure before the switch leaves the target
// as it was (its collections untouched, the staging dropped); after it, the next restore or
// Recover finishes the run.
func Backup(ctx context.Context, o Options, src BackupSource) (*Report, error) {
	start := time.Now()
	if err := o.prepare(); err != nil {
		return nil, err
	}
	st, rep, err := o.beginBackup(ctx, src, !src.SkipPreverify)
	if st == nil {
		return rep, err
	}
	defer st.stop()
	o.say("stage", "maintenance switch on (the API answers writes with 503 until the restore ends); loading %s into staging collections %s%s_*", st.m.BackupID, stagePrefix, st.run.ID)
	staged, err := st.b.Stage(ctx, st.db, func(c string) string { return stageName(st.run.ID, c) },
		backup.StageOptions{Workers: src.Workers, BatchBytes: src.BatchBytes, BatchDocs: src.BatchDocs, Recount: src.Recount, Progress: o.Progress})
	if err == nil {
		err = o.step("loaded")
	}
	if err != nil {
		return rep, o.rollback(ctx, st.db, st.run, err)
	}
	return o.completeBackup(ctx, st, staged, start)
}

// started is a restore run of a logical backup whose load is under way: the run is recorded in
// the marker and the maintenance switch is on.
type started struct {
	db  *mongo.Database
	b   *backup.Backup
	m   backup.Manifest
	run Run
	// on is when the maintenance switch went on; first the erasure register as listed before the
	// load.
	on    time.Time
	first []erasure.Erasure
	rep   *Report
	stop  func()
}

// beginBackup runs the protocol up to the load (see Backup): recover first, authenticate the
// manifest, read the register, check the whole backup (when preverify), record the run, switch the
// maintenance on. It returns no run when there is nothing to load (already restored) or on error.
func (o *Options) beginBackup(ctx context.Context, src BackupSource, preverify bool) (*started, *Report, error) {
	if o.Database == "" {
		o.Database = backup.DefaultDatabase
	}
	rep := &Report{Kind: KindBackup, BackupID: src.BackupID, Database: o.Database}
	db, err := o.db(ctx)
	if err != nil {
		return nil, rep, err
	}
	// Before anything else, even before the backup is read: an interrupted earlier restore is
	// finished or rolled back, and the report (and any error) says which.
	if done, err := o.recoverFirst(ctx, db, rep, src.BackupID); done || err != nil {
		return nil, rep, err
	}
	b, err := backup.Open(ctx, src.ReadOptions)
	if err != nil {
		return nil, rep, afterRecovery(rep, err)
	}
	m := b.Manifest()
	o.say("manifest", "manifest of %s authenticated: %d collections, %d documents from %s", m.BackupID, len(m.Collections), m.Documents, m.SourceRegion)
	if o.From == "" {
		o.From = m.SourceRegion
	}
	rep.SourceRegion, rep.BackupTime = m.SourceRegion, m.CreatedAt
	first, err := o.readRegister(ctx, m.CreatedAt)
	if err != nil {
		return nil, rep, afterRecovery(rep, err)
	}
	if preverify {
		if err := b.Check(ctx, o.Progress); err != nil {
			return nil, rep, afterRecovery(rep, err)
		}
		o.say("check", "all %d collections of %s authenticated; counts and checksums match the manifest", len(m.Collections), m.BackupID)
	}
	existing, err := userCollections(ctx, db)
	if err != nil {
		return nil, rep, newErr(backup.ErrTargetUnreachable, err, hintTarget, "listing the collections of %s", o.Database)
	}
	if len(existing) > 0 && !o.Replace {
		return nil, rep, newErr(ErrTargetNotEmpty, nil, hintNotEmpty, "%s has %d collections (%s)", o.Database, len(existing), strings.Join(existing, ", "))
	}

	run := o.newRun(KindBackup, m.BackupID)
	run.Documents, run.BackupTime, run.PlaintextSHA256 = m.Documents, m.CreatedAt, m.PlaintextSHA256
	for _, c := range m.Collections {
		run.Collections = append(run.Collections, c.Name)
	}
	rep.Run = run.ID
	if err := startRun(ctx, db, run); err != nil {
		return nil, rep, err
	}
	stop := heartbeat(ctx, db, run.ID)
	on, err := o.maintenanceOn(ctx, db, run)
	if err != nil {
		stop()
		return nil, rep, o.rollback(ctx, db, run, err)
	}
	return &started{db: db, b: b, m: m, run: run, on: on, first: first, rep: rep, stop: stop}, rep, nil
}

// completeBackup runs the protocol from the staged data to the end (see Backup): settle, compare,
// hold, erasures, compare again, switch, finish. A failure before the switch rolls the run back.
func (o *Options) completeBackup(ctx context.Context, st *started, staged []backup.CollectionRestore, start time.Time) (*Report, error) {
	db, run, rep := st.db, st.run, st.rep
	fail := func(cause error) (*Report, error) { return rep, o.rollback(ctx, db, run, cause) }
	rep.Collections, rep.Verified = staged, true
	for _, c := range staged {
		rep.Documents += c.Documents
	}

	before, err := o.settledInventory(ctx, db, st.on, rep)
	if err != nil {
		return fail(err)
	}
	if before.Documents() > 0 || len(before.Collections) > 0 {
		if !o.Replace {
			return fail(newErr(ErrTargetNotEmpty, nil, hintNotEmpty, "%s now holds %s (it was empty when the restore started)", o.Database, before))
		}
	}
	if err := o.holdLedger(ctx, db, &run, before.Names()); err != nil {
		return fail(err)
	}
	if held, err := ledger.ReadHold(ctx, db); err != nil {
		return fail(newErr(backup.ErrTargetUnreachable, err, hintTarget, "reading the audit ledger hold of %s", o.Database))
	} else {
		rep.LedgerHeld = held != nil
	}

	seen := map[string]bool{}
	if !o.SkipErasureRegister {
		sum, err := o.applyToStaging(ctx, db, run.ID, st.first, seen)
		if err == nil {
			err = o.step("erasures")
		}
		if err != nil {
			return fail(fmt.Errorf("restore: re-applying registered erasures: %w (nothing was switched; fix the cause and run the restore again)", err))
		}
		rep.Erasures = &sum
	} else {
		rep.ErasureRegisterSkipped = true
	}

	after, err := Take(ctx, db)
	if err != nil {
		return fail(err)
	}
	if changes := before.Changes(after); len(changes) > 0 {
		return fail(newErr(ErrWritesDuringRestore, nil, "an API instance or another client does not honour the maintenance switch (a version without it, or a direct connection): stop it, then run the restore again; nothing was switched and nothing was dropped",
			"%s changed while the maintenance switch was on: %s", o.Database, strings.Join(changes, "; ")))
	}
	if err := cancelled(ctx, db, run.ID); err != nil {
		return fail(err)
	}
	run.Existing = make([]Replaced, 0, len(after.Collections))
	for _, n := range after.Names() {
		run.Existing = append(run.Existing, Replaced{Collection: n, Documents: after.Collections[n], KeptAs: KeptName(run.ID, n)})
	}
	o.say("switch", "switching %d collections into %s", len(run.Collections), o.Database)
	if err := o.switchRun(ctx, db, run); err != nil {
		if errors.Is(err, errCrash) {
			return rep, err
		}
		if errors.Is(err, ErrSwitchFailed) {
			return rep, err // the marker stays: Recover rolls the switch back
		}
		return fail(err)
	}
	run.Phase = PhaseCommitted
	if err := o.finish(ctx, db, run, seen, rep); err != nil {
		return rep, err
	}
	rep.Duration = time.Since(start)
	if s := rep.Duration.Seconds(); s > 0 {
		rep.DocsPerSecond = float64(rep.Documents) / s
	}
	o.say("done", "restored %d documents into %s", rep.Documents, o.Database)
	return rep, nil
}

// afterRecovery says, in an error that stops the restore, what the recovery before it did.
func afterRecovery(rep *Report, err error) error {
	if rep.Recovered == nil || rep.Recovered.Action == "" {
		return err
	}
	return fmt.Errorf("%s; then this restore stopped: %w", rep.Recovered.Detail, err)
}

// recoverFirst finishes or rolls back an interrupted restore of db before anything else, and says
// whether this restore is already complete (a resumed failover step whose restore completed, or an
// interrupted run of the same backup and plan that Recover just finished).
func (o *Options) recoverFirst(ctx context.Context, db *mongo.Database, rep *Report, backupID string) (done bool, err error) {
	rec, err := Recover(ctx, db, *o)
	if rec != nil && rec.Action != "" {
		rep.Recovered = rec
	}
	if err != nil {
		return true, err
	}
	if backupID == "" {
		return false, nil
	}
	m, err := ReadMarker(ctx, db)
	if err != nil {
		return true, err
	}
	finishedNow := rec != nil && rec.Action == Finished && rec.BackupID == backupID && rec.PlanID == o.PlanID
	completedBefore := o.PlanID != "" && m != nil && m.InProgress == nil && m.BackupID == backupID && m.PlanID == o.PlanID
	if !finishedNow && !completedBefore {
		return false, nil
	}
	rep.AlreadyRestored, rep.Run, rep.Documents, rep.Verified = true, m.Run, m.Documents, true
	rep.Replaced = m.Replaced
	if finishedNow && rec.Finished != nil {
		fin := rec.Finished
		rep.Erasures, rep.LedgerHeld, rep.LedgerRecovered, rep.LedgerSummary = fin.Erasures, fin.LedgerHeld, fin.LedgerRecovered, fin.LedgerSummary
		rep.AuditEventID, rep.AuditEvents, rep.UnstoredAuditEvent, rep.Warnings = fin.AuditEventID, fin.AuditEvents, fin.UnstoredAuditEvent, fin.Warnings
	}
	o.say("done", "backup %s was already restored into %s (run %s at %s): nothing to do", backupID, db.Name(), m.Run, m.RestoredAt.Format(time.RFC3339))
	return true, nil
}

// readRegister lists the erasure register before anything is written: a restore that could not
// re-apply the erasures must not start.
func (o *Options) readRegister(ctx context.Context, backupTime time.Time) ([]erasure.Erasure, error) {
	if o.SkipErasureRegister {
		o.say("erasures", "WARNING: the erasure register is skipped (--skip-erasure-register): every patient erased since %s comes back with personal data; run `caro gdpr reapply` as soon as the register is readable",
			backupTime.UTC().Format(time.RFC3339))
		return nil, nil
	}
	list, err := o.Erasures.List(ctx, time.Time{})
	if err != nil {
		return nil, newErr(ErrErasureRegister, err, hintErasureRegister, "reading the erasure register")
	}
	o.say("erasures", "erasure register read: %d erasures to re-apply before the switch", len(list))
	return list, nil
}

// maintenanceOn turns the switch on for run and returns when.
func (o *Options) maintenanceOn(ctx context.Context, db *mongo.Database, run Run) (time.Time, error) {
	on := time.Now()
	reason := fmt.Sprintf("restoring %s %s into %s", run.Kind, run.BackupID, db.Name())
	_, err := maintenance.On(ctx, db, run.Owner, reason)
	if errors.Is(err, maintenance.ErrHeldByOther) {
		// A standby's pre-staged copy is guarded by its own switch; any restore takes it over, in
		// one update, so the switch is never off in between and has been on (and seen by every
		// API instance) since the standby set it: nothing more to settle.
		var s maintenance.State
		if s, err = maintenance.Transfer(ctx, db, StandbyOwner, run.Owner, reason); err == nil {
			on = s.Since
		}
	}
	if err != nil {
		hint := "the restore stops the API writing while it replaces the data; nothing was changed"
		if errors.Is(err, maintenance.ErrHeldByOther) {
			hint = "another operation is changing this database (named above): wait until it has finished, then run the restore again; nothing was changed"
		}
		return on, newErr(ErrMaintenance, err, hint, "%s", db.Name())
	}
	return on, nil
}

// settledInventory waits until Settle has passed since the switch went on (the load ran
// meanwhile), then lists the target and compares it with Expect.
func (o *Options) settledInventory(ctx context.Context, db *mongo.Database, on time.Time, rep *Report) (Inventory, error) {
	if wait := time.Until(on.Add(o.settle())); wait > 0 {
		o.say("switch", "waiting %s until every API instance has seen the maintenance switch", wait.Round(100*time.Millisecond))
		select {
		case <-ctx.Done():
			return Inventory{}, ctx.Err()
		case <-time.After(wait):
		}
	}
	inv, err := Take(ctx, db)
	if err != nil {
		return inv, err
	}
	if o.Expect == nil {
		return inv, nil
	}
	changes := o.Expect.Changes(inv)
	if len(changes) == 0 {
		return inv, nil
	}
	if !o.AcceptChanges {
		return inv, newErr(ErrTargetChanged, nil, "the restore would move this data aside (kept, not dropped): check who wrote it; to go ahead anyway, run the same command again with --yes; or plan again",
			"%s: %s", db.Name(), strings.Join(changes, "; "))
	}
	rep.TargetChanges = changes
	o.say("switch", "WARNING: %s changed since the plan (accepted with --yes): %s; it is moved aside and kept", db.Name(), strings.Join(changes, "; "))
	return inv, nil
}

// holdLedger places the audit ledger hold before the switch when the restore rolls back or replaces
// a ledger (the backup or the target holds ledger entries): the audit writer then appends nothing
// and cuts no checkpoint until the ledger is recovered. The run records the hold's time first
// (run.HoldTime), so a rollback releases only the hold this run placed.
func (o *Options) holdLedger(ctx context.Context, db *mongo.Database, run *Run, existing []string) error {
	has := func(list []string) bool {
		for _, n := range list {
			if n == ledger.EntriesCollection {
				return true
			}
		}
		return false
	}
	if !has(run.Collections) && !has(existing) {
		return nil
	}
	at := time.Now().UTC().Truncate(time.Millisecond)
	if err := setRun(ctx, db, run.ID, bson.D{{Key: "hold_time", Value: at}}); err != nil {
		return err
	}
	run.HoldTime = at
	placed, err := ledger.PlaceHold(ctx, db, ledger.Hold{BackupID: run.BackupID, Time: at,
		Reason: fmt.Sprintf("database restored from %s %s (run %s): the audit ledger is rolled back to its time", run.Kind, run.BackupID, run.ID)})
	if err != nil {
		return fmt.Errorf("restore: %w (nothing was switched; run the restore again)", err)
	}
	if !placed {
		o.say("switch", "audit ledger already held by an earlier restore not yet recovered: it stays held until it is recovered")
		return nil
	}
	o.say("switch", "audit ledger held: appends are refused until it is recovered from the checkpoints")
	return nil
}

// applyToStaging applies the erasures listed before the load to the staging collections, then
// lists the register again and applies those recorded meanwhile, so only the renames of the switch
// remain between the last listing and the restored data going live (finish lists once more).
func (o *Options) applyToStaging(ctx context.Context, db *mongo.Database, run string, first []erasure.Erasure, seen map[string]bool) (erasure.Summary, error) {
	say := func(m string) { o.say("erasures", "%s", m) }
	cols := erasure.Live().Renamed(func(c string) string { return stageName(run, c) })
	sum, err := erasure.Reapply(ctx, erasure.ReapplyOptions{Source: erasure.Listed(first), DB: db, Collections: cols, Origin: o.Origin, Progress: say})
	for _, e := range first {
		seen[erasure.Key(e.TenantID, e.PatientID)] = true
	}
	if err != nil {
		return sum, err
	}
	more, err := o.reapplyRecorded(ctx, db, cols, seen)
	mergeErasures(&sum, more)
	if err == nil && more.Registered > 0 {
		say(fmt.Sprintf("%d erasures recorded during the restore applied as well", more.Registered))
	}
	// The events were written into the staging collections, live under their own names after the
	// switch.
	for i := range sum.Events {
		sum.Events[i].Collection = strings.TrimPrefix(sum.Events[i].Collection, stagePrefix+run+"_")
	}
	return sum, err
}

// reapplyRecorded lists the register and applies, to cols, the erasures not in seen, adding them.
func (o *Options) reapplyRecorded(ctx context.Context, db *mongo.Database, cols erasure.Collections, seen map[string]bool) (erasure.Summary, error) {
	again, err := o.Erasures.List(ctx, time.Time{})
	if err != nil {
		return erasure.Summary{}, newErr(ErrErasureRegister, err, hintErasureRegister, "reading the erasure register again")
	}
	var recent erasure.Listed
	for _, e := range again {
		if k := erasure.Key(e.TenantID, e.PatientID); !seen[k] {
			seen[k] = true
			recent = append(recent, e)
		}
	}
	if len(recent) == 0 {
		return erasure.Summary{}, nil
	}
	say := func(m string) { o.say("erasures", "%s", m) }
	return erasure.Reapply(ctx, erasure.ReapplyOptions{Source: recent, DB: db, Collections: cols, Origin: o.Origin, Progress: say})
}

// mergeErasures adds more to sum.
func mergeErasures(sum *erasure.Summary, more erasure.Summary) {
	sum.Registered += more.Registered
	sum.Applied += more.Applied
	sum.Patients += more.Patients
	sum.Notes += more.Notes
	sum.AuditEvents += more.AuditEvents
	sum.Tenants += more.Tenants
	sum.TenantsErased += more.TenantsErased
	sum.TenantDocuments += more.TenantDocuments
	sum.Events = append(sum.Events, more.Events...)
}
