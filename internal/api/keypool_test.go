package api

import (
	"context"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/carohealth/platform/internal/audit"
)

func TestKeyPoolHandsOutStoredUniqueKeys(t *testing.T) {
	ctx := context.Background()
	keys := audit.NewSubjectKeys(testDB)
	pool := newKeyPool(keys, 4)
	tenant := uniqueTenant("pool")
	seen := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, k, err := pool.take(ctx, tenant)
			if err != nil {
				t.Error(err)
				return
			}
			stored, err := keys.Get(ctx, tenant, id)
			if err != nil || stored != k || !ValidID(id) {
				t.Errorf("pooled key of %s not stored: %v", id, err)
			}
			mu.Lock()
			if seen[id] {
				t.Errorf("ID %s handed out twice", id)
			}
			seen[id] = true
			mu.Unlock()
		}()
	}
	wg.Wait()
	// Another tenant never gets this tenant's spare IDs.
	other := uniqueTenant("pool-other")
	id, _, err := pool.take(ctx, other)
	if err != nil || seen[id] {
		t.Fatalf("other tenant got %s (%v)", id, err)
	}
	if _, err := keys.Get(ctx, other, id); err != nil {
		t.Fatal(err)
	}
	// Size 1: one key per take, no spares.
	single := newKeyPool(keys, 1)
	id, k, err := single.take(ctx, tenant)
	if err != nil || len(single.spare) != 0 {
		t.Fatal(err)
	}
	if stored, _ := keys.Get(ctx, tenant, id); stored != k {
		t.Fatal("single key not stored")
	}
}

// TestKeyPoolAllocatesItsSize: the first take of a tenant stores size keys at once and keeps the
// others as spares; a handler without a size uses DefaultKeyPoolSize, and a size below 1 means one.
func TestKeyPoolAllocatesItsSize(t *testing.T) {
	ctx := context.Background()
	keys := audit.NewSubjectKeys(testDB)
	for _, c := range []struct{ size, spares int }{{4, 3}, {2, 1}, {1, 0}, {0, 0}, {-3, 0}} {
		pool := newKeyPool(keys, c.size)
		tenant := uniqueTenant("size")
		if _, _, err := pool.take(ctx, tenant); err != nil {
			t.Fatal(err)
		}
		if got := len(pool.spare[tenant]); got != c.spares {
			t.Errorf("size %d: %d spares, want %d", c.size, got, c.spares)
		}
		n, err := testDB.Collection(audit.SubjectKeysCollection).CountDocuments(ctx, bson.D{{Key: "tenantId", Value: tenant}})
		if err != nil || n != int64(c.spares+1) {
			t.Errorf("size %d: %d keys stored (%v), want %d", c.size, n, err, c.spares+1)
		}
	}
	h, err := NewHandler(Config{DB: testDB})
	if err != nil || h.pool.size != DefaultKeyPoolSize {
		t.Fatalf("default pool size %d (%v), want %d", h.pool.size, err, DefaultKeyPoolSize)
	}
	if h, _ := NewHandler(Config{DB: testDB, KeyPoolSize: 3}); h.pool.size != 3 {
		t.Fatalf("pool size %d, want 3", h.pool.size)
	}
}

// TestKeyPoolBoundsItsTenants: spares are kept for at most maxTenants tenants.
func TestKeyPoolBoundsItsTenants(t *testing.T) {
	ctx := context.Background()
	pool := newKeyPool(audit.NewSubjectKeys(testDB), 2)
	pool.maxTenants = 2
	for i := range 4 {
		if _, _, err := pool.take(ctx, uniqueTenant("bound")); err != nil {
			t.Fatal(err)
		}
		if want := min(i+1, 2); len(pool.spare) != want {
			t.Fatalf("after %d tenants the pool keeps %d, want %d", i+1, len(pool.spare), want)
		}
	}
}
