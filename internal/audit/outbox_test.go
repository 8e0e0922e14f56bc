package audit_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/audit/audittest"
)

func event(tenant, resource string) audit.Event {
	ev := audit.NewEvent(time.Now())
	ev.Actor, ev.TenantID, ev.Action, ev.ResourceType, ev.ResourceID = "sub-1", tenant, "patient:write", "patient", resource
	ev.Interface, ev.RequestID, ev.AfterHash = audit.InterfaceAPI, "req-1", "00"
	return ev
}

type record struct {
	ID           string `bson:"_id"`
	TenantID     string `bson:"tenantId"`
	Name         string `bson:"name,omitempty"`
	audit.Outbox `bson:",inline"`
}

func pendingOf(t *testing.T, coll *mongo.Collection, id string) (record, bool) {
	t.Helper()
	var r record
	err := coll.FindOne(context.Background(), bson.D{{Key: "_id", Value: id}}).Decode(&r)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return r, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return r, true
}

// TestOutboxSurvivesPublishOutage: the change and its event are written together; while SNS is down
// nothing is lost; the reconciler publishes each event once it is back, and delivery is idempotent.
func TestOutboxSurvivesPublishOutage(t *testing.T) {
	ctx := context.Background()
	sns := audittest.NewSNSFake(t)
	coll := testDB.Collection("records_outage")

	create := event("t1", "r1")
	ob, err := audit.NewOutbox(create)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := coll.InsertOne(ctx, record{ID: "r1", TenantID: "t1", Name: "n", Outbox: ob}); err != nil {
		t.Fatal(err)
	}
	update := event("t1", "r1")
	upd, err := audit.WithEvent(bson.D{{Key: "$set", Value: bson.D{{Key: "name", Value: "m"}}}}, update)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: "r1"}, {Key: "tenantId", Value: "t1"}}, upd); err != nil {
		t.Fatal(err)
	}
	r, _ := pendingOf(t, coll, "r1")
	if r.Name != "m" || r.Pending != 2 || len(r.Events) != 2 {
		t.Fatalf("change and events not stored together: %+v", r)
	}

	sns.SetFailing(true)
	rec := &audit.Reconciler{DB: testDB, Publisher: sns.Publisher(), Collections: []string{"records_outage"}}
	res, err := rec.Run(ctx)
	if err == nil || res.Failed != 2 || res.Published != 0 {
		t.Fatalf("outage run: %+v %v", res, err)
	}
	if r, _ := pendingOf(t, coll, "r1"); r.Pending != 2 {
		t.Fatalf("events dropped during outage: %+v", r)
	}

	sns.SetFailing(false)
	res, err = rec.Run(ctx)
	if err != nil || res.Published != 2 {
		t.Fatalf("recovery run: %+v %v", res, err)
	}
	got := sns.Events()
	if len(got) != 2 || got[0].ID != create.ID || got[1].ID != update.ID {
		t.Fatalf("published %+v", got)
	}
	if !got[0].Time.Equal(create.Time) {
		t.Fatalf("time changed through the outbox: %v vs %v", got[0].Time, create.Time)
	}
	if r, _ := pendingOf(t, coll, "r1"); r.Pending != 0 || len(r.Events) != 0 {
		t.Fatalf("outbox not drained: %+v", r)
	}
	var raw bson.M
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "r1"}}).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	if _, has := raw[audit.FieldOutbox]; has {
		t.Fatalf("a drained outbox stays in the document: %v", raw)
	}
	if _, has := raw[audit.FieldPending]; has {
		t.Fatalf("a drained outbox leaves its count in the document: %v", raw)
	}
	// Nothing pending: a second run publishes nothing; marking twice is harmless.
	if res, err := rec.Run(ctx); err != nil || res.Published != 0 {
		t.Fatalf("idle run: %+v %v", res, err)
	}
	if err := audit.MarkSent(ctx, coll, "t1", "r1", create.ID); err != nil {
		t.Fatal(err)
	}
	if r, _ := pendingOf(t, coll, "r1"); r.Pending != 0 {
		t.Fatalf("double mark decremented again: %d", r.Pending)
	}
	attrs := sns.Attributes()[0]
	if attrs["action"] != "patient:write" || attrs["tenantId"] != "t1" || attrs["eventId"] != create.ID {
		t.Fatalf("attributes %v", attrs)
	}
}

