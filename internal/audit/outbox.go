package audit

import (
	"context"
	"encoding/json"
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
	// FieldOutbox holds the pending events, keyed by event ID: {"outbox": {"<id>": "<event JSON>", ...}}
	// (see OutboxEvent for the stored form).
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
	Events PendingEvents `bson:"outbox,omitempty" json:"-"`
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
	return Outbox{Events: PendingEvents{ev.ID: ev}, Pending: 1}, nil
}

// OutboxEvent is one event as an outbox stores it: its JSON message, the very body the publisher
// sends, in one BSON string, not an embedded document. The outbox makes every audited document
// bigger until its event is published, and what a document was when written is what its storage
// keeps: FerretDB (SQLite) leaves the space of a drained outbox in the table, and it converts and
// indexes every field of every insert. A string is about a third of the embedded event's stored
// size (measured by make bench-api). An event stored by an earlier version as an embedded document
// still decodes, so nothing pending is lost on upgrade.
type OutboxEvent Event

// MarshalBSONValue stores the event as its JSON message in a BSON string.
func (e OutboxEvent) MarshalBSONValue() (byte, []byte, error) {
	b, err := json.Marshal(Event(e))
	if err != nil {
		return 0, nil, fmt.Errorf("audit: encode outbox event %s: %w", e.ID, err)
	}
	t, v, err := bson.MarshalValue(string(b))
	return byte(t), v, err
}

// UnmarshalBSONValue reads an event stored as its JSON message, or as an embedded document (written
// by versions before OutboxEvent).
func (e *OutboxEvent) UnmarshalBSONValue(typ byte, data []byte) error {
	switch bson.Type(typ) {
	case bson.TypeString:
		s, ok := bson.RawValue{Type: bson.TypeString, Value: data}.StringValueOK()
		if !ok {
			return fmt.Errorf("audit: outbox event: malformed BSON string")
		}
		var ev Event
		if err := json.Unmarshal([]byte(s), &ev); err != nil {
			return fmt.Errorf("audit: outbox event: %w", err)
		}
		*e = OutboxEvent(ev)
		return nil
	case bson.TypeEmbeddedDocument:
		var ev Event
		if err := bson.Unmarshal(data, &ev); err != nil {
			return fmt.Errorf("audit: outbox event (embedded document): %w", err)
		}
		*e = OutboxEvent(ev)
		return nil
	default:
		return fmt.Errorf("audit: outbox event stored as BSON %s, want a string or a document", bson.Type(typ))
	}
}

// PendingEvents are an outbox's events by ID, each stored as an OutboxEvent.
type PendingEvents map[string]Event

// MarshalBSONValue stores the events as a document of OutboxEvent strings keyed by event ID.
func (p PendingEvents) MarshalBSONValue() (byte, []byte, error) {
	stored := make(map[string]OutboxEvent, len(p))
	for id, ev := range p {
		stored[id] = OutboxEvent(ev)
	}
	b, err := bson.Marshal(stored)
	return byte(bson.TypeEmbeddedDocument), b, err
}

// UnmarshalBSONValue reads a document of stored events keyed by event ID.
func (p *PendingEvents) UnmarshalBSONValue(typ byte, data []byte) error {
	if bson.Type(typ) != bson.TypeEmbeddedDocument {
		return fmt.Errorf("audit: outbox stored as BSON %s, want a document", bson.Type(typ))
	}
	var stored map[string]OutboxEvent
	if err := bson.Unmarshal(data, &stored); err != nil {
		return err
	}
	out := make(PendingEvents, len(stored))
	for id, ev := range stored {
		out[id] = Event(ev)
	}
	*p = out
	return nil
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
			e.Value = append(append(bson.D{}, d...), bson.E{Key: FieldOutbox + "." + ev.ID, Value: OutboxEvent(ev)})
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
		out = append(out, bson.E{Key: "$set", Value: bson.D{{Key: FieldOutbox + "." + ev.ID, Value: OutboxEvent(ev)}}})
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
