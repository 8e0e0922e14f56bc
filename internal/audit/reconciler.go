package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

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
	// Paused, when set, is asked before each write of a run (publishing and marking one
	// document's events, purging one tombstone with its BeforePurge): an answer other than nil
	// stops the run there, leaving the rest pending for a later run (ReconcileResult.Paused, and
	// the answer wrapped in Run's error). The API answers with its maintenance switch.
	Paused func(ctx context.Context) error
	// WriteWindow, when positive, bounds each of those writes after Paused allowed it, so that
	// none is still running long after the answer changed.
	WriteWindow time.Duration
}

// ReconcileResult counts what one run did.
type ReconcileResult struct {
	Published int `json:"published"`
	Failed    int `json:"failed"`
	Purged    int `json:"purged"`
	// Paused is why the run stopped before writing (Reconciler.Paused's answer), "" when it did not.
	Paused string `json:"paused,omitempty"`
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
			if err := r.write(ctx, func(ctx context.Context) error { r.deliver(ctx, log, name, coll, d, &res); return nil }); err != nil {
				stopped(&res, err)
				return res, errors.Join(append(errs, err)...)
			}
		}
		n, err := r.purge(ctx, name, coll, batch)
		res.Purged += n
		if err != nil {
			errs = append(errs, err)
		}
		if stopped(&res, err) {
			return res, errors.Join(errs...)
		}
	}
	if res.Failed > 0 {
		errs = append(errs, fmt.Errorf("%d audit events could not be published; they stay pending for the next run", res.Failed))
	}
	return res, errors.Join(errs...)
}

// deliver publishes one document's pending events oldest first, marking each sent.
func (r *Reconciler) deliver(ctx context.Context, log *slog.Logger, name string, coll *mongo.Collection, d outboxDoc, res *ReconcileResult) {
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

// pauseError is Paused's answer, which stopped a run before a write.
type pauseError struct{ cause error }

func (e *pauseError) Error() string {
	return "reconciler stopped before writing; what is left stays pending for the next run: " + e.cause.Error()
}

func (e *pauseError) Unwrap() error { return e.cause }

// write runs one write of a run when Paused allows it, within WriteWindow; a *pauseError when
// Paused did not.
func (r *Reconciler) write(ctx context.Context, fn func(context.Context) error) error {
	if r.Paused != nil {
		if err := r.Paused(ctx); err != nil {
			return &pauseError{err}
		}
	}
	if r.WriteWindow > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.WriteWindow)
		defer cancel()
	}
	return fn(ctx)
}

// stopped ends a run when err holds a pause: what is left stays pending for a later run.
func stopped(res *ReconcileResult, err error) bool {
	var pe *pauseError
	if !errors.As(err, &pe) {
		return false
	}
	res.Paused = pe.cause.Error()
	return true
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
		err := r.write(ctx, func(ctx context.Context) error {
			n, err := r.purgeOne(ctx, name, coll, d)
			purged += n
			return err
		})
		if err != nil {
			errs = append(errs, err)
		}
		var pe *pauseError
		if errors.As(err, &pe) {
			break
		}
	}
	return purged, errors.Join(errs...)
}

// purgeOne deletes one drained tombstone after its BeforePurge.
func (r *Reconciler) purgeOne(ctx context.Context, name string, coll *mongo.Collection, d outboxDoc) (int, error) {
	if r.BeforePurge != nil {
		if err := r.BeforePurge(ctx, name, d.TenantID, d.ID); err != nil {
			return 0, fmt.Errorf("before purging %s tombstone: %w", name, err)
		}
	}
	// Conditional on still being a drained tombstone, so nothing pending is ever deleted.
	unlock := tenancy.WriteLock(name)
	dr, err := coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: d.ID}, {Key: "tenantId", Value: d.TenantID},
		{Key: FieldTombstone, Value: true}, drained})
	unlock()
	if err != nil {
		return 0, fmt.Errorf("purge %s tombstone: %w", name, err)
	}
	return int(dr.DeletedCount), nil
}