// TestOutboxStoresEventsAsTheirMessage: an outbox keeps each event as the JSON message the publisher
// sends (one string per event, compact in the document), whether it came with the insert or with an
// update.
func TestOutboxStoresEventsAsTheirMessage(t *testing.T) {
	ctx := context.Background()
	coll := testDB.Collection("records_stored_form")
	create, update := event("t1", "s1"), event("t1", "s1")
	ob, err := audit.NewOutbox(create)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := coll.InsertOne(ctx, record{ID: "s1", TenantID: "t1", Outbox: ob}); err != nil {
		t.Fatal(err)
	}
	upd, err := audit.WithEvent(bson.D{{Key: "$set", Value: bson.D{{Key: "name", Value: "m"}}}}, update)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: "s1"}, {Key: "tenantId", Value: "t1"}}, upd); err != nil {
		t.Fatal(err)
	}
	var raw bson.Raw
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "s1"}}).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	for _, ev := range []audit.Event{create, update} {
		stored, ok := raw.Lookup(audit.FieldOutbox, ev.ID).StringValueOK()
		want, _ := json.Marshal(ev)
		if !ok || stored != string(want) {
			t.Fatalf("event %s stored as %v, want its JSON message %s", ev.ID, raw.Lookup(audit.FieldOutbox, ev.ID), want)
		}
	}
	if got := audittest.PendingEvents(t, testDB, "records_stored_form"); len(got) != 2 {
		t.Fatalf("pending %+v", got)
	}
}

// TestOutboxReadsEventsStoredAsDocuments: an event left pending by an earlier version, stored as an
// embedded document, is still published and drained after an upgrade, and an outbox holding both
// forms counts and drains correctly.
func TestOutboxReadsEventsStoredAsDocuments(t *testing.T) {
	ctx := context.Background()
	sns := audittest.NewSNSFake(t)
	coll := testDB.Collection("records_old_form")
	old := event("t1", "o1")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "o1"}, {Key: "tenantId", Value: "t1"},
		{Key: audit.FieldOutbox, Value: bson.D{{Key: old.ID, Value: old}}}, {Key: audit.FieldPending, Value: 1}}); err != nil {
		t.Fatal(err)
	}
	newer := event("t1", "o1")
	upd, err := audit.WithEvent(bson.D{{Key: "$set", Value: bson.D{{Key: "name", Value: "m"}}}}, newer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: "o1"}, {Key: "tenantId", Value: "t1"}}, upd); err != nil {
		t.Fatal(err)
	}
	rec := &audit.Reconciler{DB: testDB, Publisher: sns.Publisher(), Collections: []string{"records_old_form"}}
	if res, err := rec.Run(ctx); err != nil || res.Published != 2 {
		t.Fatalf("run: %+v %v", res, err)
	}
	got := sns.Events()
	if len(got) != 2 || got[0] != old || got[1] != newer {
		t.Fatalf("published %+v, want %+v then %+v", got, old, newer)
	}
	if r, _ := pendingOf(t, coll, "o1"); r.Pending != 0 || len(r.Events) != 0 {
		t.Fatalf("outbox not drained: %+v", r)
	}
}

// TestOutboxRefusesAMalformedEvent: a stored event that is neither the JSON message nor a document is
// an error naming the problem, not an empty event.
func TestOutboxRefusesAMalformedEvent(t *testing.T) {
	for name, v := range map[string]any{"number": 42, "not JSON": "{id"} {
		doc, _ := bson.Marshal(bson.D{{Key: audit.FieldOutbox, Value: bson.D{{Key: "e1", Value: v}}}})
		var ob audit.Outbox
		if err := bson.Unmarshal(doc, &ob); err == nil || !strings.Contains(err.Error(), "outbox event") {
			t.Fatalf("%s: decoded %+v, err %v", name, ob, err)
		}
	}
}

