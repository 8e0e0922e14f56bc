package maintenance_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/localstack"
	"github.com/carohealth/platform/internal/maintenance"
)

var client *mongo.Client

func TestMain(m *testing.M) {
	os.Exit(localstack.RunWithFerretDB(m, func(_ string, c *mongo.Client) error { client = c; return nil }))
}

// testDB is a database of the test's own on the shared server.
func testDB(t *testing.T) *mongo.Database {
	t.Helper()
	return client.Database(fmt.Sprintf("maint_%d", time.Now().UnixNano()))
}

func TestOnIsOwnedAndIdempotent(t *testing.T) {
	ctx := context.Background()
	db := testDB(t)
	// GIVEN the switch turned on by a restore
	first, err := maintenance.On(ctx, db, "restore b1", "loading backup b1")
	if err != nil {
		t.Fatal(err)
	}
	// WHEN the same owner turns it on again (a resumed restore)
	again, err := maintenance.On(ctx, db, "restore b1", "loading backup b1 (resumed)")
	// THEN it keeps the original switch
	if err != nil || !again.Since.Equal(first.Since) || again.Reason != first.Reason {
		t.Fatalf("On again = %+v, %v; want the first switch %+v", again, err, first)
	}
	// WHEN another operation asks for it THEN it is refused, naming the holder
	_, err = maintenance.On(ctx, db, "tenant-delete acme", "offboarding")
	if !errors.Is(err, maintenance.ErrHeldByOther) {
		t.Fatalf("On by another owner: err = %v, want ErrHeldByOther", err)
	}
	if _, err := maintenance.Off(ctx, db, "tenant-delete acme", false); !errors.Is(err, maintenance.ErrHeldByOther) {
		t.Fatalf("Off by another owner: err = %v, want ErrHeldByOther", err)
	}
	if s, _ := maintenance.Get(ctx, db); s == nil || s.Owner != "restore b1" {
		t.Fatalf("switch after refused Off = %+v, want held by restore b1", s)
	}
	// WHEN its owner turns it off THEN it is off, and turning it off again is not an error
	if removed, err := maintenance.Off(ctx, db, "restore b1", false); err != nil || !removed {
		t.Fatalf("Off = %v, %v", removed, err)
	}
	if s, err := maintenance.Get(ctx, db); s != nil || err != nil {
		t.Fatalf("Get after Off = %+v, %v", s, err)
	}
	if removed, err := maintenance.Off(ctx, db, "restore b1", false); err != nil || removed {
		t.Fatalf("second Off = %v, %v", removed, err)
	}
}

func TestForceOffRemovesAnyHolder(t *testing.T) {
	ctx := context.Background()
	db := testDB(t)
	if _, err := maintenance.On(ctx, db, "restore crashed", "x"); err != nil {
		t.Fatal(err)
	}
	if removed, err := maintenance.Off(ctx, db, "", true); err != nil || !removed {
		t.Fatalf("forced Off = %v, %v", removed, err)
	}
}

func TestGateCachesForTTL(t *testing.T) {
	ctx := context.Background()
	db := testDB(t)
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	g := &maintenance.Gate{DB: db, Now: func() time.Time { return now }}
	if s, err := g.Current(ctx); s != nil || err != nil {
		t.Fatalf("Current before On = %+v, %v", s, err)
	}
	if _, err := maintenance.On(ctx, db, "restore b2", "x"); err != nil {
		t.Fatal(err)
	}
	// Within the TTL the cached "off" is still answered ...
	now = now.Add(maintenance.GateTTL - time.Millisecond)
	if s, _ := g.Current(ctx); s != nil {
		t.Fatalf("Current within TTL = %+v, want the cached off", s)
	}
	// ... and after it the switch is seen.
	now = now.Add(time.Millisecond)
	if s, err := g.Current(ctx); err != nil || s == nil || s.Owner != "restore b2" {
		t.Fatalf("Current after TTL = %+v, %v", s, err)
	}
	if maintenance.Settle < maintenance.GateTTL {
		t.Fatalf("Settle %v is shorter than GateTTL %v", maintenance.Settle, maintenance.GateTTL)
	}
}

func TestTransferHandsTheSwitchOverWithoutTurningItOff(t *testing.T) {
	ctx := context.Background()
	db := testDB(t)
	// GIVEN a switch held by a standby's pre-stage
	first, err := maintenance.On(ctx, db, "standby", "staged copy")
	if err != nil {
		t.Fatal(err)
	}
	// WHEN a failover takes it over
	got, err := maintenance.Transfer(ctx, db, "standby", "restore r1", "activating")
	// THEN it is held by the failover, with its original time (never off in between)
	if err != nil || got.Owner != "restore r1" || !got.Since.Equal(first.Since) {
		t.Fatalf("Transfer = %+v, %v", got, err)
	}
	// AND only the holder can hand it over
	if _, err := maintenance.Transfer(ctx, db, "standby", "someone", "x"); !errors.Is(err, maintenance.ErrHeldByOther) {
		t.Fatalf("Transfer by a non-holder: %v", err)
	}
	if _, err := maintenance.Off(ctx, db, "restore r1", false); err != nil {
		t.Fatal(err)
	}
	if _, err := maintenance.Transfer(ctx, db, "restore r1", "someone", "x"); !errors.Is(err, maintenance.ErrHeldByOther) {
		t.Fatalf("Transfer of a switch that is off: %v", err)
	}
}
