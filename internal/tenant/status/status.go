// Package status records which tenants are being or have been offboarded, so the API refuses
// every request of such a tenant (the same answer as for an unknown tenant) and nothing is written
// back while `caro tenant delete` removes the tenant's data, or after.
//
// The record is one small document per tenant in the database itself (Collection), like the
// maintenance switch: every API instance in every region sees it without another service. Its
// collection has the prefix backups reserve ("_caro_"): no backup copies it and no restore replaces
// it, so a restore of an older backup never un-offboards a tenant. A restore into a database that
// never had the record (a failover to a fresh cluster) gets it from the erasure register: the
// register's tenant-level entry is re-applied by every restore (internal/erasure), and that writes
// the record here.
//
// The API reads it through a Gate, which caches the whole (small) set of offboarded tenants for at
// most GateTTL; a caller that marks a tenant waits Settle before it relies on no more writes of
// that tenant arriving.
package status

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Collection holds one document per offboarded (or offboarding) tenant, _id the tenant ID.
const Collection = "_caro_tenant_status"

// GateTTL is how long a Gate trusts what it read; Settle is how long after Mark a caller waits
// before relying on every API instance refusing the tenant: one GateTTL for the caches, plus the
// longest a request that passed the gate just before may still take (the handler's database
// timeout). The same values as the maintenance switch's, for the same reasons.
const (
	GateTTL = 2 * time.Second
	Settle  = GateTTL + 10*time.Second
)

// State is where a tenant's offboarding stands.
type State string

const (
	// Offboarding: `caro tenant delete` is removing the tenant's data; the API refuses it already.
	Offboarding State = "offboarding"
	// Offboarded: the tenant's data is gone; the API refuses it for good.
	Offboarded State = "offboarded"
)

// Record is a tenant's status document. It holds IDs and times only.
type Record struct {
	// TenantID is the tenant (the document's _id).
	TenantID string `bson:"_id" json:"tenantId"`
	// State is Offboarding or Offboarded.
	State State `bson:"state" json:"state"`
	// Since is when the offboarding started (the first Mark).
	Since time.Time `bson:"since" json:"since"`
	// Updated is when the state last changed.
	Updated time.Time `bson:"updated" json:"updated"`
	// RequestID is the offboarding run's request ID (its audit event's), or the restore's that
	// re-applied the register's tenant entry.
	RequestID string `bson:"requestId,omitempty" json:"requestId,omitempty"`
}

// Mark records that tenantID is in state. Offboarding never replaces Offboarded (a rerun of an
// offboarding that finished stays refused as finished until it finishes again); Since keeps the
// first mark's time. Idempotent.
func Mark(ctx context.Context, db *mongo.Database, tenantID string, state State, requestID string, now time.Time) (Record, error) {
	if tenantID == "" {
		return Record{}, errors.New("tenant status: a tenant ID is required")
	}
	if state != Offboarding && state != Offboarded {
		return Record{}, fmt.Errorf("tenant status: unknown state %q", state)
	}
	now = now.UTC().Truncate(time.Millisecond)
	coll := db.Collection(Collection)
	filter := bson.D{{Key: "_id", Value: tenantID}}
	if state == Offboarding {
		filter = append(filter, bson.E{Key: "state", Value: bson.D{{Key: "$ne", Value: Offboarded}}})
	}
	set := bson.D{{Key: "state", Value: state}, {Key: "updated", Value: now}}
	if requestID != "" {
		set = append(set, bson.E{Key: "requestId", Value: requestID})
	}
	_, err := coll.UpdateOne(ctx, filter,
		bson.D{{Key: "$set", Value: set}, {Key: "$setOnInsert", Value: bson.D{{Key: "since", Value: now}}}},
		options.UpdateOne().SetUpsert(true))
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		// A duplicate key is an Offboarding mark of an Offboarded tenant: the upsert found no match
		// and tried to insert. The record stays Offboarded.
		return Record{}, fmt.Errorf("recording tenant %s as %s in %s.%s: %w", tenantID, state, db.Name(), Collection, err)
	}
	r, err := Get(ctx, db, tenantID)
	if err != nil {
		return Record{}, err
	}
	if r == nil {
		return Record{}, fmt.Errorf("recording tenant %s as %s in %s.%s: the record is not there after the write", tenantID, state, db.Name(), Collection)
	}
	return *r, nil
}

// Get returns the tenant's record, nil when the tenant was never offboarded.
func Get(ctx context.Context, db *mongo.Database, tenantID string) (*Record, error) {
	var r Record
	err := db.Collection(Collection).FindOne(ctx, bson.D{{Key: "_id", Value: tenantID}}).Decode(&r)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the status of tenant %s in %s.%s: %w", tenantID, db.Name(), Collection, err)
	}
	return &r, nil
}

// List returns every record, by tenant ID.
func List(ctx context.Context, db *mongo.Database) ([]Record, error) {
	cur, err := db.Collection(Collection).Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("listing tenant statuses in %s.%s: %w", db.Name(), Collection, err)
	}
	var out []Record
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("listing tenant statuses in %s.%s: %w", db.Name(), Collection, err)
	}
	return out, nil
}

// Gate is the API's cached view of the offboarded tenants: at most one read per GateTTL per
// process (the tenant IDs only). It is safe for concurrent use.
type Gate struct {
	DB  *mongo.Database
	Now func() time.Time // default time.Now

	mu      sync.Mutex
	refused map[string]bool
	readAt  time.Time
	lastErr error
}

// Refused reports whether the API must refuse every request of tenantID (being or having been
// offboarded). A read that fails is returned as an error: the API then refuses the request (it
// cannot tell), as it does when the maintenance switch cannot be read.
func (g *Gate) Refused(ctx context.Context, tenantID string) (bool, error) {
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if t := now(); g.readAt.IsZero() || t.Sub(g.readAt) >= GateTTL || g.lastErr != nil {
		g.refused, g.lastErr = g.read(ctx)
		g.readAt = now()
	}
	if g.lastErr != nil {
		return true, g.lastErr
	}
	return g.refused[tenantID], nil
}

func (g *Gate) read(ctx context.Context) (map[string]bool, error) {
	cur, err := g.DB.Collection(Collection).Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("reading the offboarded tenants: %w", err)
	}
	var ids []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &ids); err != nil {
		return nil, fmt.Errorf("reading the offboarded tenants: %w", err)
	}
	out := make(map[string]bool, len(ids))
	for _, d := range ids {
		out[d.ID] = true
	}
	return out, nil
}
