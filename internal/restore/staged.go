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
	"github.com/carohealth/platform/internal/ledger"
)

// A standby pre-stages every backup that arrives: a restore with Options.Standby leaves the copy
// in its database, verified, with the maintenance switch held by StandbyOwner, and records it in
// the marker (Marker.Staged). A failover's restore step then only has to activate it (Activate) if
// it is the backup the plan restores; otherwise it loads the backup (cold). Choose decides which,
// Failover does it.

// ErrNotStaged: the target holds no untouched pre-staged copy of the backup (Activate refuses; the
// caller loads the backup instead).
var ErrNotStaged = errors.New("the backup is not staged in the target")

// Path is how a failover's restore step brings the plan's backup into the target.
type Path string

// The paths, in the words of the plan and the report.
const (
	// PathStaged: the backup is loaded and verified already: re-apply the erasure register,
	// recover the ledger, write the marker (seconds).
	PathStaged Path = "staged"
	// PathWait: a pre-stage of this very backup is running: wait for it, then activate.
	PathWait Path = "wait"
	// PathCold: load the backup (minutes per million documents).
	PathCold Path = "cold"
)

// Choice is what Choose decided, with the reason in words.
type Choice struct {
	Path Path `json:"path"`
	// Staged is the backup staged in the target ("" when none); Running the run in progress.
	Staged  string `json:"staged,omitempty"`
	Running *Run   `json:"running,omitempty"`
	// CancelRunning is true when the run in progress is a pre-stage of another backup that the
	// failover stops (it rolls back and leaves the copy before it) rather than waits for.
	CancelRunning bool   `json:"cancelRunning,omitempty"`
	Detail        string `json:"detail"`
}

// Choose decides the path of a failover restoring backupID into a target whose marker is m (nil:
// none).
func Choose(m *Marker, backupID string) Choice {
	var c Choice
	if m != nil && m.Staged != nil && m.BackupID != "" {
		c.Staged = m.BackupID
	}
	staged := c.Staged == backupID && c.Staged != ""
	if m != nil && m.InProgress != nil {
		r := m.InProgress
		c.Running = r
		switch {
		case r.BackupID == backupID && r.Standby:
			c.Path = PathWait
			c.Detail = fmt.Sprintf("the standby is pre-staging backup %s right now (run %s, %s, started %s): waiting for it, then activating it",
				backupID, r.ID, r.Phase, r.Started.Format(time.RFC3339))
			return c
		case r.Phase != PhaseStaging:
			c.Path = PathWait
			c.Detail = fmt.Sprintf("restore run %s of %s is %s (past its switch): waiting for it to finish", r.ID, r.BackupID, r.Phase)
			return c
		case staged:
			c.Path, c.CancelRunning = PathStaged, true
			c.Detail = fmt.Sprintf("%s: it is stopped and rolled back, and the previous copy, backup %s, staged and verified at %s, is used",
				describeRun(r), backupID, m.Staged.VerifiedAt.Format(time.RFC3339))
			return c
		default:
			c.Path, c.CancelRunning = PathCold, true
			c.Detail = fmt.Sprintf("%s: it is stopped and rolled back, then backup %s is loaded", describeRun(r), backupID)
			return c
		}
	}
	switch {
	case staged:
		c.Path = PathStaged
		c.Detail = fmt.Sprintf("backup %s is staged in the target already (%d documents, verified %s, pre-stage took %.0f s): only the erasure register, the ledger recovery and the marker remain",
			backupID, m.Documents, m.Staged.VerifiedAt.Format(time.RFC3339), m.Staged.Seconds)
	case c.Staged != "":
		c.Path = PathCold
		c.Detail = fmt.Sprintf("the target has backup %s staged, but the plan restores the newer %s: loading it", c.Staged, backupID)
	default:
		c.Path = PathCold
		c.Detail = fmt.Sprintf("nothing is staged in the target: loading backup %s", backupID)
	}
	return c
}

// describeRun names a run in progress that a failover stops: the standby's pre-stage of a
// backup, or an earlier restore (of this failover, killed before its switch, or another one).
func describeRun(r *Run) string {
	if r.Standby {
		return fmt.Sprintf("a pre-stage of backup %s (run %s) is running", r.BackupID, r.ID)
	}
	return fmt.Sprintf("an earlier restore of backup %s (run %s, started %s) did not reach its switch", r.BackupID, r.ID, r.Started.Format(time.RFC3339))
}

