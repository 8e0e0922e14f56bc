package maintenance_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/carohealth/platform/internal/maintenance"
)

// TestCheckAnswersBackgroundWriters: Check is nil while the switch is off, an error wrapping ErrOn
// that names the holder and the reason while it is on, and the read's error (fail closed) when the
// switch cannot be read.
func TestCheckAnswersBackgroundWriters(t *testing.T) {
	ctx := context.Background()
	db := testDB(t)
	now := time.Now()
	g := &maintenance.Gate{DB: db, Now: func() time.Time { return now }}
	if err := g.Check(ctx); err != nil {
		t.Fatalf("switch off: %v", err)
	}
	if _, err := maintenance.On(ctx, db, "restore b9", "loading backup b9"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(maintenance.GateTTL)
	err := g.Check(ctx)
	if !errors.Is(err, maintenance.ErrOn) || !strings.Contains(err.Error(), "restore b9") || !strings.Contains(err.Error(), "loading backup b9") {
		t.Fatalf("switch on: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	now = now.Add(maintenance.GateTTL)
	if err := g.Check(cancelled); err == nil || errors.Is(err, maintenance.ErrOn) {
		t.Fatalf("unreadable switch: %v", err)
	}
	if maintenance.WriteWindow+maintenance.GateTTL != maintenance.Settle || maintenance.WriteWindow <= 0 {
		t.Fatalf("a write allowed just before the switch turned on may outlive Settle: window %s", maintenance.WriteWindow)
	}
}
