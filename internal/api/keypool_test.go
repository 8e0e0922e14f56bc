package api

import (
	"context"
	"sync"
	"testing"

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
