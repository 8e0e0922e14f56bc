package restore

import (
	"context"
	"encoding/json"
	"github.com/carohealth/platform/internal/backup"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/api"
	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/audit/audittest"
	"github.com/carohealth/platform/internal/erasure"
	"github.com/carohealth/platform/internal/ledger"
)

func TestRestoreWritesItsAuditEventsPendingAndTheReconcilerPublishesThemOnce(t *testing.T) {
	ctx := context.Background()
	// GIVEN a backup taken before Ada was erased through the API, and the API's events published
	f := newErasureFixture(t)
	db := mongoC.Database(f.source)
	// (the state hash of Ada after her creation, the API's last event of her before the backup)
	var adaAfter string
	for _, e := range audittest.PendingEvents(t, db, api.PatientsCollection) {
		if e.ResourceID == f.ada && e.Action != "subject:erase" {
			adaAfter = e.AfterHash
		}
	}
	sns := audittest.NewSNSFake(t)
	if _, err := api.NewReconciler(db, sns.Publisher()).Run(ctx); err != nil {
		t.Fatal(err)
	}
	sns.Reset()
	origin := audit.Origin{Actor: "arn:aws:sts::111122223333:assumed-role/oncall/alice", Interface: audit.InterfaceCLI, RequestID: audit.NewEventID()}
	// WHEN an operator restores it over the database
	rep, err := f.restore(f.source, func(o *testRestore) { o.Replace = true; o.Origin = origin })
	if err != nil {
		t.Fatal(err)
	}
	// THEN exactly one backup:restore event is pending in the restore log, with the right fields
	restoreEvents := audittest.PendingEvents(t, db, backup.LogCollection)
	if len(restoreEvents) != 1 {
		t.Fatalf("%d restore events pending, want 1", len(restoreEvents))
	}
	ev := restoreEvents[0]
	if err := ev.Validate(); err != nil {
		t.Fatal(err)
	}
	if ev.ID != rep.AuditEventID || ev.Action != "backup:restore" || ev.ResourceType != "database" || ev.ResourceID != f.m.BackupID ||
		ev.TenantID != audit.PlatformTenant || ev.Actor != origin.Actor || ev.Interface != audit.InterfaceCLI || ev.RequestID != origin.RequestID ||
		ev.AfterHash != f.m.PlaintextSHA256 || ev.SubjectRef != "" {
		t.Fatalf("restore event %+v", ev)
	}
	// AND Ada's re-applied erasure has its subject:erase event of the same run in her tombstone
	// (the backup's own pending events come back with it and are published again, recognisable by
	// their IDs; only this run's are counted)
	var erase []audit.Event
	for _, e := range audittest.PendingEvents(t, db, api.PatientsCollection) {
		if e.RequestID == origin.RequestID {
			erase = append(erase, e)
		}
	}
	if len(erase) != 1 || erase[0].Action != "subject:erase" || erase[0].ResourceID != f.ada || erase[0].TenantID != f.c.tenant ||
		erase[0].RequestID != origin.RequestID || erase[0].Interface != audit.InterfaceCLI {
		t.Fatalf("erase events %+v", erase)
	}
	// AND its before hash continues Ada's hash chain: it is the after hash of her last API event
	if adaAfter == "" || erase[0].BeforeHash != adaAfter {
		t.Fatalf("erase before hash %q, Ada's last after hash %q", erase[0].BeforeHash, adaAfter)
	}
	if len(rep.AuditEvents) != 2 || rep.AuditEvents[0].Collection != backup.LogCollection || rep.AuditEvents[1].Collection != api.PatientsCollection {
		t.Fatalf("report events %+v", rep.AuditEvents)
	}
	// AND no event holds personal data, and the ledger accepts them
	for _, e := range append(restoreEvents, erase...) {
		if err := ledger.CheckNoPersonalData(e); err != nil {
			t.Fatal(err)
		}
	}
	j, _ := json.Marshal(append(restoreEvents, erase...))
	for _, pd := range []string{"Ada", "Grace", "1980-02-03", "note"} {
		if strings.Contains(string(j), pd) {
			t.Fatalf("personal data %q in %s", pd, j)
		}
	}
	// WHEN the inline publish fails
	sns.SetFailing(true)
	if n, err := audit.DeliverWritten(ctx, sns.Publisher(), db, rep.AuditEvents); err == nil || n != 0 {
		t.Fatalf("failing publish: %d %v", n, err)
	}
	// THEN both stay pending
	if len(audittest.PendingEvents(t, db, backup.LogCollection)) != 1 || !pendingHas(t, db, api.PatientsCollection, erase[0].ID) {
		t.Fatal("a failed publish lost events")
	}
	// AND the API's scheduled reconciler publishes each exactly once
	sns.SetFailing(false)
	for range 2 {
		if _, err := api.NewReconciler(db, sns.Publisher()).Run(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]int{}
	for _, e := range sns.Events() {
		got[e.ID]++
	}
	if got[ev.ID] != 1 || got[erase[0].ID] != 1 {
		t.Fatalf("published %v", got)
	}
	if len(audittest.PendingEvents(t, db, backup.LogCollection))+len(audittest.PendingEvents(t, db, api.PatientsCollection)) != 0 {
		t.Fatal("events still pending")
	}
	// AND the restore stays recorded (the failover's Check) after its outbox drained
	if m, done, err := Restored(ctx, db, f.m.BackupID, ""); err != nil || !done {
		t.Fatalf("Restored %+v %v", m, err)
	}
	// AND restoring the same backup again adds exactly one new restore event, keeping the record
	sns.Reset()
	rep2, err := f.restore(f.source, func(o *testRestore) { o.Replace = true; o.Origin = origin })
	if err != nil {
		t.Fatal(err)
	}
	again := audittest.PendingEvents(t, db, backup.LogCollection)
	if len(again) != 1 || again[0].ID != rep2.AuditEventID || again[0].ID == ev.ID {
		t.Fatalf("second restore events %+v", again)
	}
	// AND it delivers inline when a topic is there
	if n, err := audit.DeliverWritten(ctx, sns.Publisher(), db, rep2.AuditEvents); err != nil || n != len(rep2.AuditEvents) {
		t.Fatalf("inline: %d %v", n, err)
	}
	if len(audittest.PendingEvents(t, db, backup.LogCollection)) != 0 {
		t.Fatal("inline delivery left the restore event pending")
	}
}

// pendingHas reports whether the event id is pending in coll.
func pendingHas(t *testing.T, db *mongo.Database, coll, id string) bool {
	for _, e := range audittest.PendingEvents(t, db, coll) {
		if e.ID == id {
			return true
		}
	}
	return false
}

func TestRestoreWithoutOriginIsAuditedAsJob(t *testing.T) {
	f := newBackup(t, 5)
	target := newDB("dstjob")
	rep, err := f.restore(target)
	if err != nil {
		t.Fatal(err)
	}
	evs := audittest.PendingEvents(t, mongoC.Database(target), backup.LogCollection)
	if len(evs) != 1 || evs[0].Interface != audit.InterfaceJob || evs[0].Actor != "job:backup-restore" || evs[0].ID != rep.AuditEventID {
		t.Fatalf("events %+v", evs)
	}
}

// pendingIDs returns the IDs of the events pending in the given collections of db.
func pendingIDs(t *testing.T, db *mongo.Database, colls ...string) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	for _, c := range colls {
		for _, ev := range audittest.PendingEvents(t, db, c) {
			ids[ev.ID] = true
		}
	}
	return ids
}

