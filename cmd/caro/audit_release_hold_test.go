package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/ledger"
)

func TestAuditRecoverRemovesTheHoldAndReleaseHoldReleasesWithoutRecovery(t *testing.T) {
	ctx := context.Background()
	// GIVEN a ledger of 7 entries, a backup of it, then 10 more entries anchored by checkpoints
	env, _ := auditEnv(t, 7, 5)
	restore := auditLedgerCopy(t, env.DB)
	auditAppend(t, env, 7, 17)
	uri := env.Servers.FerretDB.URI()
	// AND a restore that held the ledger
	if _, err := ledger.PlaceHold(ctx, env.DB, ledger.Hold{BackupID: "bk-1", Reason: "test restore"}); err != nil {
		t.Fatal(err)
	}
	restore()
	// WHEN recovered THEN the entries are back, the hold is removed and the summary says so
	code, out, errOut := runAudit("", "recover", "--mongodb-uri", uri, "--yes")
	if code != 0 || !strings.Contains(out, "entries recovered:     8") || !strings.Contains(out, "ledger hold:           released") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if h, _ := ledger.ReadHold(ctx, env.DB); h != nil {
		t.Fatal("hold kept after the recovery")
	}
	// AND the audit writer (fresh instances) appends again and the ledger verifies
	env.Store = ledger.NewMongoStore(env.DB)
	auditAppend(t, env, 100, 102)
	if code, out, errOut := runAudit("", "verify"); code != 0 || !strings.Contains(out, "entries verified:     17") {
		t.Fatalf("verify: exit %d\n%s\n%s", code, out, errOut)
	}

	// GIVEN a held ledger again
	if _, err := ledger.PlaceHold(ctx, env.DB, ledger.Hold{BackupID: "bk-2", Reason: "old-format checkpoints"}); err != nil {
		t.Fatal(err)
	}
	// WHEN release-hold runs without --yes, --reason or --mongodb-uri THEN it refuses and the hold stays
	for _, args := range [][]string{
		{"release-hold", "--mongodb-uri", uri, "--reason", "r"},
		{"release-hold", "--mongodb-uri", uri, "--yes"},
		{"release-hold", "--reason", "r", "--yes"},
	} {
		if code, _, errOut := runAudit("", args...); code != 1 || errOut == "" {
			t.Fatalf("%v: exit %d %s", args, code, errOut)
		}
	}
	if h, _ := ledger.ReadHold(ctx, env.DB); h == nil {
		t.Fatal("hold released by a refused command")
	}
	entries := countLedger(t, env.DB.Collection(ledger.EntriesCollection))
	// WHEN released with a reason THEN the hold is gone, nothing else was written, the warning
	// says appends may fork, and -o json names the released hold
	code, out, errOut = runAudit("", "release-hold", "--mongodb-uri", uri, "--reason", "INC-1: no key", "--yes", "-o", "json")
	var got struct {
		Released ledger.Hold `json:"released"`
		Reason   string      `json:"reason"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil || got.Released.BackupID != "bk-2" || got.Reason != "INC-1: no key" ||
		!strings.Contains(errOut, "WITHOUT recovery") || !strings.Contains(errOut, "fork") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if h, _ := ledger.ReadHold(ctx, env.DB); h != nil {
		t.Fatal("hold kept")
	}
	if countLedger(t, env.DB.Collection(ledger.EntriesCollection)) != entries {
		t.Fatal("release-hold wrote entries")
	}
	if _, _, err := (&ledger.Ledger{Store: ledger.NewMongoStore(env.DB)}).Append(ctx, auditTestEvent(200)); errors.Is(err, ledger.ErrLedgerHeld) || err != nil {
		t.Fatalf("append after release: %v", err)
	}
	// AND a second release finds nothing to release
	if code, _, errOut := runAudit("", "release-hold", "--mongodb-uri", uri, "--reason", "again", "--yes"); code != 0 || !strings.Contains(errOut, "not held") {
		t.Fatalf("again: exit %d %s", code, errOut)
	}
}

func countLedger(t *testing.T, c interface {
	CountDocuments(context.Context, any, ...options.Lister[options.CountOptions]) (int64, error)
}) int64 {
	t.Helper()
	n, err := c.CountDocuments(context.Background(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
