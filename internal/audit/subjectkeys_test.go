package audit_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/carohealth/platform/internal/audit"
)

func TestSubjectKeysLifecycle(t *testing.T) {
	ctx := context.Background()
	keys := audit.NewSubjectKeys(testDB)
	if err := keys.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Get(ctx, "t1", "patient-1"); !errors.Is(err, audit.ErrSubjectKeyNotFound) {
		t.Fatalf("key before create: %v", err)
	}
	k, err := keys.Create(ctx, "t1", "patient-1")
	if err != nil {
		t.Fatal(err)
	}
	again, err := keys.Create(ctx, "t1", "patient-1")
	if err != nil || again != k {
		t.Fatalf("Create is not idempotent: %v", err)
	}
	ref := k.Ref("t1", "patient-1")
	if len(ref) != 64 || !k.Matches(ref, "t1", "patient-1") {
		t.Fatalf("ref %q", ref)
	}
	if got, err := keys.Ref(ctx, "t1", "patient-1"); err != nil || got != ref {
		t.Fatalf("stored ref %q %v", got, err)
	}
	// Same subject ID in another tenant: another key, another ref.
	other, err := keys.Create(ctx, "t2", "patient-1")
	if err != nil || other == k || other.Ref("t2", "patient-1") == ref {
		t.Fatal("tenants share a subject key")
	}
	// The ref is keyed: it does not reveal the ID and differs per key.
	var zero audit.SubjectKey
	if zero.Ref("t1", "patient-1") == ref {
		t.Fatal("ref does not depend on the key")
	}
	if k.StateHash([]byte(`{"a":1}`)) == k.StateHash([]byte(`{"a":2}`)) || len(k.StateHash(nil)) != 64 {
		t.Fatal("state hash")
	}

	// Erase: crypto-shredding. The key is gone, refs can no longer be made, erase is repeatable.
	if err := keys.Erase(ctx, "t1", "patient-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Ref(ctx, "t1", "patient-1"); !errors.Is(err, audit.ErrSubjectKeyNotFound) {
		t.Fatalf("ref after erase: %v", err)
	}
	if n, _ := testDB.Collection(audit.SubjectKeysCollection).CountDocuments(ctx,
		bson.D{{Key: "tenantId", Value: "t1"}, {Key: "subjectId", Value: "patient-1"}}); n != 0 {
		t.Fatalf("%d key documents left after erase", n)
	}
	if err := keys.Erase(ctx, "t1", "patient-1"); err != nil {
		t.Fatalf("second erase: %v", err)
	}
	// The other tenant's key is untouched.
	if _, err := keys.Get(ctx, "t2", "patient-1"); err != nil {
		t.Fatalf("erase touched another tenant: %v", err)
	}
	// A new key after erasure is a new key: old refs stay unlinkable.
	fresh, err := keys.Create(ctx, "t1", "patient-1")
	if err != nil || fresh.Matches(ref, "t1", "patient-1") {
		t.Fatal("a recreated key links to the erased subject's refs")
	}
	if _, err := keys.Create(ctx, "", "x"); err == nil {
		t.Fatal("key without tenant accepted")
	}
}

func TestSubjectKeysConcurrentCreateAgree(t *testing.T) {
	ctx := context.Background()
	keys := audit.NewSubjectKeys(testDB)
	if err := keys.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	const n = 8
	got := make([]audit.SubjectKey, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = keys.Create(ctx, "race", "patient-r")
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || got[i] != got[0] {
			t.Fatalf("creator %d: %v (keys differ: %v)", i, errs[i], got[i] != got[0])
		}
	}
}

func TestSubjectKeysCreateMany(t *testing.T) {
	ctx := context.Background()
	keys := audit.NewSubjectKeys(testDB)
	if err := keys.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	ids := []string{"many-1", "many-2", "many-3"}
	got, err := keys.CreateMany(ctx, "t-many", ids)
	if err != nil || len(got) != 3 || got[0] == got[1] {
		t.Fatalf("%v %d", err, len(got))
	}
	for i, id := range ids {
		k, err := keys.Get(ctx, "t-many", id)
		if err != nil || k != got[i] {
			t.Fatalf("key %s: %v", id, err)
		}
	}
	// IDs that already have keys are refused (the unique index), never overwritten.
	if _, err := keys.CreateMany(ctx, "t-many", []string{"many-4", "many-2"}); err == nil {
		t.Fatal("CreateMany replaced or duplicated an existing key")
	}
	if k, _ := keys.Get(ctx, "t-many", "many-2"); k != got[1] {
		t.Fatal("existing key changed")
	}
}
