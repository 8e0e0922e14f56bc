package erasure

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/carohealth/platform/internal/audit"
)

// TestEraseDataFailsWhenTheKeyCannotBeShredded: the subject key is what makes the audit trail
// unlinkable; when it cannot be deleted the erasure is not done, and the caller (the API, a restore's
// re-apply) must hear it, not a success.
func TestEraseDataFailsWhenTheKeyCannotBeShredded(t *testing.T) {
	db := newDB(t)
	cols := Live()
	seed(t, db, cols, "t1", pidA, "Ada")
	broken := cols
	broken.SubjectKeys = "no$such.collection" // a name the server refuses: the delete fails
	if _, err := EraseData(context.Background(), db, broken, "t1", pidA); err == nil {
		t.Fatal("EraseData reported success although the subject key could not be shredded")
	}
}

// TestRegisterReadsAnEntryUpToItsSizeLimit: an object of exactly maxObjectBytes is read whole (a
// limit one byte short would cut it and refuse a good entry); one byte more is refused.
func TestRegisterReadsAnEntryUpToItsSizeLimit(t *testing.T) {
	ctx := context.Background()
	entry := `{"format":"caro-erasure/v1","tenantId":"t","patientId":"` + pidA + `","erasedAt":"2026-01-01T00:00:00Z"}`
	for _, c := range []struct {
		size int
		ok   bool
	}{{maxObjectBytes, true}, {maxObjectBytes + 1, false}} {
		body := entry + strings.Repeat(" ", c.size-len(entry))
		store := newStore(t)
		if err := store.Put(ctx, Key("t", pidA), strings.NewReader(body), int64(len(body))); err != nil {
			t.Fatal(err)
		}
		l, err := NewRegister(store).List(ctx, time.Time{})
		if c.ok && (err != nil || len(l) != 1) {
			t.Errorf("%d bytes: %+v, %v; want the entry", c.size, l, err)
		}
		if !c.ok && (err == nil || !strings.Contains(err.Error(), "larger than")) {
			t.Errorf("%d bytes: %+v, %v; want it refused as too large", c.size, l, err)
		}
	}
}

// TestTenantResultChangedByEachCount: a tenant erasure changed something when it removed a key, a
// patient or a note, each alone.
func TestTenantResultChangedByEachCount(t *testing.T) {
	for _, r := range []TenantResult{{SubjectKeys: 1}, {Patients: 1}, {Notes: 1}, {SubjectKeys: 1, Patients: 3}, {Patients: 2, Notes: 1}} {
		if !r.Changed() {
			t.Errorf("%+v: Changed() = false", r)
		}
	}
	if (TenantResult{CarriedEvents: 4}).Changed() || (TenantResult{}).Changed() {
		t.Error("nothing removed, yet Changed()")
	}
}

