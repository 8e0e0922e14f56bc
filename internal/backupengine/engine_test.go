package backupengine

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/prestage"
	"github.com/carohealth/platform/internal/restore"
)

// regions are the two regions' configurations and clients of a test: backups replicate from the
// primary's own bucket to the standby's; locally both use the one key (it stands in for the
// multi-Region key and its replica).
type regions struct {
	primary, standby Config
	p, s             Deps
}

func newRegions(t *testing.T) regions {
	t.Helper()
	db := fmt.Sprintf("caro%d", time.Now().UnixNano()%1e9)
	own, ownName := newBucket(t)
	sown, sownName := newBucket(t)
	replica, replicaName := newBucket(t)
	k := backup.NewAWSKMS(kmsClient)
	return regions{
		primary: Config{Region: "eu-west-1", Database: db, Bucket: ownName, KeyID: keyARN, PartDocuments: 150, StandbyBucket: "unused", PeerKeyID: keyARN, PeerRegion: "eu-central-1"},
		standby: Config{Region: "eu-central-1", Database: db, Bucket: sownName, KeyID: keyARN, StandbyBucket: replicaName, PeerKeyID: keyARN, PeerRegion: "eu-west-1"},
		p:       Deps{Mongo: primaryC, Own: own, KMS: k},
		s:       Deps{Mongo: standbyC, Own: sown, Standby: replica, KMS: k},
	}
}

// replicate copies the primary's backup objects into the standby's bucket (S3 replication).
func (r regions) replicate(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	objs, err := r.p.Own.List(ctx, backup.BackupPrefix)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		rc, err := r.p.Own.Get(ctx, o.Key)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := r.s.Standby.Put(ctx, o.Key, bytes.NewReader(b), int64(len(b))); err != nil {
			t.Fatal(err)
		}
	}
}

