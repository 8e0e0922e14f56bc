package ledger_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/internal/ledger/ledgertest"
)

func TestTheHoldKeepsARestoredLedgerUnforkedUntilRecoverRemovesIt(t *testing.T) {
	ctx := context.Background()
	// GIVEN 7 entries checkpointed every 5, a backup, and 8 more entries anchored up to entry 14
	env := filled(t, 7, 5)
	backup := ledgertest.TakeSnapshot(t, env.DB)
	appendRun(t, env.Store, env.Checkpointer(5), 7, 15)
	// AND a restore of the backup that placed the ledger hold before switching the collections
	if _, err := ledger.PlaceHold(ctx, env.DB, ledger.Hold{BackupID: "bk-1", Reason: "restore test"}); err != nil {
		t.Fatal(err)
	}
	backup.RestoreInto(t, env.DB)
	entries, records := countDocs(t, env.DB, ledger.EntriesCollection), countDocs(t, env.DB, ledger.CheckpointsCollection)

	// WHEN the audit writer appends an event before the recovery
	fresh := ledger.NewMongoStore(env.DB)
	_, _, err := (&ledger.Ledger{Store: fresh}).Append(ctx, ledger.TestEvent(500, "t1"))
	// THEN it is refused with the retryable ErrLedgerHeld, saying what to run, and nothing is written
	if !errors.Is(err, ledger.ErrLedgerHeld) || !strings.Contains(err.Error(), "caro audit recover") || !strings.Contains(err.Error(), "bk-1") {
		t.Fatalf("append while held: %v", err)
	}
	// AND the checkpointer cuts no checkpoint from the rolled-back state
	cpr := env.Checkpointer(1)
	cpr.Entries, cpr.Records = fresh, fresh
	if made, err := cpr.Run(ctx); !errors.Is(err, ledger.ErrLedgerHeld) || len(made) != 0 {
		t.Fatalf("checkpointer while held: %d %v", len(made), err)
	}
	if countDocs(t, env.DB, ledger.EntriesCollection) != entries || countDocs(t, env.DB, ledger.CheckpointsCollection) != records {
		t.Fatal("something was written while held")
	}

	// WHEN the ledger is recovered
	rep, err := recoverFrom(t, env, env.Bucket)
	// THEN the entries are back and the hold is removed
	if err != nil || rep.EntriesRecovered != 8 || !rep.HoldReleased {
		t.Fatalf("%+v %v", rep, err)
	}
	if h, err := ledger.ReadHold(ctx, env.DB); err != nil || h != nil {
		t.Fatalf("hold after recovery: %+v %v", h, err)
	}
	// AND a later append succeeds and the ledger verifies
	appendRun(t, fresh, cpr, 600, 602)
	if v := verifyFresh(t, env); !v.OK || v.EntriesVerified != 17 {
		t.Fatalf("after: %+v %+v", v, v.FirstBad)
	}
}

func TestAFailedRecoveryKeepsTheHold(t *testing.T) {
	ctx := context.Background()
	env := filled(t, 7, 5)
	backup := ledgertest.TakeSnapshot(t, env.DB)
	appendRun(t, env.Store, env.Checkpointer(5), 7, 15)
	// GIVEN a held, restored ledger that was nevertheless written to (the hold was released by hand)
	backup.RestoreInto(t, env.DB)
	if _, _, err := (&ledger.Ledger{Store: ledger.NewMongoStore(env.DB)}).Append(ctx, ledger.TestEvent(500, "t1")); err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.PlaceHold(ctx, env.DB, ledger.Hold{BackupID: "bk-2", Time: time.Now(), Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	// WHEN the recovery refuses THEN the hold stays
	if _, err := recoverFrom(t, env, env.Bucket); !errors.Is(err, ledger.ErrDiverged) {
		t.Fatal(err)
	}
	if h, err := ledger.ReadHold(ctx, env.DB); err != nil || h == nil || h.BackupID != "bk-2" {
		t.Fatalf("hold: %+v %v", h, err)
	}
	// AND placing a hold again keeps the first one; releasing it reports it once
	if placed, err := ledger.PlaceHold(ctx, env.DB, ledger.Hold{BackupID: "bk-3"}); placed || err != nil {
		t.Fatal(placed, err)
	}
	if h, _ := ledger.ReadHold(ctx, env.DB); h == nil || h.BackupID != "bk-2" {
		t.Fatalf("hold replaced: %+v", h)
	}
	if ok, err := ledger.ReleaseHold(ctx, env.DB); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if ok, err := ledger.ReleaseHold(ctx, env.DB); ok || err != nil {
		t.Fatal(ok, err)
	}
}

func TestRecoverAfterRestoreWithoutAKeySaysTheHoldStays(t *testing.T) {
	env := servers.NewEnv(t)
	if _, err := ledger.PlaceHold(context.Background(), env.DB, ledger.Hold{BackupID: "bk"}); err != nil {
		t.Fatal(err)
	}
	msg, ok := ledger.RecoverAfterRestore(context.Background(), ledger.AfterRestoreOptions{Store: env.Store, Problem: "no pinned key"})
	if ok || !strings.Contains(msg, "hold stays") || !strings.Contains(msg, "caro audit release-hold") {
		t.Fatalf("%v %s", ok, msg)
	}
	if h, _ := ledger.ReadHold(context.Background(), env.DB); h == nil {
		t.Fatal("hold removed")
	}
}

func TestHoldIfLedgerHoldsOnlyADatabaseWithALedger(t *testing.T) {
	ctx := context.Background()
	env := servers.NewEnv(t)
	empty := env.Client.Database(env.DB.Name() + "_empty")
	if held, err := ledger.HoldIfLedger(ctx, empty, ledger.Hold{BackupID: "snap"}); held || err != nil {
		t.Fatal(held, err)
	}
	if h, _ := ledger.ReadHold(ctx, empty); h != nil {
		t.Fatal("held an empty database")
	}
	if _, _, err := (&ledger.Ledger{Store: env.Store}).Append(ctx, ledger.TestEvent(1, "t1")); err != nil {
		t.Fatal(err)
	}
	if held, err := ledger.HoldIfLedger(ctx, env.DB, ledger.Hold{BackupID: "snap"}); !held || err != nil {
		t.Fatal(held, err)
	}
	if _, _, err := (&ledger.Ledger{Store: env.Store}).Append(ctx, ledger.TestEvent(2, "t1")); !errors.Is(err, ledger.ErrLedgerHeld) {
		t.Fatal(err)
	}
}