// TestEraseTenantCountsEveryCarriedEvent: every audit event still pending in a deleted document is
// carried to the platform outbox and counted, whichever collection it was in and however many a
// document held; documents without pending events leave nothing in the outbox.
func TestEraseTenantCountsEveryCarriedEvent(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	cols := Live()
	seedTenant(t, db, cols, "carry", 3) // the first patient holds one pending event
	pending := func(coll, id string, n int) {
		for i := range n {
			ev := testOrigin.Event(time.Now(), "carry", "note:create", "note", fmt.Sprint(id, i))
			ev.AfterHash = strings.Repeat("b", 64)
			upd, err := audit.WithEvent(bson.D{{Key: "$set", Value: bson.D{{Key: "version", Value: 2 + i}}}}, ev)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Collection(coll).UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, upd); err != nil {
				t.Fatal(err)
			}
		}
	}
	// AND a note with two pending events
	note := "carry:" + tenantPID(1)[:31] + "0"
	pending(cols.Notes, note, 2)
	res, err := EraseTenant(ctx, db, cols, "carry", TenantOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.CarriedEvents != 3 || res.Patients != 3 || res.Notes != 6 {
		t.Fatalf("result %+v, want 3 events carried (1 of a patient, 2 of a note)", res)
	}
	out := db.Collection(audit.PlatformOutboxCollection)
	n, err := out.CountDocuments(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$regex", Value: "^" + CarriedPrefix}}}})
	if err != nil || n != 2 {
		t.Fatalf("%d carried documents (%v), want one for the patient and one for the note, none for documents without events", n, err)
	}
	var carried struct {
		Pending int `bson:"outboxPending"`
	}
	if err := out.FindOne(ctx, bson.D{{Key: "_id", Value: CarriedPrefix + cols.Notes + ":" + note}}).Decode(&carried); err != nil || carried.Pending != 2 {
		t.Fatalf("the note's carried events: %+v, %v", carried, err)
	}
}

// TestEraseTenantDefaultBatch: a batch size left at zero is DefaultTenantBatch, so the erasure
// holds at most that many documents at a time (one progress report per batch).
func TestEraseTenantDefaultBatch(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	cols := Live()
	docs := make([]any, DefaultTenantBatch+1)
	for i := range docs {
		docs[i] = bson.D{{Key: "_id", Value: fmt.Sprintf("batch:%032x", i)}, {Key: "tenantId", Value: "batch"}, {Key: "patientId", Value: pidA}}
	}
	if _, err := db.Collection(cols.Notes).InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	var reports []int64
	res, err := EraseTenant(ctx, db, cols, "batch", TenantOptions{Progress: func(step string, done int64) {
		if step == StepNotes {
			reports = append(reports, done)
		}
	}})
	if err != nil || res.Notes != int64(len(docs)) {
		t.Fatalf("result %+v, %v", res, err)
	}
	if len(reports) != 2 || reports[0] != DefaultTenantBatch {
		t.Fatalf("note batches reported %v, want %d then %d", reports, DefaultTenantBatch, len(docs))
	}
}

// TestTenantEventHashesTheSummary: the offboarding event's after hash is the SHA-256 of the summary
// the caller gives, or, without one, of the tenant's identity string.
func TestTenantEventHashesTheSummary(t *testing.T) {
	now := time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)
	hash := func(b string) string { s := sha256.Sum256([]byte(b)); return hex.EncodeToString(s[:]) }
	if ev := TenantEvent(testOrigin, "acme", now, []byte(`{"patients":3}`)); ev.AfterHash != hash(`{"patients":3}`) || ev.BeforeHash != "" {
		t.Errorf("with a summary: after %s, before %q", ev.AfterHash, ev.BeforeHash)
	}
	if ev := TenantEvent(testOrigin, "acme", now, nil); ev.AfterHash != hash("caro/offboarded-tenant/v1\x00acme") {
		t.Errorf("without a summary: after %s", ev.AfterHash)
	}
}

// TestBucketsRegisterNamesEachRegister: a register's name in messages is the one given, else its
// place ("register 2"); fewer names than buckets is fine.
func TestBucketsRegisterNamesEachRegister(t *testing.T) {
	ctx := context.Background()
	good, damaged := newStore(t), newStore(t)
	if err := damaged.Put(ctx, Key("t", pidA), strings.NewReader("{"), 1); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		names []string
		want  string
	}{{nil, "erasure register register 2:"}, {[]string{"s3://own"}, "erasure register register 2:"}, {[]string{"s3://own", "s3://replica"}, "erasure register s3://replica:"}} {
		_, err := BucketsRegister(c.names, good, damaged).List(ctx, time.Time{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("names %v: %v, want it to name %q", c.names, err, c.want)
		}
	}
	_, err := BucketsRegister(nil, damaged, good).List(ctx, time.Time{})
	if err == nil || !strings.Contains(err.Error(), "erasure register register 1:") {
		t.Errorf("first unnamed register: %v", err)
	}
}
