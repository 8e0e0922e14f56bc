package restore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/failover"
	"github.com/carohealth/platform/internal/health"
)

// MarkerCollection holds the restore marker, one document MarkerID. The reserved prefix keeps it out
// of backups and out of every switch, so a restored database never inherits the source's marker
// from a logical backup. internal/health reads the same document for /health.
const (
	MarkerCollection = backup.ReservedPrefix + "failover"
	MarkerID         = "restore"
)

// Names of the collections a run creates in the target database: its staging collections and the
// target's collections it moved aside (kept until DiscardReplaced). run is the run's ID.
const (
	stagePrefix = backup.ReservedPrefix + "stage_"
	prevPrefix  = backup.ReservedPrefix + "prev_"
)

func stageName(run, c string) string { return stagePrefix + run + "_" + c }

// KeptName is the name under which a run keeps a collection the switch moved aside.
func KeptName(run, c string) string { return prevPrefix + run + "_" + c }

// Kinds of restore.
const (
	KindBackup   = "backup"
	KindSnapshot = "atlas-snapshot"
)

// Phases of a run in progress.
const (
	// PhaseStaging: loading (or, for a snapshot, the Atlas job); the target's collections are
	// untouched. An interrupted run is rolled back.
	PhaseStaging = "staging"
	// PhaseSwitching: renames in progress. An interrupted run is rolled back (renamed back).
	PhaseSwitching = "switching"
	// PhaseCommitted: the restored data is in place; only the finishing steps remain (erasures
	// again, ledger recovery, audit record, marker, maintenance switch off). An interrupted run is
	// finished.
	PhaseCommitted = "committed"
)

// Marker is the one record of restores in a database: the last completed restore (the fields
// /health reports: backup_id, plan_id, documents, restored_at, from) and, while one runs or after
// it was interrupted, the run in progress.
type Marker struct {
	ID string `bson:"_id" json:"-"`
	// RestoreMarker is the last completed restore as /health reports it (backup_id, plan_id,
	// documents, restored_at, from): one definition, which the health function reads too.
	health.RestoreMarker `bson:",inline"`
	Kind                 string `bson:"kind,omitempty" json:"kind,omitempty"`
	// Run is the run that completed last (its ID names its kept-aside collections).
	Run string `bson:"run,omitempty" json:"run,omitempty"`
	// Replaced lists what that restore moved aside (kept) or, for a snapshot, replaced.
	Replaced []Replaced `bson:"replaced,omitempty" json:"replaced,omitempty"`
	// InProgress is the run in progress or interrupted; nil when none.
	InProgress *Run `bson:"in_progress,omitempty" json:"in_progress,omitempty"`
	// Staged is set while the last completed restore is a standby's pre-staged copy that no failover
	// has activated yet (Options.Standby; Activate clears it).
	Staged *StagedCopy `bson:"staged,omitempty" json:"staged,omitempty"`
}

// StagedCopy is what a pre-stage left ready in a standby database: the backup (the marker's
// BackupID and Documents), verified by counts and checksums while it was loaded, and what the
// database held when the pre-stage ended, so the failover can tell the copy is untouched.
type StagedCopy struct {
	Inventory  Inventory `bson:"inventory" json:"inventory"`
	VerifiedAt time.Time `bson:"verified_at" json:"verifiedAt"`
	// Seconds is how long the pre-stage took (load, erasures, switch).
	Seconds float64 `bson:"seconds" json:"seconds"`
	// BackupTime and PlaintextSHA256 are the backup's (the activation's audit record carries them).
	BackupTime      time.Time `bson:"backup_time" json:"backupTime"`
	PlaintextSHA256 string    `bson:"plaintext_sha256" json:"-"`
}

// Replaced is one collection a restore replaced.
type Replaced struct {
	// Collection is its name in the application.
	Collection string `bson:"collection" json:"collection"`
	// Documents is how many documents it held when it was replaced.
	Documents int64 `bson:"documents" json:"documents"`
	// KeptAs is the name it is kept under (KeptName) until DiscardReplaced removes it; empty when
	// nothing could be kept (an Atlas snapshot replaces the whole cluster).
	KeptAs string `bson:"kept_as,omitempty" json:"keptAs,omitempty"`
}

