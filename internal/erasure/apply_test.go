package erasure

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/audit"
)

// seed writes a patient with two notes and a subject key the way the API stores them.
func seed(t *testing.T, db *mongo.Database, cols Collections, tenant, pid, name string) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	if _, err := db.Collection(cols.Patients).InsertOne(ctx, bson.D{{Key: "_id", Value: tenant + ":" + pid}, {Key: "tenantId", Value: tenant},
		{Key: "version", Value: 1}, {Key: "givenName", Value: name}, {Key: "familyName", Value: name + "-family"},
		{Key: "birthDate", Value: "1990-12-10"}, {Key: "createdAt", Value: now}, {Key: "updatedAt", Value: now}}); err != nil {
		t.Fatal(err)
	}
	for i, text := range []string{name + " note one", name + " note two"} {
		if _, err := db.Collection(cols.Notes).InsertOne(ctx, bson.D{{Key: "_id", Value: tenant + ":" + pid[:31] + string(rune('0'+i))},
			{Key: "tenantId", Value: tenant}, {Key: "patientId", Value: pid}, {Key: "version", Value: 1}, {Key: "text", Value: text}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := audit.SubjectKeysIn(db.Collection(cols.SubjectKeys)).Create(ctx, tenant, pid); err != nil {
		t.Fatal(err)
	}
}

// dump returns every document of the collections as JSON, for looking for personal data.
func dump(t *testing.T, db *mongo.Database, cols Collections) string {
	t.Helper()
	var b strings.Builder
	for _, c := range []string{cols.Patients, cols.Notes} {
		cur, err := db.Collection(c).Find(context.Background(), bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		var docs []bson.M
		if err := cur.All(context.Background(), &docs); err != nil {
			t.Fatal(err)
		}
		j, _ := json.Marshal(docs)
		b.Write(j)
	}
	return b.String()
}

func TestApplyErasesOneSubjectIdempotently(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	// GIVEN staging-named collections (as a restore has them) with two patients in one tenant
	cols := Live().Renamed(func(c string) string { return "_caro_stage_1234abcd_" + c })
	seed(t, db, cols, "t1", pidA, "Ada")
	seed(t, db, cols, "t1", pidB, "Grace")
	e := Erasure{TenantID: "t1", PatientID: pidA, ErasedAt: time.Now(), RequestID: "r1"}
	// WHEN Ada's erasure is applied
	r, err := Apply(ctx, db, cols, e, time.Now(), testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	// THEN her personal data, notes' text and key are gone, Grace is intact
	if !r.Patient || r.Notes != 2 {
		t.Fatalf("result %+v", r)
	}
	all := dump(t, db, cols)
	for _, pd := range []string{"Ada", "1990-12-10\",\"familyName\":\"Ada", "Ada note"} {
		if strings.Contains(all, pd) {
			t.Fatalf("personal data %q left: %s", pd, all)
		}
	}
	for _, keep := range []string{"Grace", "Grace-family", "Grace note one", "Grace note two"} {
		if !strings.Contains(all, keep) {
			t.Fatalf("%q was touched: %s", keep, all)
		}
	}
	keys := audit.SubjectKeysIn(db.Collection(cols.SubjectKeys))
	if _, err := keys.Get(ctx, "t1", pidA); err != audit.ErrSubjectKeyNotFound {
		t.Fatalf("key of the erased subject: %v", err)
	}
	if _, err := keys.Get(ctx, "t1", pidB); err != nil {
		t.Fatalf("key of the other subject: %v", err)
	}
	var p bson.M
	if err := db.Collection(cols.Patients).FindOne(ctx, bson.D{{Key: "_id", Value: "t1:" + pidA}}).Decode(&p); err != nil {
		t.Fatal(err)
	}
	if p[audit.FieldTombstone] != true || p[FieldErased] != true || p["version"] != int32(2) && p["version"] != int64(2) {
		t.Fatalf("tombstone %v", p)
	}
	// AND a second run changes nothing
	if r, err := Apply(ctx, db, cols, e, time.Now(), testOrigin); err != nil || r.Patient || r.Notes != 0 {
		t.Fatalf("re-run: %+v %v", r, err)
	}
	// AND the live collections (other names) were never touched
	if n, _ := db.Collection(PatientsCollection).CountDocuments(ctx, bson.D{}); n != 0 {
		t.Fatal("live collection written")
	}
}

func TestApplyOtherTenantUntouched(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	seed(t, db, Live(), "t1", pidA, "Ada")
	seed(t, db, Live(), "t2", pidA, "Same")
	if _, err := Apply(ctx, db, Live(), Erasure{TenantID: "t2", PatientID: pidA, ErasedAt: time.Now()}, time.Now(), testOrigin); err != nil {
		t.Fatal(err)
	}
	all := dump(t, db, Live())
	if !strings.Contains(all, "Ada note one") || strings.Contains(all, "Same note") {
		t.Fatalf("tenants mixed: %s", all)
	}
}

func TestReapplyFromRegister(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	reg := NewRegister(newStore(t))
	seed(t, db, Live(), "t1", pidA, "Ada")
	seed(t, db, Live(), "t1", pidB, "Grace")
	old := time.Now().Add(-48 * time.Hour)
	if err := reg.Record(ctx, Erasure{TenantID: "t1", PatientID: pidA, ErasedAt: old, RequestID: "r1"}); err != nil {
		t.Fatal(err)
	}
	// An erasure of a patient this database never had (created after the backup) is harmless.
	if err := reg.Record(ctx, Erasure{TenantID: "t9", PatientID: pidB, ErasedAt: time.Now(), RequestID: "r2"}); err != nil {
		t.Fatal(err)
	}
	var lines []string
	s, err := Reapply(ctx, ReapplyOptions{Source: reg, DB: db, Origin: testOrigin, Progress: func(l string) { lines = append(lines, l) }})
	if err != nil {
		t.Fatal(err)
	}
	if s.Registered != 2 || s.Applied != 2 || s.Patients != 1 || s.Notes != 2 {
		t.Fatalf("summary %+v", s)
	}
	if len(lines) != 2 || !strings.Contains(lines[0], "t1/"+pidA) {
		t.Fatalf("progress %q", lines)
	}
	// Since after the old erasure: it is not listed, so nothing to do.
	seed(t, db, Live(), "t3", pidA, "Late")
	s, err = Reapply(ctx, ReapplyOptions{Source: reg, DB: db, Origin: testOrigin, Since: time.Now().Add(-time.Hour)})
	if err != nil || s.Registered != 1 || s.Patients != 0 {
		t.Fatalf("since: %+v %v", s, err)
	}
	if _, err := Reapply(ctx, ReapplyOptions{Source: NewRegister(failingStore{}), DB: db, Origin: testOrigin}); err == nil {
		t.Fatal("unreadable register accepted")
	}
}

// TestReapplyStopsAtTheFirstErasureItCannotApply: an erasure that fails stops the run with its
// error (issue 23, mutant 7): a restore must not switch in data whose erasures were not all
// applied, so Reapply never swallows an error and goes on.
func TestReapplyStopsAtTheFirstErasureItCannotApply(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	seed(t, db, Live(), "t1", pidA, "Ada")
	seed(t, db, Live(), "t1", pidB, "Grace")
	now := time.Now()
	list := Listed{
		{TenantID: "t1", PatientID: pidA, ErasedAt: now, RequestID: "r1"},
		{TenantID: "t1", PatientID: "not-a-patient-id", ErasedAt: now, RequestID: "r2"}, // cannot be applied
		{TenantID: "t1", PatientID: pidB, ErasedAt: now, RequestID: "r3"},
	}
	sum, err := Reapply(ctx, ReapplyOptions{Source: list, DB: db, Origin: testOrigin})
	if err == nil || !strings.Contains(err.Error(), "not-a-patient-id") {
		t.Fatalf("Reapply = %+v, %v: want the failing erasure's error", sum, err)
	}
	if sum.Registered != 3 || sum.Applied != 1 || sum.Patients != 1 {
		t.Fatalf("summary %+v: want 1 of 3 applied", sum)
	}
	if all := dump(t, db, Live()); !strings.Contains(all, "Grace note one") {
		t.Fatalf("the erasure after the failing one was applied anyway: %s", all)
	}
}