// TestTombstonePurgedOnlyAfterPublish: a deleted document keeps its pending delete event until the
// event is published; only then is it purged.
func TestTombstonePurgedOnlyAfterPublish(t *testing.T) {
	ctx := context.Background()
	sns := audittest.NewSNSFake(t)
	coll := testDB.Collection("records_tomb")
	if _, err := coll.InsertOne(ctx, record{ID: "d1", TenantID: "t1", Name: "x"}); err != nil {
		t.Fatal(err)
	}
	del := event("t1", "d1")
	del.AfterHash, del.BeforeHash = "", "11"
	upd, err := audit.WithEvent(bson.D{
		{Key: "$set", Value: bson.D{{Key: audit.FieldTombstone, Value: true}}},
		{Key: "$unset", Value: bson.D{{Key: "name", Value: ""}}},
	}, del)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: "d1"}, {Key: "tenantId", Value: "t1"}}, upd); err != nil {
		t.Fatal(err)
	}
	var hooked []string
	rec := &audit.Reconciler{DB: testDB, Publisher: sns.Publisher(), Collections: []string{"records_tomb"},
		BeforePurge: func(_ context.Context, c, tenant string, id any) error {
			hooked = append(hooked, c+"/"+tenant+"/"+id.(string))
			return nil
		}}
	sns.SetFailing(true)
	if res, _ := rec.Run(ctx); res.Purged != 0 {
		t.Fatal("tombstone purged with its event unpublished")
	}
	if _, ok := pendingOf(t, coll, "d1"); !ok {
		t.Fatal("tombstone gone before publish")
	}
	sns.SetFailing(false)
	res, err := rec.Run(ctx)
	if err != nil || res.Published != 1 || res.Purged != 1 {
		t.Fatalf("run: %+v %v", res, err)
	}
	if _, ok := pendingOf(t, coll, "d1"); ok {
		t.Fatal("tombstone not purged")
	}
	if len(hooked) != 1 || hooked[0] != "records_tomb/t1/d1" {
		t.Fatalf("BeforePurge calls %v", hooked)
	}
	if evs := sns.Events(); len(evs) != 1 || evs[0].ID != del.ID {
		t.Fatalf("published %+v", evs)
	}
}

func TestBeforePurgeErrorKeepsTombstone(t *testing.T) {
	ctx := context.Background()
	sns := audittest.NewSNSFake(t)
	coll := testDB.Collection("records_hookfail")
	if _, err := coll.InsertOne(ctx, record{ID: "h1", TenantID: "t1", Outbox: audit.Outbox{Tombstone: true}}); err != nil {
		t.Fatal(err)
	}
	rec := &audit.Reconciler{DB: testDB, Publisher: sns.Publisher(), Collections: []string{"records_hookfail"},
		BeforePurge: func(context.Context, string, string, any) error { return errors.New("notes not erased yet") }}
	if _, err := rec.Run(ctx); err == nil || !strings.Contains(err.Error(), "notes not erased yet") {
		t.Fatalf("hook error not reported: %v", err)
	}
	if _, ok := pendingOf(t, coll, "h1"); !ok {
		t.Fatal("tombstone purged although BeforePurge failed")
	}
}

func TestWithEventRefusesInvalidEvent(t *testing.T) {
	if _, err := audit.WithEvent(bson.D{}, audit.Event{ID: "x"}); err == nil {
		t.Fatal("invalid event accepted into an outbox")
	}
	if _, err := audit.NewOutbox(audit.Event{}); err == nil {
		t.Fatal("invalid event accepted into a new outbox")
	}
}

func TestSNSPublisherNeedsTopic(t *testing.T) {
	p := &audit.SNSPublisher{Client: audittest.NewSNSFake(t).Client()}
	if err := p.Publish(context.Background(), event("t1", "r")); err == nil || !strings.Contains(err.Error(), "CARO_AUDIT_TOPIC_ARN") {
		t.Fatalf("publish without topic: %v", err)
	}
}
