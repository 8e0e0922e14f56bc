package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/api"
	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/audit/audittest"
	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/erasure"
	"github.com/carohealth/platform/internal/ledger"
)

// testOperator is the actor of the CLI's audit events in tests (no STS to ask).
const testOperator = "os-user:test-operator"

func init() {
	operatorIdentity = func(context.Context, string) string { return testOperator }
}

// withAuditTopic sets CARO_AUDIT_TOPIC_ARN and makes the CLI publish to an SNS fake.
func withAuditTopic(t *testing.T) *audittest.SNSFake {
	t.Helper()
	sns := audittest.NewSNSFake(t)
	t.Setenv(EnvAuditTopicARN, sns.TopicARN)
	prev := newAuditPublisher
	newAuditPublisher = func(context.Context, string, string) (audit.Publisher, error) { return sns.Publisher(), nil }
	t.Cleanup(func() { newAuditPublisher = prev })
	return sns
}

// pendingByAction returns the events pending in coll of db with the given action.
func pendingByAction(t *testing.T, db *mongo.Database, coll, action string) []audit.Event {
	t.Helper()
	var out []audit.Event
	for _, ev := range audittest.PendingEvents(t, db, coll) {
		if ev.Action == action {
			out = append(out, ev)
		}
	}
	return out
}

