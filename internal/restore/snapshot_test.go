package restore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/audit/audittest"
	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/erasure"
	"github.com/carohealth/platform/internal/health"
	"github.com/carohealth/platform/internal/maintenance"
)

// snapshotJob stands in for an Atlas restore job: it replaces the whole database with the
// "snapshot" (source's data, with the source's own reserved collections: a maintenance switch an
// offboarding held there and the source's marker).
func snapshotJob(t *testing.T, db string, source string) func(context.Context) (SnapshotResult, error) {
	return func(ctx context.Context) (SnapshotResult, error) {
		d := mongoC.Database(db)
		if err := d.Drop(ctx); err != nil {
			return SnapshotResult{}, err
		}
		seed(t, db, 12)
		if _, err := d.Collection(maintenance.Collection).InsertOne(ctx, maintenance.State{ID: "switch", Owner: "tenant-delete acme", Since: time.Now()}); err != nil {
			return SnapshotResult{}, err
		}
		if _, err := d.Collection(MarkerCollection).InsertOne(ctx, Marker{ID: MarkerID, RestoreMarker: health.RestoreMarker{BackupID: "the-source's-last-restore"}, Run: "00000000"}); err != nil {
			return SnapshotResult{}, err
		}
		return SnapshotResult{SnapshotID: "snap1", SnapshotTime: time.Now().Add(-time.Hour), RestoreJobID: "job1", FinishedAt: time.Now()}, nil
	}
}

func TestSnapshotRestoreRunsTheProtocolAroundTheJob(t *testing.T) {
	ctx := context.Background()
	target := newDB("snapdst")
	seed(t, target, 5)
	db := mongoC.Database(target)
	// the register erases one of the snapshot's patients (seed's p00003 has no subject key: the
	// erasure still erases its document)
	reg := erasure.Listed{{TenantID: "t1", PatientID: "0000000000000000000000000000000a", ErasedAt: time.Now(), RequestID: "r1"}}
	var onDuringJob *maintenance.State
	job := snapshotJob(t, target, "src")
	rep, err := Snapshot(ctx, Options{Target: mongoC, Database: target, Replace: true, Erasures: reg, Settle: time.Millisecond, PlanID: "p1",
		hooks: &hooks{fail: func(step string) error {
			if step == "job" {
				onDuringJob, _ = maintenance.Get(ctx, db) // the job wiped it: the protocol turns it on again after
			}
			return nil
		}, dead: func(Run) bool { return true }}},
		SnapshotSource{ID: "snap1", Run: func(ctx context.Context) (SnapshotResult, error) {
			if s, _ := maintenance.Get(ctx, db); s == nil || !strings.HasPrefix(s.Owner, "restore ") {
				t.Errorf("maintenance switch while the job starts: %+v", s)
			}
			return job(ctx)
		}})
	if err != nil {
		t.Fatal(err)
	}
	_ = onDuringJob
	// THEN what the snapshot replaced is listed (nothing could be kept), the marker names the
	// snapshot and the plan, the source's switch is gone and no other is on
	if len(rep.Replaced) != 2 || rep.Replaced[0].KeptAs != "" || rep.Replaced[1].Documents != 5 || rep.SnapshotJob != "job1" {
		t.Fatalf("report %+v", rep)
	}
	if m, done, err := Restored(ctx, db, "snap1", "p1"); err != nil || !done || m.Kind != KindSnapshot {
		t.Fatalf("marker %+v %v %v", m, done, err)
	}
	if s, _ := maintenance.Get(ctx, db); s != nil {
		t.Fatalf("maintenance switch after the restore: %+v", s)
	}
	// AND the restore's event is recorded once, of kind snapshot
	evs := audittest.PendingEvents(t, db, backup.LogCollection)
	if len(evs) != 1 || evs[0].ResourceID != "snap1" || evs[0].ID != rep.AuditEventID || evs[0].Interface != audit.InterfaceJob {
		t.Fatalf("events %+v", evs)
	}
	// AND a repeated restore of the plan's snapshot does nothing
	again, err := Snapshot(ctx, Options{Target: mongoC, Database: target, Replace: true, Erasures: reg, PlanID: "p1"}, SnapshotSource{ID: "snap1", Run: func(context.Context) (SnapshotResult, error) {
		t.Error("the job ran again")
		return SnapshotResult{}, errors.New("no")
	}})
	if err != nil || !again.AlreadyRestored {
		t.Fatalf("again %+v %v", again, err)
	}
}

func TestSnapshotRestoreInterruptedAfterTheJobIsFinished(t *testing.T) {
	ctx := context.Background()
	target := newDB("snapcrash")
	seed(t, target, 5)
	db := mongoC.Database(target)
	_, err := Snapshot(ctx, Options{Target: mongoC, Database: target, Replace: true, SkipErasureRegister: true, Settle: time.Millisecond,
		hooks: &hooks{fail: func(step string) error {
			if step == "marker" {
				return errCrash
			}
			return nil
		}, dead: func(Run) bool { return true }}}, SnapshotSource{Run: snapshotJob(t, target, "src")})
	if !errors.Is(err, errCrash) {
		t.Fatal(err)
	}
	if s, _ := maintenance.Get(ctx, db); s == nil {
		t.Fatal("the interrupted restore's maintenance switch is off before its recovery")
	}
	rec := recoverDB(t, target, nil)
	if rec.Action != Finished || !strings.Contains(rec.Detail, "atlas-snapshot snap1") {
		t.Fatalf("recovery %+v", rec)
	}
	if m, done, _ := Restored(ctx, db, "snap1", ""); !done || m.BackupID != "snap1" {
		t.Fatalf("marker %+v", m)
	}
	if n, _ := db.Collection("patients").CountDocuments(ctx, bson.D{}); n != 12 {
		t.Fatalf("%d patients, want the snapshot's 12", n)
	}
}
