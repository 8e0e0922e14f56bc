package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/carohealth/platform/internal/ledger"
)

func TestRecoverRestoredLedgerRecoversBeforeTheEventsOrSaysTheHoldStays(t *testing.T) {
	ctx := context.Background()
	// GIVEN a ledger of 7 entries, a backup of it, 10 more entries, and a restore that held it
	env, _ := auditEnv(t, 7, 5)
	restore := auditLedgerCopy(t, env.DB)
	auditAppend(t, env, 7, 17)
	uri := env.Servers.FerretDB.URI()
	if _, err := ledger.PlaceHold(ctx, env.DB, ledger.Hold{BackupID: "bk-1"}); err != nil {
		t.Fatal(err)
	}
	restore()
	// WHEN no ledger configuration is set THEN nothing is recovered and the warning says the hold stays
	t.Setenv("CARO_LEDGER_BUCKET", "")
	var w bytes.Buffer
	if _, ok := recoverRestoredLedger(ctx, &w, uri, env.DB.Name(), mustLoadSettings(t)); ok || !strings.Contains(w.String(), "HELD and NOT recovered") || !strings.Contains(w.String(), "caro audit recover") {
		t.Fatalf("unconfigured: %s", w.String())
	}
	if h, _ := ledger.ReadHold(ctx, env.DB); h == nil {
		t.Fatal("hold released")
	}
	// WHEN configured (the audit environment, with a replica bucket that does not exist) THEN it
	// recovers from the own bucket, says it skipped the replica, and releases the hold
	t.Setenv("CARO_LEDGER_BUCKET", env.BucketName)
	t.Setenv("CARO_LEDGER_REPLICA_BUCKET", "caro-ledger-replica-nowhere")
	w.Reset()
	if _, ok := recoverRestoredLedger(ctx, &w, uri, env.DB.Name(), mustLoadSettings(t)); !ok || !strings.Contains(w.String(), "8 entries and 2 checkpoint records recovered") ||
		!strings.Contains(w.String(), "WARNING: checkpoint bucket s3://caro-ledger-replica-nowhere") {
		t.Fatalf("configured: %s", w.String())
	}
	if h, _ := ledger.ReadHold(ctx, env.DB); h != nil {
		t.Fatal("hold kept")
	}
}
