package ledgertest

import (
	"context"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/ledger"
)

// Snapshot is the state of a database's two ledger collections at one moment, as a backup holds it.
type Snapshot map[string][]bson.Raw

// TakeSnapshot reads db's ledger collections.
func TakeSnapshot(tb testing.TB, db *mongo.Database) Snapshot {
	tb.Helper()
	out := Snapshot{}
	for _, name := range []string{ledger.EntriesCollection, ledger.CheckpointsCollection} {
		cur, err := db.Collection(name).Find(context.Background(), bson.D{})
		if err != nil {
			tb.Fatal(err)
		}
		var docs []bson.Raw
		if err := cur.All(context.Background(), &docs); err != nil {
			tb.Fatal(err)
		}
		out[name] = docs
	}
	return out
}

// RestoreInto replaces db's ledger collections with the snapshot and recreates their indexes, as
// restoring the backup does (into the same database, or another region's).
func (s Snapshot) RestoreInto(tb testing.TB, db *mongo.Database) {
	tb.Helper()
	ctx := context.Background()
	for name, docs := range s {
		if err := db.Collection(name).Drop(ctx); err != nil {
			tb.Fatal(err)
		}
		if len(docs) == 0 {
			continue
		}
		many := make([]any, len(docs))
		for i := range docs {
			many[i] = docs[i]
		}
		if _, err := db.Collection(name).InsertMany(ctx, many); err != nil {
			tb.Fatal(err)
		}
	}
	if err := ledger.NewMongoStore(db).EnsureIndexes(ctx); err != nil {
		tb.Fatal(err)
	}
}
