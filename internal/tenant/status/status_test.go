package status_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/localstack"
	"github.com/carohealth/platform/internal/tenant/status"
)

var client *mongo.Client

func TestMain(m *testing.M) {
	os.Exit(localstack.RunWithFerretDB(m, func(_ string, c *mongo.Client) error { client = c; return nil }))
}

func testDB(t *testing.T) *mongo.Database {
	t.Helper()
	db := client.Database(fmt.Sprintf("tstatus_%d", time.Now().UnixNano()))
	t.Cleanup(func() { _ = db.Drop(context.Background()) })
	return db
}

func TestMarkKeepsTheFirstTimeAndNeverUndoesOffboarded(t *testing.T) {
	ctx := context.Background()
	db := testDB(t)
	t0 := time.Date(2027, 3, 1, 10, 0, 0, 0, time.UTC)
	// GIVEN a tenant marked offboarding
	first, err := status.Mark(ctx, db, "acme", status.Offboarding, "run1", t0)
	if err != nil || first.State != status.Offboarding || !first.Since.Equal(t0) {
		t.Fatalf("first mark %+v, %v", first, err)
	}
	// WHEN the offboarding finishes, and then a rerun marks it offboarding again
	done, err := status.Mark(ctx, db, "acme", status.Offboarded, "run1", t0.Add(time.Hour))
	if err != nil || done.State != status.Offboarded || !done.Since.Equal(t0) {
		t.Fatalf("offboarded mark %+v, %v", done, err)
	}
	again, err := status.Mark(ctx, db, "acme", status.Offboarding, "run2", t0.Add(2*time.Hour))
	// THEN it stays offboarded since the first mark
	if err != nil || again.State != status.Offboarded || !again.Since.Equal(t0) || again.RequestID != "run1" {
		t.Fatalf("second offboarding mark %+v, %v: an offboarded tenant must stay offboarded", again, err)
	}
	// AND an unknown tenant has no record
	if r, err := status.Get(ctx, db, "other"); err != nil || r != nil {
		t.Fatalf("other tenant %+v, %v", r, err)
	}
	list, err := status.List(ctx, db)
	if err != nil || len(list) != 1 || list[0].TenantID != "acme" {
		t.Fatalf("list %+v, %v", list, err)
	}
}

func TestMarkRefusesBadInput(t *testing.T) {
	db := testDB(t)
	if _, err := status.Mark(context.Background(), db, "", status.Offboarding, "", time.Now()); err == nil {
		t.Fatal("empty tenant accepted")
	}
	if _, err := status.Mark(context.Background(), db, "acme", status.State("gone"), "", time.Now()); err == nil {
		t.Fatal("unknown state accepted")
	}
}

func TestGateCachesForTheTTLThenSeesTheMark(t *testing.T) {
	ctx := context.Background()
	db := testDB(t)
	now := time.Date(2027, 3, 1, 10, 0, 0, 0, time.UTC)
	g := &status.Gate{DB: db, Now: func() time.Time { return now }}
	// GIVEN a gate that read no offboarded tenant
	if refused, err := g.Refused(ctx, "acme"); err != nil || refused {
		t.Fatalf("before: %v %v", refused, err)
	}
	// WHEN the tenant is marked within the TTL
	if _, err := status.Mark(ctx, db, "acme", status.Offboarding, "r", now); err != nil {
		t.Fatal(err)
	}
	// THEN the cached answer stands until the TTL has passed, then the tenant is refused
	now = now.Add(status.GateTTL - time.Millisecond)
	if refused, _ := g.Refused(ctx, "acme"); refused {
		t.Fatal("the gate read again within its TTL")
	}
	now = now.Add(time.Millisecond)
	if refused, err := g.Refused(ctx, "acme"); err != nil || !refused {
		t.Fatalf("after the TTL: %v %v", refused, err)
	}
	// AND other tenants are not refused
	if refused, _ := g.Refused(ctx, "other"); refused {
		t.Fatal("another tenant refused")
	}
	// AND Settle covers at least one TTL
	if status.Settle <= status.GateTTL {
		t.Fatalf("Settle %s must exceed GateTTL %s", status.Settle, status.GateTTL)
	}
}

func TestGateRefusesWhenItCannotRead(t *testing.T) {
	// GIVEN a database that cannot be reached
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	g := &status.Gate{DB: testDB(t)}
	// WHEN the gate is asked THEN it refuses, saying why
	refused, err := g.Refused(ctx, "acme")
	if !refused || err == nil {
		t.Fatalf("unreadable status: refused %v, err %v; want refused with an error", refused, err)
	}
}