func TestGDPRReapplyAuditsEachErasureOnce(t *testing.T) {
	env := newBackupEnv(t)
	ctx := context.Background()
	store, _, err := backupClients(ctx, &backupFlags{bucket: "caro-backups", region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	db := env.client.Database("caro")
	// GIVEN a database rolled back to before two registered erasures (Ada's and Grace's)
	reg := erasure.NewRegister(store)
	tenant, ada, grace := rolledBack(t, db, reg)
	if err := reg.Record(ctx, erasure.Erasure{TenantID: tenant, PatientID: grace, ErasedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	// AND an audit topic that refuses every publish
	sns := withAuditTopic(t)
	sns.SetFailing(true)
	// WHEN the operator re-applies the register
	code, out, errOut := runCaro("gdpr", "reapply", "--mongodb-uri", env.mongoURI, "--yes", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	// THEN two subject:erase events are pending, one per patient, of this run and operator
	evs := pendingByAction(t, db, api.PatientsCollection, "subject:erase")
	if len(evs) != 2 || evs[0].RequestID != evs[1].RequestID {
		t.Fatalf("events %+v", evs)
	}
	got := map[string]bool{}
	for _, ev := range evs {
		if err := ledger.CheckNoPersonalData(ev); err != nil {
			t.Fatal(err)
		}
		if ev.Interface != audit.InterfaceCLI || ev.Actor != testOperator || ev.TenantID != tenant || ev.ResourceType != "patient" || ev.Validate() != nil {
			t.Fatalf("event %+v", ev)
		}
		got[ev.ResourceID] = true
	}
	if !got[ada] || !got[grace] {
		t.Fatalf("events for %v, want %s and %s", got, ada, grace)
	}
	var rep struct {
		AuditEvents int `json:"auditEvents"`
	}
	if json.Unmarshal([]byte(out), &rep) != nil || rep.AuditEvents != 2 {
		t.Fatalf("stdout %q", out)
	}
	// AND the failed inline publish said so and lost nothing
	if !strings.Contains(errOut, "stay pending") || !strings.Contains(errOut, "0 of 2 events published") {
		t.Fatalf("stderr %q", errOut)
	}
	// AND no event holds personal data
	j, _ := json.Marshal(evs)
	for _, pd := range []string{"Ada", "Lovelace", "Grace", "Hopper", "1990-12-10", "note"} {
		if strings.Contains(string(j), pd) {
			t.Fatalf("personal data %q in %s", pd, j)
		}
	}
	// WHEN it runs again with the topic working THEN no new event is written (both patients are
	// already erased), and nothing pending is touched by the run itself
	sns.SetFailing(false)
	code, out, errOut = runCaro("gdpr", "reapply", "--mongodb-uri", env.mongoURI, "--yes", "-o", "json")
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep.AuditEvents != 0 {
		t.Fatalf("re-run: %d %q %q", code, out, errOut)
	}
	if n := len(pendingByAction(t, db, api.PatientsCollection, "subject:erase")); n != 2 {
		t.Fatalf("%d pending after the re-run, want 2", n)
	}
	// AND the API's reconciler publishes each exactly once
	for range 2 {
		if _, err := api.NewReconciler(db, sns.Publisher()).Run(ctx); err != nil {
			t.Fatal(err)
		}
	}
	count := map[string]int{}
	for _, ev := range sns.Events() {
		count[ev.ID]++
	}
	for _, ev := range evs {
		if count[ev.ID] != 1 {
			t.Fatalf("event %s published %d times", ev.ID, count[ev.ID])
		}
	}
}

func TestBackupRestoreAuditsTheRestoreAndPublishesInline(t *testing.T) {
	env := newBackupEnv(t)
	ctx := context.Background()
	store, _, err := backupClients(ctx, &backupFlags{bucket: "caro-backups", region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	// GIVEN a backup holding Ada, whose erasure is in the register
	_, ada, _ := rolledBack(t, env.client.Database("caro"), erasure.NewRegister(store))
	code, out, errOut := runCaro("backup", "create", "--mongodb-uri", env.mongoURI, "--kms-key", env.keyARN, "-o", "json")
	if code != 0 {
		t.Fatalf("create: %d %s", code, errOut)
	}
	var m struct {
		BackupID string `json:"backupId"`
	}
	_ = json.Unmarshal([]byte(out), &m)
	// WHEN it is restored without an audit topic
	code, out, errOut = runCaro("backup", "restore", m.BackupID, "--mongodb-uri", env.mongoURI, "--database", "restored", "-o", "json")
	if code != 0 {
		t.Fatalf("restore: %d %s", code, errOut)
	}
	// THEN exactly one backup:restore event is pending in the restore log, naming the operator
	db := env.client.Database("restored")
	evs := pendingByAction(t, db, backup.LogCollection, "backup:restore")
	var rep struct {
		AuditEventID string `json:"auditEventId"`
	}
	_ = json.Unmarshal([]byte(out), &rep)
	if len(evs) != 1 || evs[0].ID != rep.AuditEventID || evs[0].ResourceID != m.BackupID || evs[0].TenantID != audit.PlatformTenant ||
		evs[0].ResourceType != "database" || evs[0].Interface != audit.InterfaceCLI || evs[0].Actor != testOperator {
		t.Fatalf("restore events %+v (report %q)", evs, out)
	}
	if err := ledger.CheckNoPersonalData(evs[0]); err != nil {
		t.Fatal(err)
	}
	// AND Ada's re-applied erasure has its event of the same run
	erase := pendingByAction(t, db, api.PatientsCollection, "subject:erase")
	if len(erase) != 1 || erase[0].ResourceID != ada || erase[0].RequestID != evs[0].RequestID {
		t.Fatalf("erase events %+v", erase)
	}
	if !strings.Contains(errOut, "2 events stored pending") {
		t.Fatalf("stderr %q", errOut)
	}
	// WHEN it is restored again with CARO_AUDIT_TOPIC_ARN set THEN its events are published inline
	sns := withAuditTopic(t)
	code, out, errOut = runCaro("backup", "restore", m.BackupID, "--mongodb-uri", env.mongoURI, "--database", "restored", "--replace", "--yes", "-o", "json")
	if code != 0 {
		t.Fatalf("second restore: %d %s", code, errOut)
	}
	_ = json.Unmarshal([]byte(out), &rep)
	published := map[string]bool{}
	for _, ev := range sns.Events() {
		published[ev.ID] = true
	}
	if len(sns.Events()) != 2 || !published[rep.AuditEventID] || !strings.Contains(errOut, "2 of 2 events published") {
		t.Fatalf("inline: %d events %v, stderr %q", len(sns.Events()), published, errOut)
	}
	// AND only the first restore's event is still pending (for the reconciler)
	if left := pendingByAction(t, db, backup.LogCollection, "backup:restore"); len(left) != 1 || left[0].ID != evs[0].ID {
		t.Fatalf("pending restore events %+v", left)
	}
}

func TestBackupAtlasRestoreAuditsTheSnapshotRestore(t *testing.T) {
	env := newBackupEnv(t)
	srv := atlasFake(t, "caro-standby")
	t.Setenv("MONGODB_ATLAS_BASE_URL", srv.URL)
	creds := filepath.Join(t.TempDir(), "atlas.json")
	if err := os.WriteFile(creds, []byte(`{"clientId":"sa-1","clientSecret":"VERY-SECRET"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"backup", "atlas-restore", "--source-project", "5f0000000000000000000001", "--source-cluster", "caro-prod",
		"--target-project", "5f0000000000000000000002", "--target-cluster", "caro-standby", "--target-region", "eu-central-1",
		"--credentials-file", creds, "--poll-interval", "1ms", "-o", "json", "--yes"}
	store, _, err := backupClients(context.Background(), &backupFlags{bucket: "caro-backups", region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	db := env.client.Database("caro")
	_, ada, _ := rolledBack(t, db, erasure.NewRegister(store))
	// WHEN the snapshot is restored with --mongodb-uri
	code, out, errOut := runCaro(append(args, "--mongodb-uri", env.mongoURI)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res struct {
		SnapshotID string `json:"snapshotId"`
	}
	_ = json.Unmarshal([]byte(out), &res)
	// THEN one backup:restore event of the snapshot is pending in the restore log, and Ada's
	// re-applied erasure has its event of the same run
	evs := pendingByAction(t, db, backup.LogCollection, "backup:restore")
	if len(evs) != 1 || evs[0].ResourceID != res.SnapshotID || evs[0].TenantID != audit.PlatformTenant || evs[0].Interface != audit.InterfaceCLI ||
		evs[0].Actor != testOperator || ledger.CheckNoPersonalData(evs[0]) != nil {
		t.Fatalf("restore events %+v (stdout %q)", evs, out)
	}
	erase := pendingByAction(t, db, api.PatientsCollection, "subject:erase")
	if len(erase) != 1 || erase[0].ResourceID != ada || erase[0].RequestID != evs[0].RequestID {
		t.Fatalf("erase events %+v", erase)
	}
	// WHEN it runs again with an audit topic THEN its restore event is stored and published inline
	// (a snapshot restore always runs through its target: the protocol needs it)
	sns := withAuditTopic(t)
	code, _, errOut = runCaro(append(args, "--mongodb-uri", env.mongoURI, "--skip-erasure-register")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if got := sns.Events(); len(got) != 1 || got[0].Action != "backup:restore" || !strings.Contains(errOut, "1 of 1 events published") {
		t.Fatalf("published %+v, stderr %q", got, errOut)
	}
}
