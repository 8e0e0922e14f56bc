package erasure

import (
	"context"
	"fmt"
	"time"

	"github.com/carohealth/platform/internal/objstore"
)

// Registers reads several registers as one: a region's erasures are in its own backup bucket
// (those its API recorded) and in its replica of the peer's (those the peer recorded, replicated).
// After a failover and a failback each holds erasures the other lacks (one not replicated before an
// outage, or made by the other region while it served), so restores read both.
//
// List fails when any register cannot be read completely (a restore must not apply a partial
// union, the same rule as for one register). A subject registered in several is listed once, with
// its earliest erasure time.
type Registers []NamedSource

// NamedSource is one register with where it is, for messages (like s3://bucket).
type NamedSource struct {
	Name   string
	Source Source
}

// BucketsRegister is the register read from the stores as one (Registers), each named by its
// name in names (same order); one store gives its plain Register.
func BucketsRegister(names []string, stores ...objstore.Store) Source {
	if len(stores) == 1 {
		return NewRegister(stores[0])
	}
	u := make(Registers, len(stores))
	for i, s := range stores {
		name := fmt.Sprintf("register %d", i+1)
		if i < len(names) && names[i] != "" {
			name = names[i]
		}
		u[i] = NamedSource{Name: name, Source: NewRegister(s)}
	}
	return u
}

// List implements Source: the union of every register's erasures at or after since, ordered by
// tenant and patient, each subject once.
func (u Registers) List(ctx context.Context, since time.Time) ([]Erasure, error) {
	if len(u) == 0 {
		return nil, fmt.Errorf("erasure: no register to read")
	}
	bySubject := map[string]Erasure{}
	for _, r := range u {
		list, err := r.Source.List(ctx, since)
		if err != nil {
			return nil, fmt.Errorf("erasure register %s: %w", r.Name, err)
		}
		for _, e := range list {
			k := e.Key()
			if seen, ok := bySubject[k]; !ok || e.ErasedAt.Before(seen.ErasedAt) {
				bySubject[k] = e
			}
		}
	}
	out := make([]Erasure, 0, len(bySubject))
	for _, e := range bySubject {
		out = append(out, e)
	}
	sortBySubject(out)
	return out, nil
}

// OffboardedTenants returns the tenants src holds a tenant-level entry for: a failover that
// re-creates users from an older identity export leaves theirs out.
func OffboardedTenants(ctx context.Context, src Source) (map[string]bool, error) {
	list, err := src.List(ctx, time.Time{})
	if err != nil {
		return nil, fmt.Errorf("reading the erasure register for offboarded tenants: %w", err)
	}
	out := map[string]bool{}
	for _, e := range list {
		if e.IsTenant() {
			out[e.TenantID] = true
		}
	}
	return out, nil
}
