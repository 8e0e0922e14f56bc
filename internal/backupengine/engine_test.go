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
	"github.com/carohealth/platform/internal/maintenance"
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

// backUp runs the backup state machine's steps in the primary and replicates the backup to the
// standby's bucket.
func (r regions) backUp(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
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
	return planned.BackupID
}

// prestage runs the pre-stage state machine's steps in the standby for the backup id, as the
// engine does: begin, every part, complete, or abort (the Catch) on the first failure, whose
// error it returns.
func (r regions) prestage(t *testing.T, id, execution string) (Result, error) {
	t.Helper()
	ctx := context.Background()
	begun, err := Handle(ctx, r.standby, r.s, Event{Op: OpPrestageBegin, Execution: execution, Key: backup.ManifestKey(id)})
	if err != nil || begun.Skip {
		t.Fatalf("prestage-begin of %s: %+v, %v", id, begun, err)
	}
	for _, it := range begun.Parts {
		if _, err := Handle(ctx, r.standby, r.s, Event{Op: OpPrestageLoad, BackupID: begun.BackupID, Run: begun.Run, Part: part(it.Part), StartedAt: begun.StartedAt}); err != nil {
			ab, aerr := Handle(ctx, r.standby, r.s, Event{Op: OpPrestageAbort, Execution: execution, BackupID: begun.BackupID, Run: begun.Run, StartedAt: begun.StartedAt,
				Error: &StepError{Error: "backup.Error", Cause: err.Error()}})
			if aerr != nil {
				t.Fatal(aerr)
			}
			return ab, err
		}
	}
	done, err := Handle(ctx, r.standby, r.s, Event{Op: OpPrestageComplete, Execution: execution, BackupID: begun.BackupID, Run: begun.Run, StartedAt: begun.StartedAt})
	if err != nil {
		t.Fatal(err)
	}
	return done, nil
}

// TestABackupFailingVerificationIsNeverStagedOverThePreviousCopy: on the engine's path, a newer
// backup whose data does not authenticate is aborted; the standby keeps the previous verified
// copy, staged and guarded; readiness says the last pre-stage failed and the standby is behind;
// a failover of the newer backup loads it (cold), one of the previous copy activates it.
func TestABackupFailingVerificationIsNeverStagedOverThePreviousCopy(t *testing.T) {
	ctx := context.Background()
	r := newRegions(t)
	seedRecords(t, r.primary.Database, 300)
	a := r.backUp(t)
	if _, err := r.prestage(t, a, "prestage-a"); err != nil {
		t.Fatal(err)
	}
	// GIVEN a newer backup B (a record added) whose second part was damaged in the standby's bucket
	if _, err := primaryC.Database(r.primary.Database).Collection("records").InsertOne(ctx, bson.D{{Key: "_id", Value: "r-new"}}); err != nil {
		t.Fatal(err)
	}
	b := r.backUp(t)
	opened, err := backup.Open(ctx, backup.ReadOptions{BackupID: b, Store: r.s.Standby, KMS: r.s.KMS, AllowedKeys: []string{keyARN}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.s.Standby.Put(ctx, opened.Manifest().ObjectKeys("records")[1], strings.NewReader("damaged"), 7); err != nil {
		t.Fatal(err)
	}
	// WHEN the standby pre-stages B
	ab, err := r.prestage(t, b, "prestage-b")
	if err == nil {
		t.Fatal("a damaged backup was staged")
	}
	// THEN the failure is recorded with A still staged
	if ab.Record == nil || ab.Record.State != prestage.StateFailed || ab.Record.BackupID != b || ab.Record.Staged != a {
		t.Fatalf("record: %+v", ab.Record)
	}
	// AND the standby holds A's copy, staged, behind the standby's switch, and none of B
	db := standbyC.Database(r.standby.Database)
	if n, _ := db.Collection("records").CountDocuments(ctx, bson.D{}); n != 300 {
		t.Fatalf("the standby holds %d records, want A's 300", n)
	}
	m, _ := restore.ReadMarker(ctx, db)
	if m == nil || m.Staged == nil || m.BackupID != a || m.InProgress != nil {
		t.Fatalf("marker: %+v", m)
	}
	if sw, _ := maintenance.Get(ctx, db); sw == nil || sw.Owner != restore.StandbyOwner {
		t.Fatalf("switch: %+v", sw)
	}
	// AND readiness says the last pre-stage failed and the standby is behind
	st, err := prestage.Status(ctx, prestage.StatusOptions{Store: r.s.Standby, Source: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, f := range st.Findings {
		msgs = append(msgs, f.Message)
	}
	got := strings.Join(msgs, "\n")
	if !st.Behind || st.Staged != a || !strings.Contains(got, "failed") || !strings.Contains(got, "the standby is behind") || !strings.HasPrefix(st.FailoverRTO, "cold") {
		t.Fatalf("status: %+v", st)
	}
	// AND a failover of B loads it, one of A activates the verified copy
	if c := restore.Choose(m, b); c.Path != restore.PathCold || !strings.Contains(c.Detail, a) {
		t.Fatalf("choice for B: %+v", c)
	}
	if c := restore.Choose(m, a); c.Path != restore.PathStaged {
		t.Fatalf("choice for A: %+v", c)
	}
}
