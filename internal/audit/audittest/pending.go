package audittest

import (
	"context"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/audit"
)

// PendingEvents returns every event pending in the outboxes of collection coll of db, and fails the
// test when a document's pending count disagrees with the events it holds.
func PendingEvents(tb testing.TB, db *mongo.Database, coll string) []audit.Event {
	tb.Helper()
	ctx := context.Background()
	cur, err := db.Collection(coll).Find(ctx, bson.D{{Key: audit.FieldPending, Value: bson.D{{Key: "$gt", Value: 0}}}})
	if err != nil {
		tb.Fatal(err)
	}
	var docs []audit.Outbox
	if err := cur.All(ctx, &docs); err != nil {
		tb.Fatal(err)
	}
	var out []audit.Event
	for _, d := range docs {
		if d.Pending != len(d.Events) {
			tb.Fatalf("%s: outboxPending %d but %d events", coll, d.Pending, len(d.Events))
		}
		for _, ev := range d.Events {
			out = append(out, ev)
		}
	}
	return out
}