// Run is a restore in progress (or interrupted), as recorded in the marker.
type Run struct {
	ID       string `bson:"id" json:"id"`
	Kind     string `bson:"kind" json:"kind"`
	BackupID string `bson:"backup_id" json:"backupId"`
	PlanID   string `bson:"plan_id,omitempty" json:"planId,omitempty"`
	From     string `bson:"from,omitempty" json:"from,omitempty"`
	Phase    string `bson:"phase" json:"phase"`
	// Collections are the restored collections (staged under stageName); Existing the target's
	// collections the switch moves aside, with their counts.
	Collections []string   `bson:"collections,omitempty" json:"collections,omitempty"`
	Existing    []Replaced `bson:"existing,omitempty" json:"existing,omitempty"`
	Documents   int64      `bson:"documents" json:"documents"`
	BackupTime  time.Time  `bson:"backup_time" json:"backupTime"`
	// PlaintextSHA256 is the restored state's digest, the audit event's after hash.
	PlaintextSHA256 string `bson:"plaintext_sha256,omitempty" json:"-"`
	// Owner is the maintenance switch's owner for this run.
	Owner string `bson:"owner" json:"owner"`
	// HoldTime is the time of the ledger hold this run places (recorded before it places it): a
	// rollback releases the hold only when it is this one, never an earlier restore's.
	HoldTime time.Time `bson:"hold_time,omitempty" json:"holdTime,omitzero"`
	// EventID and Origin make the run's audit event: one ID per run, so a finished run never
	// records a second event.
	EventID string       `bson:"event_id" json:"-"`
	Origin  audit.Origin `bson:"origin" json:"-"`
	// SnapshotJob is the Atlas restore job of a snapshot run.
	SnapshotJob string `bson:"snapshot_job,omitempty" json:"snapshotJob,omitempty"`
	// Who runs it, for the liveness check of Recover and the "running" refusal.
	Host      string    `bson:"host" json:"host"`
	PID       int       `bson:"pid" json:"pid"`
	ProcStart uint64    `bson:"proc_start,omitempty" json:"-"`
	Started   time.Time `bson:"started" json:"started"`
	Heartbeat time.Time `bson:"heartbeat" json:"heartbeat"`
	// Engine names the engine execution that runs the restore across processes (Begin, LoadPart,
	// Complete): its liveness is its heartbeat alone, whatever process last wrote it.
	Engine string `bson:"engine,omitempty" json:"engine,omitempty"`
	// Loaded are the parts (chunk streams) an engine's workers have loaded into the staging.
	Loaded []uint32 `bson:"loaded,omitempty" json:"loaded,omitempty"`
	// Cancel, when set, asks the run to stop before its switch and roll back (RequestCancel: a
	// failover that will not wait for a pre-stage); it says who asked and why.
	Cancel string `bson:"cancel,omitempty" json:"cancel,omitempty"`
	// Standby marks a pre-stage: on completion the marker records the staged copy and the
	// maintenance switch is handed to StandbyOwner.
	Standby bool `bson:"standby,omitempty" json:"standby,omitempty"`
}

// HeartbeatEvery is how often a running restore says it is alive; a run on another host whose
// heartbeat is older than HeartbeatStale is taken for dead.
const (
	HeartbeatEvery = 10 * time.Second
	HeartbeatStale = 6 * HeartbeatEvery
)

// ReadMarker returns db's marker, nil when there is none.
func ReadMarker(ctx context.Context, db *mongo.Database) (*Marker, error) {
	var m Marker
	err := db.Collection(MarkerCollection).FindOne(ctx, bson.D{{Key: "_id", Value: MarkerID}}).Decode(&m)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the restore marker in %s.%s: %w", db.Name(), MarkerCollection, err)
	}
	return &m, nil
}

// Restored reports whether db's last completed restore is backupID of planID and no run is in
// progress: the failover restore step's Check.
func Restored(ctx context.Context, db *mongo.Database, backupID, planID string) (*Marker, bool, error) {
	m, err := ReadMarker(ctx, db)
	if err != nil || m == nil {
		return m, false, err
	}
	return m, m.InProgress == nil && m.BackupID == backupID && m.PlanID == planID, nil
}

// startRun records r as the run in progress, unless one is already recorded (ErrRestoreRunning,
// with the run found).
func startRun(ctx context.Context, db *mongo.Database, r Run) error {
	_, err := db.Collection(MarkerCollection).UpdateOne(ctx,
		bson.D{{Key: "_id", Value: MarkerID}, {Key: "in_progress", Value: bson.D{{Key: "$exists", Value: false}}}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "in_progress", Value: r}}}}, options.UpdateOne().SetUpsert(true))
	if mongo.IsDuplicateKeyError(err) {
		m, rerr := ReadMarker(ctx, db)
		if rerr == nil && m != nil && m.InProgress != nil {
			return runningError(*m.InProgress)
		}
		return fmt.Errorf("%w (its record changed while this one started: run again)", ErrRestoreRunning)
	}
	if err != nil {
		return fmt.Errorf("recording the restore run in %s.%s: %w (nothing was changed)", db.Name(), MarkerCollection, err)
	}
	return nil
}

