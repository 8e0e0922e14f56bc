package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/tenancy"
)

// Reconciler publishes the audit events still pending in outboxes and purges drained tombstones. Run
// it on a schedule (every minute) and after each request that could not publish inline. It is the one
// job that reads across tenants: it sees only outbox fields (a projection), and every write it makes
// is filtered by the document's own tenant and ID.
type Reconciler struct {
	// DB holds the collections.
	DB *mongo.Database
	// Publisher sends the events.
	Publisher Publisher
	// Collections are the outbox-carrying collections to scan, for example patients and notes.
	Collections []string
	// BatchSize bounds the documents handled per collection per run (default 500).
	BatchSize int
	// BeforePurge, when set, runs for each drained tombstone before it is deleted (for example to
	// erase data that hangs off it); an error keeps the tombstone for the next run.
	BeforePurge func(ctx context.Context, collection, tenantID string, docID any) error
	// Logger receives one line per failure (IDs only, no personal data); default slog.Default().
	Logger *slog.Logger
}

// ReconcileResult counts what one run did.
type ReconcileResult struct {
	Published int `json:"published"`
	Failed    int `json:"failed"`
	Purged    int `json:"purged"`
}

type outboxDoc struct {
	ID       any           `bson:"_id"`
	TenantID string        `bson:"tenantId"`
	Events   PendingEvents `bson:"outbox"`
}

// PendingIndexName names PendingIndex (a restore finds the outbox collections it replaces by it).
const PendingIndexName = "outbox_pending"

// PendingIndex is the index the reconciler's scan uses. It is the documented exception to "indexes
// start with the tenant": the scan is across tenants by design and reads only outbox fields.
func PendingIndex() mongo.IndexModel {
	return mongo.IndexModel{Keys: bson.D{{Key: FieldPending, Value: 1}}, Options: options.Index().SetName(PendingIndexName)}
}

// Run publishes pending events oldest first and marks each sent, then purges tombstones with an empty
// outbox. A failed event stays pending for the next run; the error reports how many failed.
func (r *Reconciler) Run(ctx context.Context) (ReconcileResult, error) {
	var res ReconcileResult
	log := r.Logger
	if log == nil {
		log = slog.Default()
	}
	batch := int64(r.BatchSize)
	if batch <= 0 {
		batch = 500
	}
	var errs []error
	for _, name := range r.Collections {
		coll := r.DB.Collection(name)
		cur, err := coll.Find(ctx, bson.D{{Key: FieldPending, Value: bson.D{{Key: "$gt", Value: 0}}}},
			options.Find().SetLimit(batch).SetProjection(bson.D{{Key: "tenantId", Value: 1}, {Key: FieldOutbox, Value: 1}}))
		if err != nil {
			errs = append(errs, fmt.Errorf("scan %s outboxes: %w", name, err))
			continue
		}
		var docs []outboxDoc
		if err := cur.All(ctx, &docs); err != nil {
			errs = append(errs, fmt.Errorf("read %s outboxes: %w", name, err))
			continue
		}
		for _, d := range docs {
			if ctx.Err() != nil {
				// Out of time (the Lambda's deadline): what is left stays pending for the next run.
				return res, errors.Join(append(errs, fmt.Errorf("reconciler stopped early: %w", ctx.Err()))...)
			}
			events := make([]Event, 0, len(d.Events))
			for _, ev := range d.Events {
				events = append(events, ev)
			}
			sort.Slice(events, func(i, j int) bool { return events[i].Time.Before(events[j].Time) })
			for _, ev := range events {
				if err := Deliver(ctx, r.Publisher, coll, d.TenantID, d.ID, ev); err != nil {
					res.Failed++
					log.Error("audit event still pending", "collection", name, "eventId", ev.ID, "error", err)
					continue
				}
				res.Published++
			}
		}
		n, err := r.purge(ctx, name, coll, batch)
		res.Purged += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	if res.Failed > 0 {
		errs = append(errs, fmt.Errorf("%d audit events could not be published; they stay pending for the next run", res.Failed))
	}
	return res, errors.Join(errs...)
}

// drained matches a document with nothing pending: no count (drained by MarkSent) or a zero count
// (written before MarkSent removed the count with the outbox).
var drained = bson.E{Key: FieldPending, Value: bson.D{{Key: "$not", Value: bson.D{{Key: "$gt", Value: 0}}}}}

func (r *Reconciler) purge(ctx context.Context, name string, coll *mongo.Collection, batch int64) (int, error) {
	cur, err := coll.Find(ctx, bson.D{{Key: FieldTombstone, Value: true}, drained},
		options.Find().SetLimit(batch).SetProjection(bson.D{{Key: "tenantId", Value: 1}}))
	if err != nil {
		return 0, fmt.Errorf("scan %s tombstones: %w", name, err)
	}
	var docs []outboxDoc
	if err := cur.All(ctx, &docs); err != nil {
		return 0, fmt.Errorf("read %s tombstones: %w", name, err)
	}
	purged := 0
	var errs []error
	for _, d := range docs {
		if d.TenantID == "" {
			continue
		}
		if r.BeforePurge != nil {
			if err := r.BeforePurge(ctx, name, d.TenantID, d.ID); err != nil {
				errs = append(errs, fmt.Errorf("before purging %s tombstone: %w", name, err))
				continue
			}
		}
		// Conditional on still being a drained tombstone, so nothing pending is ever deleted.
		unlock := tenancy.WriteLock(name)
		dr, err := coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: d.ID}, {Key: "tenantId", Value: d.TenantID},
			{Key: FieldTombstone, Value: true}, drained})
		unlock()
		if err != nil {
			errs = append(errs, fmt.Errorf("purge %s tombstone: %w", name, err))
			continue
		}
		purged += int(dr.DeletedCount)
	}
	return purged, errors.Join(errs...)
}