func TestRestoreKeepsEventsPendingInTheReplacedCollections(t *testing.T) {
	for _, crash := range []bool{false, true} {
		ctx := context.Background()
		// GIVEN a database whose API events (creates, Ada's erasure) are still pending
		f := newErasureFixture(t)
		db := mongoC.Database(f.source)
		before := pendingIDs(t, db, api.PatientsCollection, api.NotesCollection)
		if len(before) < 5 {
			t.Fatalf("only %d pending API events", len(before))
		}
		// WHEN a restore replaces the database (and, in the crash case, dies right after the
		// switch committed, then the next restore's Recover finishes it)
		_, err := f.restore(f.source, func(o *testRestore) {
			o.Replace = true
			if crash {
				o.fail = func(step string) error {
					if step == "erasures-after" {
						return errCrash
					}
					return nil
				}
			}
		})
		if crash {
			if err == nil {
				t.Fatal("no simulated crash")
			}
			if rec := recoverDB(t, f.source, erasure.NewRegister(f.store)); rec.Action != Finished {
				t.Fatalf("recovery %+v", rec)
			}
			if rec := recoverDB(t, f.source, erasure.NewRegister(f.store)); rec.Action != "" {
				t.Fatalf("second recovery %+v", rec)
			}
		} else if err != nil {
			t.Fatal(err)
		}
		// THEN every event that was pending in the replaced collections is pending in the
		// restore log, once
		kept := audittest.PendingEvents(t, db, backup.LogCollection)
		keptIDs := map[string]int{}
		for _, ev := range kept {
			keptIDs[ev.ID]++
		}
		for id := range before {
			if keptIDs[id] != 1 {
				t.Fatalf("crash %t: event %s kept %d times", crash, id, keptIDs[id])
			}
		}
		var outbox audit.Outbox
		if err := db.Collection(backup.LogCollection).FindOne(ctx, bson.D{{Key: "_id", Value: "replaced-" + f.m.BackupID}}).Decode(&outbox); err != nil ||
			outbox.Pending != len(outbox.Events) || outbox.Pending != len(before) {
			t.Fatalf("crash %t: replaced-events document %d pending, %d events, want %d (%v)", crash, outbox.Pending, len(outbox.Events), len(before), err)
		}
		// AND the replaced collections are kept (not dropped), and listed
		if kept, err := ListKept(ctx, db); err != nil || len(kept) < 2 {
			t.Fatalf("crash %t: kept %+v %v", crash, kept, err)
		}
		// AND the reconciler publishes them all and drains the document
		sns := audittest.NewSNSFake(t)
		for range 2 {
			if _, err := api.NewReconciler(db, sns.Publisher()).Run(ctx); err != nil {
				t.Fatal(err)
			}
		}
		published := map[string]bool{}
		for _, ev := range sns.Events() {
			published[ev.ID] = true
		}
		for id := range before {
			if !published[id] {
				t.Fatalf("crash %t: event %s never published", crash, id)
			}
		}
		if n := len(audittest.PendingEvents(t, db, backup.LogCollection)); n != 0 {
			t.Fatalf("crash %t: %d still pending", crash, n)
		}
	}
}
