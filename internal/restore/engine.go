package restore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/maintenance"
)

// A restore an engine runs (a Step Functions Distributed Map of Lambda workers) is the same
// protocol cut at the load: Begin (recover first, authenticate, read the register, record the run,
// maintenance on, create the staging collections), LoadPart for every part of the backup (one
// worker each, in parallel, each retried on its own), Complete (count, indexes, settle, hold,
// erasures, switch, finish). Abort rolls a run back when the engine gives up. The run lives in the
// marker between the invocations; its liveness is its heartbeat (Run.Engine), which the workers
// keep fresh.

// StandbyOwner owns the maintenance switch of a standby database that holds a pre-staged copy:
// the standby's API refuses writes into it until a failover activates it (any restore takes the
// switch over; Activate turns it off).
const StandbyOwner = "standby pre-stage"

// ErrCancelled: a run was asked to stop (RequestCancel) before its switch and rolled back.
var ErrCancelled = errors.New("the restore was cancelled")

// Begun is a restore an engine loads part by part.
type Begun struct {
	Run      string `json:"run"`
	BackupID string `json:"backupId"`
	// Parts are the backup's parts (chunk streams): one LoadPart each.
	Parts     []uint32 `json:"parts"`
	Documents int64    `json:"documents"`
	// Done is true when nothing is to be loaded: the backup was already restored (see the report).
	Done bool `json:"done"`
}

// Begin starts an engine's restore of src into the target (see the package documentation; the
// whole-backup check before the load is left to the parts' loaders, which authenticate every chunk
// before its documents are used and never switch anything in). engine names the execution.
func Begin(ctx context.Context, o Options, src BackupSource, engine string) (*Begun, *Report, error) {
	if engine == "" {
		return nil, nil, errors.New("restore: Begin needs the engine execution's name")
	}
	if err := o.prepare(); err != nil {
		return nil, nil, err
	}
	o.engine = engine
	st, rep, err := o.beginBackup(ctx, src, false)
	if st == nil {
		if err == nil && rep != nil && rep.AlreadyRestored {
			return &Begun{BackupID: src.BackupID, Done: true, Documents: rep.Documents}, rep, nil
		}
		return nil, rep, err
	}
	defer st.stop()
	if err := st.b.CreateStaging(ctx, st.db, func(c string) string { return stageName(st.run.ID, c) }); err != nil {
		return nil, rep, o.rollback(ctx, st.db, st.run, err)
	}
	o.say("stage", "maintenance switch on; staging collections %s%s_* created for %d parts of %s", stagePrefix, st.run.ID, len(st.b.Streams()), st.m.BackupID)
	return &Begun{Run: st.run.ID, BackupID: st.m.BackupID, Parts: st.b.Streams(), Documents: st.m.Documents}, rep, nil
}

// PartLoaded is what LoadPart loaded.
type PartLoaded struct {
	Run        string  `json:"run"`
	Part       uint32  `json:"part"`
	Collection string  `json:"collection"`
	Documents  int64   `json:"documents"`
	Seconds    float64 `json:"seconds"`
}

// LoadPart loads one part of run's backup into its staging collection, keeping the run's heartbeat
// fresh, and records it loaded. A part whose earlier attempt was killed is simply loaded again.
// It stops (ErrCancelled) when the run was asked to stop.
func LoadPart(ctx context.Context, o Options, src BackupSource, run string, part uint32) (*PartLoaded, error) {
	start := time.Now()
	if o.Database == "" {
		o.Database = backup.DefaultDatabase
	}
	db, err := o.db(ctx)
	if err != nil {
		return nil, err
	}
	r, err := engineRun(ctx, db, run, src.BackupID)
	if err != nil {
		return nil, err
	}
	ctx, stop := watchRun(ctx, db, r.ID)
	defer stop()
	b, err := backup.Open(ctx, src.ReadOptions)
	if err != nil {
		return nil, err
	}
	coll, n, err := b.StagePart(ctx, db, func(c string) string { return stageName(run, c) }, part,
		backup.StageOptions{Workers: src.Workers, BatchBytes: src.BatchBytes, BatchDocs: src.BatchDocs, Progress: o.Progress})
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && errors.Is(cause, ErrCancelled) {
			return nil, cause
		}
		return nil, err
	}
	if _, err := db.Collection(MarkerCollection).UpdateOne(ctx, bson.D{{Key: "_id", Value: MarkerID}, {Key: "in_progress.id", Value: run}},
		bson.D{{Key: "$addToSet", Value: bson.D{{Key: "in_progress.loaded", Value: part}}}}); err != nil {
		return nil, fmt.Errorf("recording part %d of run %s loaded: %w (load it again)", part, run, err)
	}
	o.say("stage", "part %d of %s: %d documents of %s loaded", part, src.BackupID, n, coll)
	return &PartLoaded{Run: run, Part: part, Collection: coll, Documents: n, Seconds: time.Since(start).Seconds()}, nil
}

