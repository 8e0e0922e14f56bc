package audit_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/audit/audittest"
)

// TestReconcilerStopsWhenPausedMidRun: Paused is asked before every write, so a pause that begins
// during a run (the maintenance switch turned on after the first document) stops it at the next
// document: nothing more is published, marked or purged, BeforePurge does not run, the result and
// the error say why, and everything left stays pending for a later run.
func TestReconcilerStopsWhenPausedMidRun(t *testing.T) {
	ctx := context.Background()
	sns := audittest.NewSNSFake(t)
	coll := testDB.Collection("records_pause")
	for i := 1; i <= 3; i++ {
		ob, err := audit.NewOutbox(event("t1", fmt.Sprint("r", i)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := coll.InsertOne(ctx, record{ID: fmt.Sprint("r", i), TenantID: "t1", Outbox: ob}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := coll.InsertOne(ctx, record{ID: "tomb", TenantID: "t1", Outbox: audit.Outbox{Tombstone: true}}); err != nil {
		t.Fatal(err)
	}
	switchOn := errors.New("the maintenance switch is on: restore r-1")
	asked := 0
	hooked := 0
	rec := &audit.Reconciler{DB: testDB, Publisher: sns.Publisher(), Collections: []string{"records_pause"},
		Paused: func(context.Context) error {
			asked++
			if asked > 1 {
				return switchOn
			}
			return nil
		},
		BeforePurge: func(context.Context, string, string, any) error { hooked++; return nil }}
	res, err := rec.Run(ctx)
	if !errors.Is(err, switchOn) || res.Paused != switchOn.Error() || res.Published != 1 || res.Purged != 0 || asked != 2 {
		t.Fatalf("run paused after one document: %+v, %v (asked %d)", res, err, asked)
	}
	if n := len(sns.Events()); n != 1 {
		t.Fatalf("published %d events, want the first document's one", n)
	}
	if n, _ := coll.CountDocuments(ctx, bson.D{{Key: audit.FieldPending, Value: bson.D{{Key: "$gt", Value: 0}}}}); n != 2 {
		t.Fatalf("%d documents still pending, want 2", n)
	}
	// Paused from the start: the purge of a drained tombstone waits too.
	rec.Paused = func(context.Context) error { return switchOn }
	if _, err := coll.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$ne", Value: "tomb"}}}}); err != nil {
		t.Fatal(err)
	}
	res, err = rec.Run(ctx)
	if !errors.Is(err, switchOn) || res.Purged != 0 || hooked != 0 {
		t.Fatalf("purge while paused: %+v, %v, BeforePurge ran %d times", res, err, hooked)
	}
	if _, ok := pendingOf(t, coll, "tomb"); !ok {
		t.Fatal("tombstone purged while paused")
	}
	// Not paused: the next run does the rest.
	rec.Paused = func(context.Context) error { return nil }
	if res, err := rec.Run(ctx); err != nil || res.Purged != 1 || res.Paused != "" || hooked != 1 {
		t.Fatalf("run after the pause: %+v, %v", res, err)
	}
}

// blockingPublisher never answers before its context ends.
type blockingPublisher struct {
	mu       sync.Mutex
	deadline bool
}

func (p *blockingPublisher) Publish(ctx context.Context, _ audit.Event) error {
	_, has := ctx.Deadline()
	p.mu.Lock()
	p.deadline = has
	p.mu.Unlock()
	<-ctx.Done()
	return ctx.Err()
}

// TestReconcilerWriteWindowBoundsEachWrite: a write allowed by Paused runs within WriteWindow, so a
// slow publish cannot carry a mark or purge long past the answer; what did not finish stays pending.
func TestReconcilerWriteWindowBoundsEachWrite(t *testing.T) {
	ctx := context.Background()
	coll := testDB.Collection("records_window")
	ob, err := audit.NewOutbox(event("t1", "w1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := coll.InsertOne(ctx, record{ID: "w1", TenantID: "t1", Outbox: ob}); err != nil {
		t.Fatal(err)
	}
	pub := &blockingPublisher{}
	rec := &audit.Reconciler{DB: testDB, Publisher: pub, Collections: []string{"records_window"},
		Paused: func(context.Context) error { return nil }, WriteWindow: 50 * time.Millisecond}
	start := time.Now()
	res, err := rec.Run(ctx)
	if err == nil || res.Failed != 1 || !pub.deadline || time.Since(start) > 5*time.Second {
		t.Fatalf("a write outlived its window: %+v, %v after %s", res, err, time.Since(start))
	}
	if r, _ := pendingOf(t, coll, "w1"); r.Pending != 1 {
		t.Fatalf("the event left the outbox: %+v", r)
	}
}