func seedRecords(t *testing.T, db string, n int) {
	t.Helper()
	var docs []any
	for i := range n {
		docs = append(docs, bson.D{{Key: "_id", Value: fmt.Sprintf("r%05d", i)}, {Key: "n", Value: i}})
	}
	if _, err := primaryC.Database(db).Collection("records").InsertMany(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
}

func part(p uint32) *uint32 { return &p }

// TestTheStateMachinesStepsBackUpAndPrestage runs the two state machines' steps as the engine
// does: plan, every part (one retried), finalize in the primary; the standby's pre-stage of the
// arriving manifest, every part, complete; then the failover finds it staged.
func TestTheStateMachinesStepsBackUpAndPrestage(t *testing.T) {
	ctx := context.Background()
	r := newRegions(t)
	seedRecords(t, r.primary.Database, 500)
	// WHEN the backup state machine runs: plan, the Map over the parts, finalize
	planned, err := Handle(ctx, r.primary, r.p, Event{Op: OpPlan, Execution: "backup-1"})
	if err != nil || len(planned.Parts) < 3 {
		t.Fatalf("plan: %+v, %v", planned, err)
	}
	for i, it := range planned.Parts {
		attempts := 1
		if i == 1 {
			attempts = 2 // the engine retried this worker
		}
		for range attempts {
			if _, err := Handle(ctx, r.primary, r.p, Event{Op: OpPart, BackupID: planned.BackupID, Part: part(it.Part)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	fin, err := Handle(ctx, r.primary, r.p, Event{Op: OpFinalize, BackupID: planned.BackupID})
	if err != nil || fin.Documents != 500 {
		t.Fatalf("finalize: %+v, %v", fin, err)
	}
	// AND the backup arrives in the standby region, whose pre-stage state machine runs
	r.replicate(t)
	begun, err := Handle(ctx, r.standby, r.s, Event{Op: OpPrestageBegin, Execution: "prestage-1", Key: backup.ManifestKey(planned.BackupID)})
	if err != nil || begun.Skip || len(begun.Parts) != len(planned.Parts) {
		t.Fatalf("prestage-begin: %+v, %v", begun, err)
	}
	for _, it := range begun.Parts {
		if _, err := Handle(ctx, r.standby, r.s, Event{Op: OpPrestageLoad, BackupID: begun.BackupID, Run: begun.Run, Part: part(it.Part), StartedAt: begun.StartedAt}); err != nil {
			t.Fatal(err)
		}
	}
	done, err := Handle(ctx, r.standby, r.s, Event{Op: OpPrestageComplete, Execution: "prestage-1", BackupID: begun.BackupID, Run: begun.Run, StartedAt: begun.StartedAt})
	if err != nil {
		t.Fatal(err)
	}
	// THEN the record says staged, verified, with the documents, and readiness sees it
	if rec := done.Record; rec == nil || rec.State != prestage.StateStaged || !rec.Verified || rec.Documents != 500 || rec.Engine != "prestage-1" {
		t.Fatalf("record: %+v", done.Record)
	}
	st, err := prestage.Status(ctx, prestage.StatusOptions{Store: r.s.Standby, Source: "eu-west-1"})
	if err != nil || st.Behind || len(st.Findings) != 0 {
		t.Fatalf("status: %+v, %v", st, err)
	}
	// AND the standby's own backup plan skips its staged copy (not live data)
	if skip, err := Handle(ctx, r.standby, r.s, Event{Op: OpPlan}); err != nil || !skip.Skip {
		t.Fatalf("standby plan: %+v, %v", skip, err)
	}
	// AND a second pre-stage of the same manifest does nothing
	if again, err := Handle(ctx, r.standby, r.s, Event{Op: OpPrestageBegin, Execution: "prestage-2", Key: backup.ManifestKey(planned.BackupID)}); err != nil || !again.Skip {
		t.Fatalf("second prestage-begin: %+v, %v", again, err)
	}
	// AND the failover finds it staged
	m, _ := restore.ReadMarker(ctx, standbyC.Database(r.standby.Database))
	if c := restore.Choose(m, planned.BackupID); c.Path != restore.PathStaged {
		t.Fatalf("choice: %+v", c)
	}
}

// TestAFailedPrestageIsAbortedAndRecorded: a part that cannot load (its object damaged) fails the
// Map; the Catch's abort rolls the run back and records the failure; the standby keeps nothing
// half-loaded.
func TestAFailedPrestageIsAbortedAndRecorded(t *testing.T) {
	ctx := context.Background()
	r := newRegions(t)
	seedRecords(t, r.primary.Database, 300)
	planned, err := Handle(ctx, r.primary, r.p, Event{Op: OpPlan})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range planned.Parts {
		if _, err := Handle(ctx, r.primary, r.p, Event{Op: OpPart, BackupID: planned.BackupID, Part: part(it.Part)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Handle(ctx, r.primary, r.p, Event{Op: OpFinalize, BackupID: planned.BackupID}); err != nil {
		t.Fatal(err)
	}
	r.replicate(t)
	m, err := backup.Open(ctx, backup.ReadOptions{BackupID: planned.BackupID, Store: r.s.Standby, KMS: r.s.KMS, AllowedKeys: []string{keyARN}})
	if err != nil {
		t.Fatal(err)
	}
	key := m.Manifest().ObjectKeys("records")[1]
	if err := r.s.Standby.Put(ctx, key, strings.NewReader("damaged"), 7); err != nil {
		t.Fatal(err)
	}
	begun, err := Handle(ctx, r.standby, r.s, Event{Op: OpPrestageBegin, Execution: "prestage-x"})
	if err != nil {
		t.Fatal(err)
	}
	var loadErr error
	for _, it := range begun.Parts {
		if _, err := Handle(ctx, r.standby, r.s, Event{Op: OpPrestageLoad, BackupID: begun.BackupID, Run: begun.Run, Part: part(it.Part)}); err != nil {
			loadErr = err
		}
	}
	if loadErr == nil {
		t.Fatal("a damaged part loaded")
	}
	// WHEN the execution's Catch aborts
	ab, err := Handle(ctx, r.standby, r.s, Event{Op: OpPrestageAbort, Execution: "prestage-x", BackupID: begun.BackupID, Run: begun.Run, StartedAt: begun.StartedAt,
		Error: &StepError{Error: "backup.Error", Cause: loadErr.Error()}})
	if err != nil {
		t.Fatal(err)
	}
	// THEN the failure is recorded and the standby holds nothing (no staging, no switch, no run)
	if ab.Record == nil || ab.Record.State != prestage.StateFailed || !strings.Contains(ab.Record.Problem, "failed authentication") || ab.Record.BackupID != begun.BackupID {
		t.Fatalf("record: %+v", ab.Record)
	}
	db := standbyC.Database(r.standby.Database)
	names, _ := db.ListCollectionNames(ctx, bson.D{})
	for _, n := range names {
		if strings.HasPrefix(n, "_caro_stage_") || n == "records" {
			t.Fatalf("left in the standby: %v", names)
		}
	}
	if mk, _ := restore.ReadMarker(ctx, db); mk != nil && mk.InProgress != nil {
		t.Fatalf("run left: %+v", mk.InProgress)
	}
}
