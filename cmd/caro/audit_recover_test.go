package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/internal/ledger/ledgertest"
)

// auditLedgerCopy keeps the ledger collections of db, as a backup does; restore puts them back.
func auditLedgerCopy(t *testing.T, db *mongo.Database) (restore func()) {
	t.Helper()
	snap := ledgertest.TakeSnapshot(t, db)
	return func() { snap.RestoreInto(t, db) }
}

func auditAppend(t *testing.T, env *ledgertest.Env, from, to int) {
	t.Helper()
	ctx := context.Background()
	l, cpr := &ledger.Ledger{Store: env.Store}, env.Checkpointer(5)
	for i := from; i < to; i++ {
		if _, _, err := l.Append(ctx, auditTestEvent(i)); err != nil {
			t.Fatal(err)
		}
		if _, err := cpr.Run(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func auditTestEvent(i int) audit.Event {
	return audit.Event{ID: audit.NewEventID(), Time: time.Now().UTC(), Actor: "sub-1", TenantID: "tenant-a", Action: "patient:write",
		ResourceType: "patient", ResourceID: fmt.Sprintf("p%d", i), Interface: audit.InterfaceAPI, RequestID: fmt.Sprintf("r%d", i),
		AfterHash: fmt.Sprintf("%064x", i+1)}
}

func TestAuditRecover(t *testing.T) {
	// GIVEN a ledger of 7 entries (checkpoint 0 anchors 5) and a backup of it, then 10 more entries
	// (checkpoints 1..2 anchor up to entry 14)
	env, _ := auditEnv(t, 7, 5)
	restore := auditLedgerCopy(t, env.DB)
	auditAppend(t, env, 7, 17)
	uri := env.Servers.FerretDB.URI()
	// WHEN the database is restored from the backup THEN verify fails on the missing entries
	restore()
	if code, out, _ := runAudit("", "verify"); code != exitAuditFailed || !strings.Contains(out, "caro audit recover") {
		t.Fatalf("before: exit %d\n%s", code, out)
	}
	// WHEN recovered without --yes THEN it refuses
	if code, _, errOut := runAudit("", "recover", "--mongodb-uri", uri); code != 1 || !strings.Contains(errOut, "--yes") {
		t.Fatalf("without --yes: exit %d %s", code, errOut)
	}
	// WHEN recovered THEN entries 7..14 are back, the summary says so, progress went to stderr
	code, out, errOut := runAudit("", "recover", "--mongodb-uri", uri, "--yes")
	if code != 0 || !strings.Contains(out, "entries recovered:     8") || !strings.Contains(out, "checkpoint records:    2 restored") ||
		!strings.Contains(out, "last checkpoint:       2 (entries up to 14") || !strings.Contains(out, "within 5m0s") || !strings.Contains(errOut, "inserting 8 missing entries (7..14)") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	// AND verify passes
	if code, out, errOut := runAudit("", "verify"); code != 0 || !strings.Contains(out, "entries verified:     15") {
		t.Fatalf("after: exit %d\n%s\n%s", code, out, errOut)
	}
	// AND a second run recovers nothing (-o json)
	code, out, _ = runAudit("", "recover", "--mongodb-uri", uri, "--yes", "-o", "json")
	var rep ledger.RecoveryReport
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep.EntriesRecovered != 0 || rep.StoredEntries != 15 || *rep.LastAnchoredSeq != 14 {
		t.Fatalf("again: exit %d %s", code, out)
	}
	// WHEN restored again and an entry appended before the recovery THEN it refuses with exit 2
	restore()
	if _, _, err := (&ledger.Ledger{Store: ledger.NewMongoStore(env.DB)}).Append(context.Background(), auditTestEvent(99)); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runAudit("", "recover", "--mongodb-uri", uri, "--yes"); code != exitAuditFailed || !strings.Contains(errOut, "nothing was written") {
		t.Fatalf("diverged: exit %d %s", code, errOut)
	}
}

func TestAuditRecoverValidates(t *testing.T) {
	withCloud(t, cloudFake{})
	t.Setenv("CARO_LEDGER_BUCKET", "b")
	t.Setenv("CARO_REGION", "eu-west-1")
	t.Setenv("CARO_LEDGER_SIGNING_KEY_ARN", "arn:aws:kms:eu-west-1:123456789012:key/x")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"recover", "--yes"}, "--mongodb-uri"},
		{[]string{"recover", "--mongodb-uri", "mongodb://127.0.0.1:1/", "--bucket", "", "--yes"}, "--bucket"},
		{[]string{"recover", "--mongodb-uri", "mongodb://127.0.0.1:1/", "--yes", "--max-age", "0s"}, "--max-age"},
		{[]string{"recover", "--mongodb-uri", "mongodb://127.0.0.1:1/", "--yes", "-o", "yaml"}, "--output"},
	} {
		code, _, errOut := runAudit("", tc.args...)
		if code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, errOut, tc.want)
		}
	}
}

func TestAuditRecoverFromBothBucketsAfterAFailover(t *testing.T) {
	// GIVEN region B continued region A's ledger after a failover, and an empty database (a
	// restore that holds no ledger yet)
	servers, f := auditFailoverEnv(t)
	empty := servers.NewEnv(t)
	dir := t.TempDir()
	pemA, pemB := dir+"/a.pem", dir+"/b.pem"
	writeFile(t, pemA, f.A.PublicKeyPEM())
	writeFile(t, pemB, f.B.PublicKeyPEM())
	args := []string{"recover", "--mongodb-uri", servers.FerretDB.URI(), "--database", empty.DB.Name(), "--yes", "-o", "json",
		"--bucket", f.B.BucketName, "--bucket", f.Replica.Name, "--public-key", f.A.Signer.Key + "=" + pemA, "--public-key", f.B.Signer.Key + "=" + pemB}
	// WHEN recovered from both buckets with both keys pinned
	code, out, errOut := runAudit("", args...)
	var rep ledger.RecoveryReport
	// THEN the 35 anchored entries and the 7 checkpoint records are back
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep.EntriesRecovered != 35 || rep.CheckpointRecordsRestored != 7 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	// AND the recovered ledger verifies over both buckets
	if code, out, errOut := runAudit("", "verify", "--database", empty.DB.Name(), "--bucket", f.B.BucketName, "--bucket", f.Replica.Name,
		"--public-key", f.A.Signer.Key+"="+pemA, "--public-key", f.B.Signer.Key+"="+pemB); code != 0 || !strings.Contains(out, "entries verified:     35") {
		t.Fatalf("verify: exit %d\n%s\n%s", code, out, errOut)
	}
}
