package ledger_test

import (
	"context"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/carohealth/platform/internal/ledger"
)

func TestPublishedCheckpointsCarryTheirEntries(t *testing.T) {
	ctx := context.Background()
	// GIVEN 12 entries checkpointed every 5 into the Object Lock bucket
	env := filled(t, 12, 5)
	// THEN each checkpoint object carries the entries it anchors, exactly as stored, and they check
	// against its signed leaf hashes
	var prev ledger.Hash
	for n := uint64(0); n < 2; n++ {
		c, err := env.Bucket.GetCheckpoint(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Entries) != 5 || c.CheckEntries(prev) != nil {
			t.Fatalf("checkpoint %d: %d entries, %v", n, len(c.Entries), c.CheckEntries(prev))
		}
		for _, e := range c.Entries {
			stored, ok, err := env.Store.EntryAt(ctx, e.Seq)
			if err != nil || !ok || stored.Hash != e.Hash || stored.Event != e.Event {
				t.Fatalf("entry %d differs from the stored one: %+v %+v", e.Seq, stored, e)
			}
		}
		// AND a carried entry that was altered is refused by CheckEntries
		bad := *c
		bad.Entries = append([]ledger.Entry(nil), c.Entries...)
		bad.Entries[2].Event.Action = "patient:read"
		if bad.CheckEntries(prev) == nil {
			t.Fatal("altered carried entry accepted")
		}
		prev = c.LeafHashes[len(c.LeafHashes)-1]
	}
	// AND the listing the verifier reads leaves them out (memory stays one checkpoint's worth),
	// while CheckpointEntries reads them for one checkpoint
	listed, err := env.Bucket.ListCheckpoints(ctx)
	if err != nil || len(listed) != 2 || listed[1].Checkpoint.Entries != nil {
		t.Fatalf("listing: %v", err)
	}
	if es, err := env.Bucket.CheckpointEntries(ctx, 1); err != nil || len(es) != 5 || es[0].Seq != 5 {
		t.Fatalf("CheckpointEntries: %d %v", len(es), err)
	}
	// AND the database's checkpoint records do not duplicate the entries
	var doc bson.M
	if err := env.DB.Collection(ledger.CheckpointsCollection).FindOne(ctx, bson.D{}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if s, _ := doc["json"].(string); strings.Contains(s, `"entries"`) || s == "" {
		t.Fatalf("record carries entries: %.200s", s)
	}
}

func TestCheckpointRepublishedAfterACrashCarriesItsEntries(t *testing.T) {
	// GIVEN a writer that recorded checkpoint 0 (the record has no entries) and crashed before
	// publishing it
	ctx := context.Background()
	env := servers.NewEnv(t)
	cp := recordUnpublishedCheckpoint(t, env, 4)
	// WHEN the next run publishes it
	if _, err := env.Checkpointer(100).Run(ctx); err != nil {
		t.Fatal(err)
	}
	// THEN the object carries the 4 entries, read back from the entries collection
	got, err := env.Bucket.GetCheckpoint(ctx, 0)
	if err != nil || len(got.Entries) != 4 || got.CheckEntries(ledger.Hash{}) != nil || got.Digest() != cp.Digest() {
		t.Fatalf("%+v %v", got, err)
	}
}
