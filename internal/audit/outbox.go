package audit

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/tenancy"
)

// The outbox lives inside each changed document, so the change and its audit event are written by one
// single-document update: either both are stored or neither (MongoDB's single-document atomicity; no
// multi-document transaction is needed, FerretDB has none). These are its fields.
const (
	// FieldOutbox holds the pending events, keyed by event ID: {"outbox": {"<id>": Event, ...}}.
	FieldOutbox = "outbox"
	// FieldPending counts the pending events, so the reconciler finds documents with
	// {outboxPending: {$gt: 0}} without scanning every event. A drained document has neither field.
	FieldPending = "outboxPending"
	// FieldTombstone marks a deleted document: its data fields are already removed, it is invisible
	// to readers, and it stays only until its outbox is drained; then the reconciler purges it.
	FieldTombstone = "tombstone"
)

// Outbox is the outbox part of a stored document; embed it with `bson:",inline"` in the document
// struct so an insert carries the create event.
type Outbox struct {
	// Events are the pending events by ID.
	Events map[string]Event `bson:"outbox,omitempty" json:"-"`
	// Pending is len(Events), maintained atomically with $inc; absent once the outbox is drained.
	Pending int `bson:"outboxPending,omitempty" json:"-"`
	// Tombstone marks a deleted document awaiting purge.
	Tombstone bool `bson:"tombstone,omitempty" json:"-"`
}

// NewOutbox returns an outbox holding ev, for a document being inserted. ev must be valid.
func NewOutbox(ev Event) (Outbox, error) {
	if err := ev.Validate(); err != nil {
		return Outbox{}, err
	}
	return Outbox{Events: map[string]Event{ev.ID: ev}, Pending: 1}, nil
}

// WithEvent returns update with ev added to the document's outbox ($set outbox.<id>, $inc
// outboxPending), so the caller's change and the event land in the same atomic update. update must be
// operator-style; its $set and $inc are extended, other operators are kept.
func WithEvent(update bson.D, ev Event) (bson.D, error) {
	if err := ev.Validate(); err != nil {
		return nil, err
	}
	out := make(bson.D, 0, len(update)+2)
	setDone, incDone := false, false
	for _, e := range update {
		switch e.Key {
		case "$set":
			d, ok := e.Value.(bson.D)
			if !ok {
				return nil, fmt.Errorf("audit: $set must be a bson.D")
			}
			e.Value = append(append(bson.D{}, d...), bson.E{Key: FieldOutbox + "." + ev.ID, Value: ev})
			setDone = true
		case "$inc":
			d, ok := e.Value.(bson.D)
			if !ok {
				return nil, fmt.Errorf("audit: $inc must be a bson.D")
			}
			e.Value = append(append(bson.D{}, d...), bson.E{Key: FieldPending, Value: 1})
			incDone = true
		}
		out = append(out, e)
	}
	if !setDone {
		out = append(out, bson.E{Key: "$set", Value: bson.D{{Key: FieldOutbox + "." + ev.ID, Value: ev}}})
	}
	if !incDone {
		out = append(out, bson.E{Key: "$inc", Value: bson.D{{Key: FieldPending, Value: 1}}})
	}
	return out, nil
}

// NewEvent fills the fields every event needs (ID, time to the millisecond that BSON stores). The
// caller sets the rest.
func NewEvent(now time.Time) Event {
	return Event{ID: NewEventID(), Time: now.UTC().Truncate(time.Millisecond)}
}

// MarkSent removes a published event from the outbox of the document (collection, tenant, id). It is
// conditional on the event still being there, so running it twice (two reconcilers, or the request
// and the reconciler) decrements the pending count once.
func MarkSent(ctx context.Context, coll *mongo.Collection, tenantID string, docID any, eventID string) error {
	if tenantID == "" {
		return fmt.Errorf("audit: mark sent needs a tenant")
	}
	field := FieldOutbox + "." + eventID
	defer tenancy.WriteLock(coll.Name())()
	filter := bson.D{{Key: "_id", Value: docID}, {Key: "tenantId", Value: tenantID}, {Key: field, Value: bson.D{{Key: "$exists", Value: true}}}}
	// The usual case: this is the only pending event (outboxPending counts the outbox exactly), so
	// the whole outbox and its count go and the document returns to its plain shape: every read that
	// scans the collection (FerretDB answers even a find by _id with a scan) pays for stored bytes.
	last := append(append(bson.D{}, filter...), bson.E{Key: FieldPending, Value: 1})
	res, err := coll.UpdateOne(ctx, last,
		bson.D{{Key: "$unset", Value: bson.D{{Key: FieldOutbox, Value: ""}, {Key: FieldPending, Value: ""}}}})
	if err == nil && res.MatchedCount == 0 {
		_, err = coll.UpdateOne(ctx, filter,
			bson.D{{Key: "$unset", Value: bson.D{{Key: field, Value: ""}}}, {Key: "$inc", Value: bson.D{{Key: FieldPending, Value: -1}}}})
	}
	if err != nil {
		return fmt.Errorf("mark audit event %s sent: %w", eventID, err)
	}
	return nil
}

// Deliver publishes ev and then marks it sent in its document. If publishing fails the event stays
// pending and the reconciler retries it; if marking fails after a successful publish, the event is
// published again later, and consumers drop the duplicate by its ID.
func Deliver(ctx context.Context, pub Publisher, coll *mongo.Collection, tenantID string, docID any, ev Event) error {
	if err := pub.Publish(ctx, ev); err != nil {
		return err
	}
	return MarkSent(ctx, coll, tenantID, docID, ev.ID)
}