// Activate makes the pre-staged copy of backupID in the target the live data (the staged path of a
// failover), by the protocol without a load or a switch: recover first; the copy must be the
// marker's staged, verified backupID, untouched since it was staged (else ErrNotStaged, and nothing
// changes); maintenance switch on (taken over from StandbyOwner), settle, compare with the plan's
// listing; hold the ledger; re-apply the erasure register (idempotent: erasures applied when it
// was staged change nothing and write no event, those recorded since are applied); recover the
// ledger; audit record; marker (with the plan); maintenance off.
func Activate(ctx context.Context, o Options, backupID string) (*Report, error) {
	start := time.Now()
	if err := o.prepare(); err != nil {
		return nil, err
	}
	if o.Database == "" {
		o.Database = backup.DefaultDatabase
	}
	rep := &Report{Kind: KindBackup, BackupID: backupID, Database: o.Database}
	db, err := o.db(ctx)
	if err != nil {
		return rep, err
	}
	if done, err := o.recoverFirst(ctx, db, rep, backupID); done || err != nil {
		return rep, err
	}
	m, err := ReadMarker(ctx, db)
	if err != nil {
		return rep, err
	}
	if c := Choose(m, backupID); c.Path != PathStaged || c.CancelRunning {
		return rep, newErr(ErrNotStaged, nil, "load the backup instead (the failover's cold path)", "%s", c.Detail)
	}
	now, err := Take(ctx, db)
	if err != nil {
		return rep, err
	}
	if changes := m.Staged.Inventory.Changes(now); len(changes) > 0 {
		return rep, newErr(ErrNotStaged, nil, "load the backup instead (the failover's cold path): it moves this copy aside and keeps it",
			"the staged copy of %s in %s changed since it was staged: %s", backupID, o.Database, strings.Join(changes, "; "))
	}
	if _, err := o.readRegister(ctx, m.RestoredAt); err != nil {
		return rep, err
	}
	run := o.newRun(KindBackup, backupID)
	run.Documents, run.BackupTime, run.PlaintextSHA256 = m.Documents, m.Staged.BackupTime, m.Staged.PlaintextSHA256
	if o.From == "" {
		o.From = m.From
	}
	run.From = o.From
	rep.SourceRegion, rep.BackupTime, rep.Run, rep.Verified, rep.Documents = m.From, m.Staged.BackupTime, run.ID, true, now.Documents()
	rep.Collections = make([]backup.CollectionRestore, 0, len(now.Collections))
	for _, n := range now.Names() {
		rep.Collections = append(rep.Collections, backup.CollectionRestore{Name: n, Documents: now.Collections[n]})
	}
	if err := startRun(ctx, db, run); err != nil {
		return rep, err
	}
	stop := heartbeat(ctx, db, run.ID)
	defer stop()
	fail := func(cause error) (*Report, error) { return rep, o.rollback(ctx, db, run, cause) }
	on, err := o.maintenanceOn(ctx, db, run)
	if err != nil {
		return fail(err)
	}
	o.say("stage", "backup %s is staged and verified in %s: activating it (maintenance switch on)", backupID, o.Database)
	// Nothing is replaced: the staged copy itself goes live, so what guards it is that it is
	// untouched since it was staged (checked above and again here), not the plan's listing (a
	// pre-stage the step waited for changed what the plan saw, as planned).
	o.Expect = nil
	settled, err := o.settledInventory(ctx, db, on, rep)
	if err != nil {
		return fail(err)
	}
	if changes := m.Staged.Inventory.Changes(settled); len(changes) > 0 {
		return fail(newErr(ErrWritesDuringRestore, nil, "a client does not honour the maintenance switch: stop it, then run the step again; nothing was changed",
			"the staged copy of %s in %s changed while it was being activated: %s", backupID, o.Database, strings.Join(changes, "; ")))
	}
	if err := o.holdLedger(ctx, db, &run, now.Names()); err != nil {
		return fail(err)
	}
	if h, err := ledger.ReadHold(ctx, db); err == nil {
		rep.LedgerHeld = h != nil
	}
	if err := setRun(ctx, db, run.ID, bson.D{{Key: "phase", Value: PhaseCommitted}}); err != nil {
		return fail(err)
	}
	run.Phase = PhaseCommitted
	// The staged data is in place: finish re-applies the register to it, recovers the ledger,
	// records the restore, writes the marker (without Staged) and turns the switch off.
	if err := o.finish(ctx, db, run, nil, rep); err != nil {
		return rep, err
	}
	rep.Duration = time.Since(start)
	o.say("done", "activated the staged copy of %s in %s in %.1f s", backupID, o.Database, rep.Duration.Seconds())
	return rep, nil
}

// WaitOptions bound how long Failover waits for a restore in progress.
type WaitOptions struct {
	// Max is the longest it waits for a running pre-stage of the plan's backup before it stops it
	// and loads the backup itself (default 15 minutes); Poll how often it looks (default 2 s).
	Max  time.Duration
	Poll time.Duration
}

