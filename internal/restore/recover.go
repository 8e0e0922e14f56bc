package restore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/maintenance"
)

// Recover finishes or rolls back an interrupted restore of db, and says which (every restore calls
// it first; `caro backup recover` only this):
//
//   - a run stopped before its switch (staging) or during it (switching) is rolled back: the
//     restored collections go back to staging, the target's collections back into place, the
//     staging is dropped, its ledger hold released, its maintenance switch turned off. A collection
//     a writer created during the interrupted switch is moved aside and kept (Recovery.Detail names
//     it), never dropped;
//   - a committed run is finished (see finish): the erasure register is applied once more when o
//     has it, the ledger recovered when o can, the audit record and the marker written, the
//     maintenance switch turned off;
//   - an Atlas snapshot run stopped while its job ran cannot be undone here: its record and switch
//     are cleared and the next restore resumes the job in Atlas.
//
// A maintenance switch a restore left on after its marker, and staging collections of dead runs,
// are cleared too. A run whose process is still alive (same host, or a heartbeat on another host
// within HeartbeatStale) is not touched: ErrRestoreRunning. Recover is idempotent.
func Recover(ctx context.Context, db *mongo.Database, o Options) (*Recovery, error) {
	if err := adoptLegacyMarker(ctx, db); err != nil {
		return nil, err
	}
	m, err := ReadMarker(ctx, db)
	if err != nil {
		return nil, newErr(backup.ErrTargetUnreachable, err, hintTarget, "reading the restore marker of %s", db.Name())
	}
	if m == nil || m.InProgress == nil {
		return clearLeftovers(ctx, db, o)
	}
	run := *m.InProgress
	if !o.dead(run) {
		return nil, runningError(run)
	}
	rec := &Recovery{Run: run.ID, Kind: run.Kind, BackupID: run.BackupID, PlanID: run.PlanID, Phase: run.Phase}
	if err := waitStagingQuiet(ctx, db, stagePrefix+run.ID+"_", o.say); err != nil {
		return nil, err
	}
	switch {
	case run.Phase == PhaseCommitted:
		o.say("recover", "restore run %s of %s %s into %s was interrupted after its switch committed: finishing it", run.ID, run.Kind, run.BackupID, db.Name())
		fin := &Report{Kind: run.Kind, BackupID: run.BackupID, Database: db.Name(), Run: run.ID, Documents: run.Documents, Verified: true,
			SourceRegion: run.From, BackupTime: run.BackupTime, SnapshotJob: run.SnapshotJob}
		oo := o
		oo.Origin = run.Origin
		if err := oo.finish(ctx, db, run, nil, fin); err != nil {
			return nil, fmt.Errorf("finishing the interrupted restore run %s of %s: %w", run.ID, run.BackupID, err)
		}
		rec.Action, rec.Finished = Finished, fin
		rec.Detail = fmt.Sprintf("FINISHED the interrupted restore of %s %s (run %s, stopped after its switch): its data stays in place", run.Kind, run.BackupID, run.ID)
		if len(fin.Replaced) > 0 {
			rec.Detail += "; what it replaced is kept: " + keptList(fin.Replaced)
		}
	case run.Kind == KindSnapshot:
		if err := undoRun(ctx, db, run); err != nil {
			return nil, fmt.Errorf("clearing the interrupted snapshot restore run %s: %w", run.ID, err)
		}
		rec.Action = RolledBack
		rec.Detail = fmt.Sprintf("ROLLED BACK the record of the interrupted Atlas snapshot restore (run %s, stopped while its job ran): "+
			"its maintenance switch is off; the job may still be running in Atlas, and the next restore of the snapshot resumes it", run.ID)
	default:
		kept, err := unswitch(ctx, db, run)
		if err != nil {
			return nil, newErr(ErrSwitchFailed, err, "check the server and run `caro backup recover --mongodb-uri <uri> --yes` again", "rolling back run %s of %s in %s", run.ID, run.BackupID, db.Name())
		}
		if err := undoRun(ctx, db, run); err != nil {
			return nil, fmt.Errorf("rolling back the interrupted restore run %s: %w", run.ID, err)
		}
		rec.Action = RolledBack
		rec.Detail = fmt.Sprintf("ROLLED BACK the interrupted restore of backup %s (run %s, stopped in its %s phase): the target's collections are back as they were and its staging is dropped", run.BackupID, run.ID, run.Phase)
		if len(kept) > 0 {
			rec.Detail += "; collections written while it switched are kept aside: " + strings.Join(kept, ", ")
		}
	}
	o.say("recover", "%s", rec.Detail)
	if more, err := clearLeftovers(ctx, db, o); err != nil {
		return rec, err
	} else if more.Action != "" {
		rec.Detail += "; " + more.Detail
	}
	return rec, nil
}

// unswitch undoes the renames of an interrupted switch. A restored collection is in place exactly
// when its staging name is gone (the target's collections were all moved aside before any staging
// collection moved in); a collection found where one moved aside must go back, written while the
// switch was interrupted, is moved aside itself and kept. It returns what it kept so.
func unswitch(ctx context.Context, db *mongo.Database, run Run) (kept []string, err error) {
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return nil, err
	}
	present := map[string]bool{}
	for _, n := range names {
		present[n] = true
	}
	move := func(from, to string) error {
		if err := renameCollection(ctx, db, from, to); err != nil {
			return fmt.Errorf("renaming %s to %s: %w", from, to, err)
		}
		present[from], present[to] = false, true
		return nil
	}
	for _, c := range run.Collections {
		if present[c] && !present[stageName(run.ID, c)] {
			if err := move(c, stageName(run.ID, c)); err != nil {
				return kept, err
			}
		}
	}
	for _, e := range run.Existing {
		if !present[e.KeptAs] {
			continue
		}
		if present[e.Collection] {
			aside := KeptName(run.ID+"w", e.Collection)
			if err := move(e.Collection, aside); err != nil {
				return kept, err
			}
			kept = append(kept, fmt.Sprintf("%s as %s", e.Collection, aside))
		}
		if err := move(e.KeptAs, e.Collection); err != nil {
			return kept, err
		}
	}
	return kept, nil
}

