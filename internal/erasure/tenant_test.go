package erasure

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/tenant/status"
)

// seedTenant writes n patients with two notes and a key each, the API's way, into tenant; the first
// patient also carries a pending audit event in its outbox (not yet published).
func seedTenant(t *testing.T, db *mongo.Database, cols Collections, tenant string, n int) {
	t.Helper()
	for i := range n {
		pid := tenantPID(i)
		seed(t, db, cols, tenant, pid, fmt.Sprintf("Name%s%d", tenant, i))
	}
	ev := testOrigin.Event(time.Now(), tenant, "patient:create", "patient", tenantPID(0))
	ev.AfterHash = strings.Repeat("a", 64)
	upd, err := audit.WithEvent(bson.D{{Key: "$set", Value: bson.D{{Key: "version", Value: 1}}}}, ev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Collection(cols.Patients).UpdateOne(context.Background(), bson.D{{Key: "_id", Value: tenant + ":" + tenantPID(0)}}, upd); err != nil {
		t.Fatal(err)
	}
}

// tenantPID is the i-th patient ID of seedTenant (seed derives note IDs from the first 31
// characters, so those differ).
func tenantPID(i int) string { return fmt.Sprintf("%031x0", i+1) }

func countTenant(t *testing.T, db *mongo.Database, coll, tenant string) int64 {
	t.Helper()
	n, err := db.Collection(coll).CountDocuments(context.Background(), bson.D{{Key: "tenantId", Value: tenant}})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestTenantEntryIsRegisteredAndListedFirstInItsTenant(t *testing.T) {
	ctx := context.Background()
	reg := NewRegister(newStore(t))
	t0 := time.Date(2027, 1, 5, 9, 0, 0, 0, time.UTC)
	// GIVEN a subject erasure and a tenant-level entry in the same tenant
	for _, e := range []Erasure{
		{TenantID: "acme", PatientID: pidA, ErasedAt: t0, RequestID: "r1"},
		{TenantID: "acme", Scope: ScopeTenant, ErasedAt: t0.Add(time.Hour), RequestID: "r2", EventID: "e2",
			Counts: map[string]int64{"patients": 3, "users": 2}},
	} {
		if err := reg.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	// WHEN the register is listed
	list, err := reg.List(ctx, time.Time{})
	// THEN the tenant-level entry comes first, at its own key, with its counts
	if err != nil || len(list) != 2 || !list[0].IsTenant() || list[0].Key() != "erasures/acme/tenant.json" ||
		list[0].Counts["patients"] != 3 || list[0].EventID != "e2" || list[1].PatientID != pidA {
		t.Fatalf("list %+v, %v", list, err)
	}
}

func TestTenantEntryValidation(t *testing.T) {
	now := time.Now()
	for name, e := range map[string]Erasure{
		"a tenant entry naming a patient": {TenantID: "acme", Scope: ScopeTenant, PatientID: pidA, ErasedAt: now},
		"an unknown scope":                {TenantID: "acme", Scope: "region", PatientID: pidA, ErasedAt: now},
		"a tenant entry without a time":   {TenantID: "acme", Scope: ScopeTenant},
		"a bad tenant":                    {TenantID: "../x", Scope: ScopeTenant, ErasedAt: now},
	} {
		if err := e.Validate(); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	// An object whose content is a tenant entry but whose key is a patient's is refused by List.
	ctx := context.Background()
	store := newStore(t)
	body := `{"format":"caro-erasure/v1","scope":"tenant","tenantId":"acme","erasedAt":"2027-01-05T09:00:00Z"}`
	if err := store.Put(ctx, Key("acme", pidA), strings.NewReader(body), int64(len(body))); err != nil {
		t.Fatal(err)
	}
	if _, err := NewRegister(store).List(ctx, time.Time{}); err == nil || !strings.Contains(err.Error(), "names another subject") {
		t.Fatalf("misplaced tenant entry: %v", err)
	}
}

func TestApplyTenantEntryRemovesTheTenantOnceAndKeepsItsPendingEvents(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	cols := Live().Renamed(func(c string) string { return "_caro_stage_0badcafe_" + c })
	// GIVEN two tenants (as a restored backup holds them), one with a pending audit event
	seedTenant(t, db, cols, "gone", 3)
	seedTenant(t, db, cols, "stays", 2)
	e := Erasure{TenantID: "gone", Scope: ScopeTenant, ErasedAt: time.Now().Add(-time.Hour), RequestID: "offboard-run"}
	// WHEN the tenant-level entry is re-applied
	sum, err := Reapply(ctx, ReapplyOptions{Source: Listed{e, {TenantID: "gone", PatientID: pidA, ErasedAt: time.Now()}}, DB: db, Collections: cols, Origin: testOrigin})
	if err != nil {
		t.Fatal(err)
	}
	// THEN every document and key of the tenant is gone, the other tenant is whole
	for _, c := range []string{cols.Patients, cols.Notes, cols.SubjectKeys} {
		if n := countTenant(t, db, c, "gone"); n != 0 {
			t.Errorf("%s still holds %d documents of the offboarded tenant", c, n)
		}
	}
	if countTenant(t, db, cols.Patients, "stays") != 2 || countTenant(t, db, cols.Notes, "stays") != 4 || countTenant(t, db, cols.SubjectKeys, "stays") != 2 {
		t.Error("the other tenant lost data")
	}
	if sum.Tenants != 1 || sum.TenantsErased != 1 || sum.TenantDocuments != 3+3+6 || sum.AuditEvents != 1 || sum.Applied != 2 {
		t.Fatalf("summary %+v", sum)
	}
	// AND the pending event was carried to the platform outbox, with one tenant:offboard event
	out := db.Collection(audit.PlatformOutboxCollection)
	var carried struct {
		Events  audit.PendingEvents `bson:"outbox"`
		Pending int                 `bson:"outboxPending"`
	}
	carriedID := fmt.Sprintf("%s%s:gone:%s", CarriedPrefix, cols.Patients, tenantPID(0))
	if err := out.FindOne(ctx, bson.D{{Key: "_id", Value: carriedID}}).Decode(&carried); err != nil || carried.Pending != 1 || len(carried.Events) != 1 {
		t.Fatalf("carried event %+v, %v", carried, err)
	}
	ev := sum.Events[0]
	if ev.Event.Action != ActionOffboard || ev.Event.ResourceID != "gone" || ev.Event.TenantID != "gone" || ev.Event.Interface != testOrigin.Interface {
		t.Fatalf("event %+v", ev)
	}
	if n, _ := out.CountDocuments(ctx, bson.D{{Key: audit.FieldOutbox + "." + ev.Event.ID, Value: bson.D{{Key: "$exists", Value: true}}}}); n != 1 {
		t.Fatalf("the offboard event is stored %d times", n)
	}
	// AND the database records the tenant as offboarded (the API refuses it)
	if r, err := status.Get(ctx, db, "gone"); err != nil || r == nil || r.State != status.Offboarded {
		t.Fatalf("status %+v, %v", r, err)
	}
	// WHEN it is applied again THEN nothing changes and no event is written
	again, err := Reapply(ctx, ReapplyOptions{Source: Listed{e}, DB: db, Collections: cols, Origin: testOrigin})
	if err != nil || again.TenantsErased != 0 || again.AuditEvents != 0 {
		t.Fatalf("second apply %+v, %v", again, err)
	}
}

func TestEraseTenantResumesAfterAnInterruption(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	cols := Live()
	seedTenant(t, db, cols, "big", 12)
	// GIVEN an erasure stopped after its first batch of notes
	stop := errors.New("the maintenance switch went on")
	batches := 0
	first, err := EraseTenant(ctx, db, cols, "big", TenantOptions{BatchSize: 5, Continue: func(context.Context) error {
		if batches++; batches > 5 { // 3 batches of keys (12 keys) plus the empty one, then one of notes
			return stop
		}
		return nil
	}})
	if !errors.Is(err, stop) {
		t.Fatalf("first run: %v", err)
	}
	if first.SubjectKeys != 12 || first.Notes != 5 || first.Patients != 0 {
		t.Fatalf("first run removed %+v", first)
	}
	// WHEN it runs again
	second, err := EraseTenant(ctx, db, cols, "big", TenantOptions{BatchSize: 5})
	if err != nil {
		t.Fatal(err)
	}
	// THEN it removes exactly what was left, and the two runs together removed everything once
	if second.SubjectKeys != 0 || second.Notes != 24-5 || second.Patients != 12 {
		t.Fatalf("second run removed %+v", second)
	}
	for _, c := range []string{cols.Patients, cols.Notes, cols.SubjectKeys} {
		if n := countTenant(t, db, c, "big"); n != 0 {
			t.Errorf("%s: %d left", c, n)
		}
	}
	if _, err := EraseTenant(ctx, db, cols, "../x", TenantOptions{}); err == nil {
		t.Fatal("invalid tenant accepted")
	}
}

func TestOffboardedTenantsListsTheTenantEntriesOnly(t *testing.T) {
	now := time.Now()
	got, err := OffboardedTenants(context.Background(), Listed{
		{TenantID: "gone", Scope: ScopeTenant, ErasedAt: now},
		{TenantID: "stays", PatientID: pidA, ErasedAt: now},
	})
	if err != nil || !got["gone"] || got["stays"] || len(got) != 1 {
		t.Fatalf("%v %v", got, err)
	}
}
