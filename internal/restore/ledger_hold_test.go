package restore

import (
	"context"
	"errors"
	"fmt"
	"github.com/carohealth/platform/internal/backup"
	"slices"
	"testing"
	"time"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/ledger"
)

// holdTestEvent is a valid audit event without personal data.
func holdTestEvent(i int) audit.Event {
	return audit.Event{ID: audit.NewEventID(), Time: time.Now().UTC(), Actor: "job:test", TenantID: "t1", Action: "patient:write",
		ResourceType: "patient", ResourceID: fmt.Sprintf("p%d", i), Interface: audit.InterfaceJob, RequestID: fmt.Sprintf("r%d", i),
		AfterHash: fmt.Sprintf("%064x", i+1)}
}

// appendEvents appends events from..to-1 to db's ledger, as the audit writer does.
func appendEvents(t *testing.T, db string, from, to int) error {
	t.Helper()
	store := ledger.NewMongoStore(mongoC.Database(db))
	if err := store.EnsureIndexes(context.Background()); err != nil {
		t.Fatal(err)
	}
	l := &ledger.Ledger{Store: store}
	for i := from; i < to; i++ {
		if _, _, err := l.Append(context.Background(), holdTestEvent(i)); err != nil {
			return err
		}
	}
	return nil
}

func TestRestorePlacesTheLedgerHoldBeforeTheSwitch(t *testing.T) {
	ctx := context.Background()
	// GIVEN a database with a ledger of 5 entries, backed up, then 3 more entries appended
	src := newDB("src")
	seed(t, src, 20)
	if err := appendEvents(t, src, 0, 5); err != nil {
		t.Fatal(err)
	}
	f := fixture{store: newBucket(t), kms: backup.NewAWSKMS(kmsClient), source: src}
	m, err := backup.Create(ctx, backup.CreateOptions{Source: mongoC, Database: src, Store: f.store, KMS: f.kms, KeyID: keyARN, Region: testRegion, ChunkSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	f.m = m
	if err := appendEvents(t, src, 5, 8); err != nil {
		t.Fatal(err)
	}
	// WHEN the backup is restored over it
	var hold *ledger.Hold
	rep, err := f.restore(src, func(o *testRestore) {
		o.Replace = true
		o.fail = func(step string) error {
			if step == "rename-stage:"+ledger.EntriesCollection {
				hold, _ = ledger.ReadHold(ctx, mongoC.Database(src)) // as the switch runs
			}
			return nil
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	// THEN the hold was in place before the ledger collections were switched, names the backup,
	// and is still there afterwards (the switch did not move it); the backup never copied it
	if hold == nil || hold.BackupID != m.BackupID || !rep.LedgerHeld {
		t.Fatalf("hold during the switch: %+v, report %v", hold, rep.LedgerHeld)
	}
	if h, err := ledger.ReadHold(ctx, mongoC.Database(src)); err != nil || h == nil || h.BackupID != m.BackupID {
		t.Fatalf("hold after the restore: %+v %v", h, err)
	}
	for _, c := range m.Collections {
		if c.Name == ledger.HoldCollection {
			t.Fatal("the backup copied the hold")
		}
	}
	// AND the audit writer's append is refused, writing nothing
	if err := appendEvents(t, src, 100, 101); !errors.Is(err, ledger.ErrLedgerHeld) {
		t.Fatalf("append after the restore: %v", err)
	}
	if n, _ := mongoC.Database(src).Collection(ledger.EntriesCollection).CountDocuments(ctx, map[string]any{}); n != 5 {
		t.Fatalf("%d entries", n)
	}
	// AND a second restore before the recovery keeps the first hold
	if _, err := f.restore(src, func(o *testRestore) { o.Replace = true }); err != nil {
		t.Fatal(err)
	}
	if h, _ := ledger.ReadHold(ctx, mongoC.Database(src)); h == nil || !h.Time.Equal(hold.Time) {
		t.Fatalf("hold replaced: %+v", h)
	}
}

func TestRestoreWithoutALedgerPlacesNoHold(t *testing.T) {
	// GIVEN a backup of a database without ledger collections, restored into an empty database
	f := newBackup(t, 10)
	target := newDB("dst")
	rep, err := f.restore(target)
	if err != nil {
		t.Fatal(err)
	}
	// THEN no hold is placed and appends work
	if h, _ := ledger.ReadHold(context.Background(), mongoC.Database(target)); h != nil || rep.LedgerHeld {
		t.Fatalf("hold: %+v", h)
	}
	if err := appendEvents(t, target, 0, 1); err != nil {
		t.Fatal(err)
	}
	// AND a restore replacing that database (it now holds a ledger) places one
	if rep, err := f.restore(target, func(o *testRestore) { o.Replace = true }); err != nil || !rep.LedgerHeld {
		t.Fatalf("%v %v", rep.LedgerHeld, err)
	}
}

func TestARolledBackSwitchRemovesOnlyItsOwnHold(t *testing.T) {
	ctx := context.Background()
	f := newBackup(t, 10)
	for _, crash := range []bool{false, true} {
		// GIVEN a target holding a ledger
		target := newDB("dst")
		seed(t, target, 3)
		if err := appendEvents(t, target, 0, 2); err != nil {
			t.Fatal(err)
		}
		// WHEN the switch fails at its commit and is rolled back (or the process dies there)
		boom := errors.New("injected")
		if crash {
			boom = errCrash
		}
		_, err := f.restore(target, func(o *testRestore) {
			o.Replace = true
			o.fail = func(s string) error {
				if s == "commit" {
					return boom
				}
				return nil
			}
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		h, _ := ledger.ReadHold(ctx, mongoC.Database(target))
		// THEN a rolled-back switch leaves no hold (the ledger is as it was); a crash keeps it
		// (the switch may be finished by Recover: the ledger may be rolled back)
		if crash != (h != nil) {
			t.Fatalf("crash=%v hold=%+v", crash, h)
		}
		// AND the recovery of the crash rolls it back and releases the hold it placed
		if crash {
			if rec := recoverDB(t, target, nil); rec.Action != RolledBack {
				t.Fatalf("recovery %+v", rec)
			}
			if h, _ := ledger.ReadHold(ctx, mongoC.Database(target)); h != nil {
				t.Fatalf("hold after the rollback: %+v", h)
			}
		}
	}
	// AND a hold from an earlier restore not yet recovered survives a rolled-back switch
	target := newDB("dst")
	seed(t, target, 3)
	if err := appendEvents(t, target, 0, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.PlaceHold(ctx, mongoC.Database(target), ledger.Hold{BackupID: "earlier"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.restore(target, func(o *testRestore) {
		o.Replace = true
		o.fail = func(s string) error {
			if s == "commit" {
				return errors.New("injected")
			}
			return nil
		}
	}); err == nil {
		t.Fatal("no failure")
	}
	if h, _ := ledger.ReadHold(ctx, mongoC.Database(target)); h == nil || h.BackupID != "earlier" {
		t.Fatalf("earlier hold: %+v", h)
	}
	names, _ := mongoC.Database(target).ListCollectionNames(ctx, map[string]any{})
	if !slices.Contains(names, ledger.HoldCollection) {
		t.Fatal(names)
	}
}