// clearLeftovers turns off a maintenance switch that a restore left on with no run in progress
// (crashed between its marker and the switch) and drops staging collections of dead runs.
func clearLeftovers(ctx context.Context, db *mongo.Database, o Options) (*Recovery, error) {
	rec := &Recovery{}
	var did []string
	s, err := maintenance.Get(ctx, db)
	if err != nil {
		return nil, newErr(backup.ErrTargetUnreachable, err, hintTarget, "reading the maintenance switch of %s", db.Name())
	}
	if s != nil && strings.HasPrefix(s.Owner, "restore ") {
		if _, err := maintenance.Off(ctx, db, s.Owner, false); err != nil {
			return nil, err
		}
		did = append(did, fmt.Sprintf("the maintenance switch of %s (on since %s) was left on by a restore that is no longer running: turned off", s.Owner, s.Since.Format(time.RFC3339)))
		// A pre-stage that died after its marker leaves a staged copy: it stays guarded.
		if m, err := ReadMarker(ctx, db); err == nil && m != nil && m.Staged != nil {
			if _, err := maintenance.On(ctx, db, StandbyOwner, standbyReason(m.BackupID)); err != nil {
				return nil, err
			}
			did[len(did)-1] += ", then handed to the standby's pre-staged copy"
		}
	}
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return nil, newErr(backup.ErrTargetUnreachable, err, hintTarget, "listing the collections of %s", db.Name())
	}
	var staging []string
	for _, n := range names {
		if strings.HasPrefix(n, stagePrefix) {
			staging = append(staging, n)
		}
	}
	if len(staging) > 0 {
		if err := waitStagingQuiet(ctx, db, stagePrefix, o.say); err != nil {
			return nil, err
		}
		if err := dropPrefixed(ctx, db, stagePrefix); err != nil {
			return nil, newErr(backup.ErrTargetUnreachable, err, hintTarget, "dropping left-over staging collections of %s", db.Name())
		}
		did = append(did, fmt.Sprintf("%d staging collections of interrupted restores dropped (%s)", len(staging), strings.Join(staging, ", ")))
	}
	if len(did) > 0 {
		rec.Action, rec.Detail = Cleared, strings.Join(did, "; ")
		o.say("recover", "%s", rec.Detail)
	}
	return rec, nil
}

// waitStagingQuiet waits (at most 30 s) until the staging collections with prefix stop changing:
// a restore killed mid-load leaves inserts in flight inside the database server, which it finishes
// after the client died; dropping before they landed would let them recreate the collection.
func waitStagingQuiet(ctx context.Context, db *mongo.Database, prefix string, say func(phase, format string, args ...any)) error {
	count := func() (int64, int, error) {
		names, err := db.ListCollectionNames(ctx, bson.D{})
		if err != nil {
			return 0, 0, err
		}
		var total int64
		n := 0
		for _, name := range names {
			if !strings.HasPrefix(name, prefix) {
				continue
			}
			c, err := db.Collection(name).EstimatedDocumentCount(ctx)
			if err != nil {
				return 0, 0, err
			}
			total += c
			n++
		}
		return total, n, nil
	}
	last, n, err := count()
	if err != nil || n == 0 {
		return err
	}
	say("recover", "an interrupted restore left %d staging collections (%d documents): waiting until the server has finished its writes", n, last)
	stable := 0
	deadline := time.Now().Add(30 * time.Second)
	for stable < 2 && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		cur, _, err := count()
		if err != nil {
			return err
		}
		if cur == last {
			stable++
		} else {
			stable, last = 0, cur
		}
	}
	return nil
}

// legacyCollection is where restores before the protocol kept their switch marker.
const legacyCollection = backup.ReservedPrefix + "restore_marker"

// adoptLegacyMarker turns the switch marker an older caro left (an interrupted switch) into the
// run in progress, so Recover rolls it back or finishes it like any run.
func adoptLegacyMarker(ctx context.Context, db *mongo.Database) error {
	var old struct {
		BackupID    string    `bson:"backupId"`
		State       string    `bson:"state"`
		Suffix      string    `bson:"suffix"`
		Collections []string  `bson:"collections"`
		Existing    []string  `bson:"existing"`
		Started     time.Time `bson:"started"`
	}
	err := db.Collection(legacyCollection).FindOne(ctx, bson.D{{Key: "_id", Value: "switch"}}).Decode(&old)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil
	}
	if err != nil {
		return newErr(backup.ErrTargetUnreachable, err, hintTarget, "reading the switch marker of an older restore in %s", db.Name())
	}
	run := Run{ID: old.Suffix, Kind: KindBackup, BackupID: old.BackupID, Phase: PhaseSwitching, Collections: old.Collections, Started: old.Started,
		Owner: "restore " + old.Suffix, EventID: audit.NewEventID(),
		Origin: audit.Origin{Actor: "job:backup-restore", Interface: audit.InterfaceJob, RequestID: audit.NewEventID()}}
	if old.State == "committed" {
		run.Phase = PhaseCommitted
	}
	for _, e := range old.Existing {
		run.Existing = append(run.Existing, Replaced{Collection: e, KeptAs: KeptName(old.Suffix, e)})
	}
	if err := startRun(ctx, db, run); err != nil && !errors.Is(err, ErrRestoreRunning) {
		return err
	}
	return db.Collection(legacyCollection).Drop(ctx)
}