// Complete finishes an engine's restore once every part is loaded: the staged collections are
// counted against the manifest and their indexes recreated, then the rest of the protocol runs
// (settle, compare, hold, erasures, switch, ledger, audit record, marker, maintenance off). A
// failure before the switch rolls the run back; the target keeps what it held.
func Complete(ctx context.Context, o Options, src BackupSource, run string) (*Report, error) {
	if err := o.prepare(); err != nil {
		return nil, err
	}
	if o.Database == "" {
		o.Database = backup.DefaultDatabase
	}
	rep := &Report{Kind: KindBackup, BackupID: src.BackupID, Database: o.Database, Run: run}
	db, err := o.db(ctx)
	if err != nil {
		return rep, err
	}
	r, err := engineRun(ctx, db, run, src.BackupID)
	if err != nil {
		return rep, err
	}
	stop := heartbeat(ctx, db, r.ID)
	defer stop()
	fail := func(cause error) (*Report, error) { return rep, o.rollback(ctx, db, *r, cause) }
	b, err := backup.Open(ctx, src.ReadOptions)
	if err != nil {
		return fail(err)
	}
	var missing []uint32
	for _, p := range b.Streams() {
		if !slices.Contains(r.Loaded, p) {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return rep, fmt.Errorf("restore run %s of %s: parts %v are not loaded yet: load them (the engine retries), then complete again", run, src.BackupID, missing)
	}
	m := b.Manifest()
	rep.SourceRegion, rep.BackupTime = m.SourceRegion, m.CreatedAt
	if o.From == "" {
		o.From = m.SourceRegion
	}
	sw, err := maintenance.Get(ctx, db)
	if err != nil || sw == nil || sw.Owner != r.Owner {
		return fail(fmt.Errorf("restore run %s: the maintenance switch is not held by it (%v): writes may have reached the target", run, err))
	}
	first, err := o.readRegister(ctx, m.CreatedAt)
	if err != nil {
		return fail(err)
	}
	staged, err := b.FinishStaging(ctx, db, func(c string) string { return stageName(run, c) }, o.Progress)
	if err != nil {
		return fail(err)
	}
	st := &started{db: db, b: b, m: m, run: *r, on: sw.Since, first: first, rep: rep, stop: func() {}}
	return o.completeBackup(ctx, st, staged, r.Started)
}

// Abort rolls back run (an engine gave up on it): its staging is dropped, its ledger hold released,
// the maintenance switch turned off (or handed back to StandbyOwner over a staged copy) and the run
// removed; a run past its switch is finished instead, like Recover does. cause is recorded in the
// returned recovery's detail.
func Abort(ctx context.Context, o Options, run, cause string) (*Recovery, error) {
	if o.Database == "" {
		o.Database = backup.DefaultDatabase
	}
	db, err := o.db(ctx)
	if err != nil {
		return nil, err
	}
	m, err := ReadMarker(ctx, db)
	if err != nil {
		return nil, err
	}
	if m == nil || m.InProgress == nil || m.InProgress.ID != run {
		return &Recovery{Detail: fmt.Sprintf("restore run %s is not in progress: nothing to abort", run)}, nil
	}
	if cause != "" {
		o.say("recover", "aborting restore run %s: %s", run, cause)
	}
	oo := o
	oo.hooks = &hooks{dead: func(r Run) bool { return r.ID == run }}
	if o.hooks != nil {
		oo.hooks.fail = o.hooks.fail
	}
	return Recover(ctx, db, oo)
}

// RequestCancel asks run to stop before its switch and roll back: its loaders stop at their next
// heartbeat and Complete refuses to switch. It returns ErrRestoreRunning when the run is already
// switching or committed (it can only be waited for), and nil when the run is gone.
func RequestCancel(ctx context.Context, db *mongo.Database, run, reason string) error {
	m, err := ReadMarker(ctx, db)
	if err != nil {
		return err
	}
	if m == nil || m.InProgress == nil || m.InProgress.ID != run {
		return nil
	}
	if m.InProgress.Phase != PhaseStaging {
		return fmt.Errorf("%w: run %s is %s and cannot be cancelled: wait for it", ErrRestoreRunning, run, m.InProgress.Phase)
	}
	_, err = db.Collection(MarkerCollection).UpdateOne(ctx, bson.D{{Key: "_id", Value: MarkerID}, {Key: "in_progress.id", Value: run}, {Key: "in_progress.phase", Value: PhaseStaging}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "in_progress.cancel", Value: reason}}}})
	return err
}

// cancelled returns ErrCancelled (with who asked) when run was asked to stop.
func cancelled(ctx context.Context, db *mongo.Database, run string) error {
	m, err := ReadMarker(ctx, db)
	if err != nil {
		return err
	}
	if m != nil && m.InProgress != nil && m.InProgress.ID == run && m.InProgress.Cancel != "" {
		return fmt.Errorf("%w before its switch: %s (nothing was switched; the target keeps what it held)", ErrCancelled, m.InProgress.Cancel)
	}
	return nil
}

// engineRun returns run when it is the target's run in progress, of backupID, still staging and not
// cancelled.
func engineRun(ctx context.Context, db *mongo.Database, run, backupID string) (*Run, error) {
	m, err := ReadMarker(ctx, db)
	if err != nil {
		return nil, err
	}
	switch {
	case m == nil || m.InProgress == nil || m.InProgress.ID != run:
		return nil, fmt.Errorf("restore run %s is not in progress in %s (rolled back, or another took over): start the restore again", run, db.Name())
	case m.InProgress.BackupID != backupID:
		return nil, fmt.Errorf("restore run %s restores %s, not %s", run, m.InProgress.BackupID, backupID)
	case m.InProgress.Phase != PhaseStaging:
		return nil, fmt.Errorf("restore run %s is %s: its load is over", run, m.InProgress.Phase)
	case m.InProgress.Cancel != "":
		return nil, fmt.Errorf("%w: %s", ErrCancelled, m.InProgress.Cancel)
	}
	return m.InProgress, nil
}

// watchRun keeps run's heartbeat fresh and cancels the returned context (cause ErrCancelled) when
// the run is asked to stop or is no longer in progress.
func watchRun(ctx context.Context, db *mongo.Database, run string) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	stopBeat := heartbeat(ctx, db, run)
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(HeartbeatEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				rctx, c := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				err := cancelled(rctx, db, run)
				c()
				if errors.Is(err, ErrCancelled) {
					cancel(err)
					return
				}
			}
		}
	}()
	return ctx, func() { close(done); stopBeat(); cancel(nil) }
}