// Failover is a failover's restore step: it chooses the path (Choose) and says which, waits for
// or stops a pre-stage in progress as chosen, activates a staged copy, or loads the backup with
// cold (default: Backup in this process; the AWS provider hands it to the restore engine). A staged
// copy that turns out changed falls back to the cold path. The report's Path says what was done.
func Failover(ctx context.Context, o Options, src BackupSource, w WaitOptions, cold func(context.Context) (*Report, error)) (*Report, Choice, error) {
	if cold == nil {
		cold = func(ctx context.Context) (*Report, error) { return Backup(ctx, o, src) }
	}
	if w.Max <= 0 {
		w.Max = 15 * time.Minute
	}
	if w.Poll <= 0 {
		w.Poll = 2 * time.Second
	}
	if o.Database == "" {
		o.Database = backup.DefaultDatabase
	}
	db, err := o.db(ctx)
	if err != nil {
		return nil, Choice{}, err
	}
	deadline := time.Now().Add(w.Max)
	var notes []string
	waited := false
	for {
		m, err := ReadMarker(ctx, db)
		if err != nil {
			return nil, Choice{}, err
		}
		c := Choose(m, src.BackupID)
		if c.Running != nil && (c.Path == PathWait || c.CancelRunning) {
			if c.Path == PathWait && time.Now().Before(deadline) && !o.dead(*c.Running) {
				if !waited {
					o.say("restore", "%s", c.Detail)
					notes = append(notes, c.Detail)
					waited = true
				}
				if err := sleepCtx(ctx, w.Poll); err != nil {
					return nil, c, err
				}
				continue
			}
			why := c.Detail
			if c.Path == PathWait {
				why = fmt.Sprintf("run %s did not finish within %s", c.Running.ID, w.Max)
			}
			o.say("restore", "%s", why)
			notes = append(notes, why)
			if err := stopRunning(ctx, db, o, c.Running, w, fmt.Sprintf("a failover restores backup %s", src.BackupID)); err != nil {
				return nil, c, err
			}
			continue
		}
		o.say("restore", "%s", c.Detail)
		if len(notes) > 0 {
			c.Detail = strings.Join(append(notes, c.Detail), "; then ")
		}
		if c.Path == PathStaged {
			rep, err := Activate(ctx, o, src.BackupID)
			if !errors.Is(err, ErrNotStaged) {
				return rep, c, err
			}
			o.say("restore", "%v: loading the backup instead", err)
			c.Path, c.Detail = PathCold, c.Detail+"; then "+err.Error()+": loaded the backup instead"
		}
		rep, err := cold(ctx)
		return rep, c, err
	}
}

// stopRunning asks run to stop and waits until it is gone; a run whose heartbeat went stale is
// rolled back here.
func stopRunning(ctx context.Context, db *mongo.Database, o Options, run *Run, w WaitOptions, reason string) error {
	if run == nil {
		return nil
	}
	if err := RequestCancel(ctx, db, run.ID, reason); err != nil {
		return err
	}
	o.say("restore", "asked restore run %s (%s) to stop: %s", run.ID, run.BackupID, reason)
	limit := time.Now().Add(HeartbeatStale + 2*HeartbeatEvery)
	for {
		m, err := ReadMarker(ctx, db)
		if err != nil {
			return err
		}
		if m == nil || m.InProgress == nil || m.InProgress.ID != run.ID {
			return nil
		}
		if o.dead(*m.InProgress) || time.Now().After(limit) {
			oo := o
			oo.hooks = &hooks{dead: func(r Run) bool { return r.ID == run.ID }}
			_, err := Recover(ctx, db, oo)
			return err
		}
		if err := sleepCtx(ctx, w.Poll); err != nil {
			return err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// The restore step's model on AWS (docs/benchmarks.md, "the AWS model"): what each path takes.
const (
	// ActivateSeconds is the staged path: the maintenance switch's settle (12 s), the erasure
	// register and the ledger recovery, the marker.
	ActivateSeconds = 30
	// EngineDocsPerSecond is the restore engine's load rate into Atlas: 8 workers of about 5,000
	// documents of ~1 KB per second each (one connection's insert rate), in the target region.
	EngineDocsPerSecond = 40000
	// EngineStartSeconds is an engine execution's overhead (begin, workers' cold starts, counts,
	// indexes).
	EngineStartSeconds = 120
	// ProcessDocsPerSecond is one process loading from outside the region (the operator's machine).
	ProcessDocsPerSecond = 2000
)

// EstimateSeconds is how long the restore step takes on the path chosen, for documents, on the
// engine or in one process.
func EstimateSeconds(c Choice, documents int64, engine bool) float64 {
	cold := 30 + float64(documents)/ProcessDocsPerSecond
	if engine {
		cold = EngineStartSeconds + float64(documents)/EngineDocsPerSecond + ActivateSeconds
	}
	switch c.Path {
	case PathStaged:
		return ActivateSeconds
	case PathWait:
		// A pre-stage under way: on average half of a load is left.
		return cold/2 + ActivateSeconds
	}
	return cold
}