// setRun updates fields of run id (only while it is the run in progress).
func setRun(ctx context.Context, db *mongo.Database, id string, fields bson.D) error {
	set := make(bson.D, 0, len(fields))
	for _, f := range fields {
		set = append(set, bson.E{Key: "in_progress." + f.Key, Value: f.Value})
	}
	res, err := db.Collection(MarkerCollection).UpdateOne(ctx, bson.D{{Key: "_id", Value: MarkerID}, {Key: "in_progress.id", Value: id}},
		bson.D{{Key: "$set", Value: set}})
	if err != nil {
		return fmt.Errorf("updating the restore run %s in %s.%s: %w", id, db.Name(), MarkerCollection, err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("restore run %s is no longer recorded in %s.%s (another restore or a recovery took over)", id, db.Name(), MarkerCollection)
	}
	return nil
}

// endRun removes run id from the marker (rolled back) without touching the last completed restore.
func endRun(ctx context.Context, db *mongo.Database, id string) error {
	_, err := db.Collection(MarkerCollection).UpdateOne(ctx, bson.D{{Key: "_id", Value: MarkerID}, {Key: "in_progress.id", Value: id}},
		bson.D{{Key: "$unset", Value: bson.D{{Key: "in_progress", Value: ""}}}})
	if err != nil {
		return fmt.Errorf("clearing the restore run %s in %s.%s: %w", id, db.Name(), MarkerCollection, err)
	}
	return nil
}

// completeRun records run r as the last completed restore and clears the run in progress, in one
// update; staged records a standby's pre-staged copy (nil clears it: the data is live).
func completeRun(ctx context.Context, db *mongo.Database, r Run, replaced []Replaced, at time.Time, staged *StagedCopy) error {
	set := bson.D{{Key: "backup_id", Value: r.BackupID}, {Key: "plan_id", Value: r.PlanID}, {Key: "documents", Value: r.Documents},
		{Key: "restored_at", Value: at.UTC()}, {Key: "from", Value: r.From}, {Key: "kind", Value: r.Kind}, {Key: "run", Value: r.ID},
		{Key: "replaced", Value: replaced}}
	unset := bson.D{{Key: "in_progress", Value: ""}}
	if staged != nil {
		set = append(set, bson.E{Key: "staged", Value: staged})
	} else {
		unset = append(unset, bson.E{Key: "staged", Value: ""})
	}
	res, err := db.Collection(MarkerCollection).UpdateOne(ctx, bson.D{{Key: "_id", Value: MarkerID}, {Key: "in_progress.id", Value: r.ID}},
		bson.D{{Key: "$set", Value: set}, {Key: "$unset", Value: unset}})
	if err != nil {
		return fmt.Errorf("writing the restore marker in %s.%s: %w", db.Name(), MarkerCollection, err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("restore run %s is no longer recorded in %s.%s: the marker was not written", r.ID, db.Name(), MarkerCollection)
	}
	return nil
}

// thisProcess fills a run's liveness fields for the running process.
func thisProcess(r *Run, now time.Time) {
	me := failover.CurrentLockInfo("", now)
	r.Host, r.PID, r.ProcStart, r.Started, r.Heartbeat = me.Host, os.Getpid(), me.ProcStart, now.UTC(), now.UTC()
}

// runDead reports whether run r's process is gone: provably dead on this host, or silent (no
// heartbeat) for HeartbeatStale on another.
func runDead(r Run, now time.Time) bool {
	if r.Engine != "" {
		return now.Sub(r.Heartbeat) > HeartbeatStale
	}
	if r.PID <= 0 {
		return true
	}
	host, _ := os.Hostname()
	if r.Host == host {
		return failover.HolderDead(failover.LockInfo{Host: r.Host, PID: r.PID, ProcStart: r.ProcStart})
	}
	return now.Sub(r.Heartbeat) > HeartbeatStale
}

func runningError(r Run) error {
	if r.Engine != "" {
		return fmt.Errorf("%w: run %s (%s of %s, phase %s) by the engine execution %s, started %s, last heartbeat %s ago: wait for it to finish "+
			"(an engine run that stopped is taken over %s after its last heartbeat)",
			ErrRestoreRunning, r.ID, r.Kind, r.BackupID, r.Phase, r.Engine, r.Started.Format(time.RFC3339), time.Since(r.Heartbeat).Round(time.Second), HeartbeatStale)
	}
	return fmt.Errorf("%w: run %s (%s of %s, phase %s) by pid %d on %s, started %s, last heartbeat %s ago: wait for it to finish "+
		"(a run on another host that stopped is taken over %s after its last heartbeat; on this host as soon as its process is gone)",
		ErrRestoreRunning, r.ID, r.Kind, r.BackupID, r.Phase, r.PID, r.Host, r.Started.Format(time.RFC3339),
		time.Since(r.Heartbeat).Round(time.Second), HeartbeatStale)
}

// heartbeat keeps run id's heartbeat fresh until stop is called.
func heartbeat(ctx context.Context, db *mongo.Database, id string) (stop func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(HeartbeatEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				wctx, c := context.WithTimeout(ctx, 5*time.Second)
				_, _ = db.Collection(MarkerCollection).UpdateOne(wctx, bson.D{{Key: "_id", Value: MarkerID}, {Key: "in_progress.id", Value: id}},
					bson.D{{Key: "$set", Value: bson.D{{Key: "in_progress.heartbeat", Value: time.Now().UTC()}}}})
				c()
			}
		}
	}()
	return func() { cancel(); <-done }
}
