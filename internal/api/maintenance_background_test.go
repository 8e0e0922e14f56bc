package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/audit/audittest"
	"github.com/carohealth/platform/internal/maintenance"
)

const scheduledEvent = `{"version":"0","id":"x","detail-type":"Scheduled Event","source":"aws.events","account":"1","time":"2026-11-23T06:00:00Z","region":"eu-west-1","resources":["arn:aws:events:eu-west-1:1:rule/outbox"],"detail":{}}`

// dump is every document of every collection of db but the maintenance switch's, as canonical
// extended JSON: equal dumps mean nothing was written.
func dump(t *testing.T, db *mongo.Database) string {
	t.Helper()
	ctx := context.Background()
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		if n == maintenance.Collection {
			continue
		}
		b.WriteString(n + ":\n")
		cur, err := db.Collection(n).Find(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		var docs []bson.Raw
		if err := cur.All(ctx, &docs); err != nil {
			t.Fatal(err)
		}
		lines := make([]string, len(docs))
		for i, d := range docs {
			lines[i] = d.String()
		}
		sort.Strings(lines)
		b.WriteString(strings.Join(lines, "\n") + "\n")
	}
	return b.String()
}

// TestReconcilerWritesNothingWhileMaintenanceIsOn: the API's scheduled outbox reconciler is a
// writer too (it marks events sent, purges tombstones, erases a purged patient's notes and shreds
// its subject key). While the maintenance switch is on (a restore is loading or switching the
// collections) a scheduled run publishes nothing and changes nothing, and says so without failing
// the invocation; once the switch is off the next run does the work.
func TestReconcilerWritesNothingWhileMaintenanceIsOn(t *testing.T) {
	ctx := context.Background()
	db := testClient.Database("api_maintenance_background")
	if err := db.Drop(ctx); err != nil {
		t.Fatal(err)
	}
	sns := audittest.NewSNSFake(t)
	clock := &fakeClock{t: time.Now()}
	h, err := NewHandler(Config{DB: db, Publisher: sns.Publisher(), Erasures: register, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Maintenance: &maintenance.Gate{DB: db, Now: clock.Now}})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, h: h, sns: sns}
	u := user{"doc-bg", uniqueTenant("bg"), "clinician,admin"}
	// GIVEN events left pending (the topic was down), a deleted patient's tombstone and its notes'
	sns.SetFailing(true)
	kept := e.createPatient(u)
	gone := e.createPatient(u)
	n := e.createNote(u, gone.ID, "note of a patient about to go")
	e.expect(204, "", u, "DELETE", "/notes/"+n.ID, "")
	e.expect(204, "", u, "DELETE", "/patients/"+gone.ID, "")
	sns.SetFailing(false)
	// AND the maintenance switch on
	if _, err := maintenance.On(ctx, db, "restore test-bg", "test"); err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = maintenance.Off(ctx, db, "", true) }()
	before := dump(t, db)

	// WHEN the scheduled run comes
	ep := &Entrypoint{API: h, Reconciler: NewReconciler(db, sns.Publisher())}
	out, err := ep.Invoke(ctx, json.RawMessage(scheduledEvent))
	// THEN it fails nothing, publishes nothing and writes nothing
	if err != nil {
		t.Fatalf("a run under maintenance failed the invocation: %v", err)
	}
	res := out.(audit.ReconcileResult)
	if res.Published != 0 || res.Purged != 0 || !strings.Contains(res.Paused, "maintenance switch is on") || !strings.Contains(res.Paused, "restore test-bg") {
		t.Fatalf("run under maintenance: %+v", res)
	}
	if evs := sns.Events(); len(evs) != 0 {
		t.Fatalf("published %d events under maintenance", len(evs))
	}
	if after := dump(t, db); after != before {
		t.Fatalf("the reconciler wrote under maintenance:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if _, err := audit.NewSubjectKeys(db).Get(ctx, u.tenant, gone.ID); err != nil {
		t.Fatalf("subject key shredded under maintenance: %v", err)
	}

	// WHEN the switch is off THEN the next run publishes every event and purges the tombstones
	if _, err := maintenance.Off(ctx, db, "restore test-bg", false); err != nil {
		t.Fatal(err)
	}
	res, err = NewReconciler(db, sns.Publisher()).Run(ctx)
	if err != nil || res.Paused != "" || res.Published != 5 || res.Purged != 2 {
		t.Fatalf("run after maintenance: %+v, %v", res, err)
	}
	if _, err := audit.NewSubjectKeys(db).Get(ctx, u.tenant, gone.ID); !errors.Is(err, audit.ErrSubjectKeyNotFound) {
		t.Fatalf("subject key of the purged patient: %v", err)
	}
	e.expect(200, "", u, "GET", "/patients/"+kept.ID, "")
}

// TestIndexesWaitForMaintenance: creating the API's indexes (at every cold start) creates the
// collections it indexes; in the middle of a restore's switch that would put an empty collection
// where the restored one is about to be renamed. While the switch is on nothing is created; the
// first scheduled run after it is off creates them.
func TestIndexesWaitForMaintenance(t *testing.T) {
	ctx := context.Background()
	db := testClient.Database("api_maintenance_indexes")
	if err := db.Drop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := maintenance.On(ctx, db, "restore test-idx", "test"); err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = maintenance.Off(ctx, db, "", true) }()
	clock := &fakeClock{t: time.Now()}
	h, err := NewHandler(Config{DB: db, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Maintenance: &maintenance.Gate{DB: db, Now: clock.Now}})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.EnsureIndexes(ctx); !errors.Is(err, maintenance.ErrOn) {
		t.Fatalf("EnsureIndexes under maintenance: %v", err)
	}
	ep := &Entrypoint{API: h, Reconciler: NewReconciler(db, audittest.NewSNSFake(t).Publisher())}
	if _, err := ep.Invoke(ctx, json.RawMessage(scheduledEvent)); err != nil {
		t.Fatalf("scheduled run under maintenance: %v", err)
	}
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || names[0] != maintenance.Collection {
		t.Fatalf("collections created under maintenance: %v", names)
	}

	if _, err := maintenance.Off(ctx, db, "restore test-idx", false); err != nil {
		t.Fatal(err)
	}
	clock.Add(maintenance.GateTTL)
	ep.Reconciler = NewReconciler(db, audittest.NewSNSFake(t).Publisher())
	if _, err := ep.Invoke(ctx, json.RawMessage(scheduledEvent)); err != nil {
		t.Fatal(err)
	}
	specs, err := db.Collection(PatientsCollection).Indexes().ListSpecifications(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range specs {
		got = append(got, s.Name)
	}
	if !strings.Contains(strings.Join(got, ","), "patients_tenant_id") || !strings.Contains(strings.Join(got, ","), audit.PendingIndexName) {
		t.Fatalf("indexes after maintenance: %v", got)
	}
}
