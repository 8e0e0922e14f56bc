package api

import (
	"context"
	"sync"

	"github.com/carohealth/platform/internal/audit"
)

// DefaultKeyPoolSize is how many patient IDs (each with its stored subject key) the handler
// allocates per tenant in one round trip when Config.KeyPoolSize is zero.
const DefaultKeyPoolSize = 16

// maxPoolTenants bounds the tenants a pool keeps IDs for; beyond it a tenant's spare IDs are dropped.
const maxPoolTenants = 1024

// keyPool hands out new patient IDs whose subject keys are already stored. A patient must never
// exist without its key (its audit references are made with it), so the key is written first; the
// pool does that for several future patients in one InsertMany, taking the key write off the
// create path most of the time. A spare ID that is never used leaves a key that names no one and
// holds no personal data.
type keyPool struct {
	keys *audit.SubjectKeys
	size int
	// maxTenants is maxPoolTenants (smaller in tests).
	maxTenants int

	mu    sync.Mutex
	spare map[string][]pooledKey
}

type pooledKey struct {
	id  string
	key audit.SubjectKey
}

// newKeyPool returns a pool allocating size IDs per round trip; 1 or less allocates one per take.
func newKeyPool(keys *audit.SubjectKeys, size int) *keyPool {
	return &keyPool{keys: keys, size: max(size, 1), maxTenants: maxPoolTenants, spare: map[string][]pooledKey{}}
}

// take returns a new patient ID of the tenant and its stored key.
func (p *keyPool) take(ctx context.Context, tenantID string) (string, audit.SubjectKey, error) {
	p.mu.Lock()
	if s := p.spare[tenantID]; len(s) > 0 {
		pk := s[len(s)-1]
		p.spare[tenantID] = s[:len(s)-1]
		p.mu.Unlock()
		return pk.id, pk.key, nil
	}
	p.mu.Unlock()

	ids := make([]string, p.size)
	for i := range ids {
		ids[i] = NewID()
	}
	keys, err := p.keys.CreateMany(ctx, tenantID, ids)
	if err != nil {
		return "", audit.SubjectKey{}, err
	}
	p.mu.Lock()
	if _, ok := p.spare[tenantID]; !ok && len(p.spare) >= p.maxTenants {
		for t := range p.spare {
			delete(p.spare, t)
			break
		}
	}
	for i := 1; i < len(ids); i++ {
		p.spare[tenantID] = append(p.spare[tenantID], pooledKey{id: ids[i], key: keys[i]})
	}
	p.mu.Unlock()
	return ids[0], keys[0], nil
}
