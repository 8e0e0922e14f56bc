package aws

import (
	"context"
	"strings"
	"testing"

	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/failover"
)

// TestTheRestorePlanSaysWhereTheLoadRuns: without a restore engine in the target (no state machine
// output, none configured) the plan says the backup loads in this process; with one, on the engine.
func TestTheRestorePlanSaysWhereTheLoadRuns(t *testing.T) {
	ctx := context.Background()
	w := newRestoreWorld(t)
	r := Restores{Settings: &RestoreSettings{TargetMongoURI: w.uri}}
	b := failover.BackupRef{ID: "20261123T020000Z-aaaaaaaa", Records: 1000}
	action, _, err := r.PlanRestore(ctx, map[string]string{}, b)
	if err != nil || !strings.HasPrefix(action, "cold path") || !strings.HasSuffix(action, "(in this process)") {
		t.Fatalf("without an engine: %q %v", action, err)
	}
	action, _, err = r.PlanRestore(ctx, map[string]string{OutputPrestageStateMachineArn: "arn:aws:states:eu-central-1:123456789012:stateMachine:Prestage"}, b)
	if err != nil || !strings.HasSuffix(action, "(on the restore engine in the target region)") {
		t.Fatalf("with an engine: %q %v", action, err)
	}
}

// TestAnAtlasRestoreTakesItsUsersFromTheNewestBackup: a snapshot carries no identity export, so an
// Atlas restore re-creates the users of the newest logical backup of the source.
func TestAnAtlasRestoreTakesItsUsersFromTheNewestBackup(t *testing.T) {
	ctx := context.Background()
	w := newRestoreWorld(t)
	seedPatients(t, w.db.Client().Database("atlassource"), "t1", "Ada")
	m, err := backup.Create(ctx, backup.CreateOptions{Source: w.db.Client(), Database: "atlassource", Store: w.replica, KMS: w.kms, KeyID: w.keyARN, Region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := backup.WriteIdentityExport(ctx, backup.IdentityExportOptions{Store: w.replica, KMS: w.kms, KeyID: w.keyARN, BackupID: m.BackupID, Region: "eu-west-1"},
		[]backup.IdentityRecord{{Phone: "+31600000007", TenantID: "t1", Roles: []string{"clinician"}}}); err != nil {
		t.Fatal(err)
	}
	r := Restores{Settings: &RestoreSettings{TargetMongoURI: w.uri}}
	plan := &failover.Plan{ID: "p-atlas", From: "eu-west-1", To: "eu-central-1", Restore: "atlas", Backup: failover.BackupRef{ID: "snapshot-5f1e"}}
	users, err := r.Identities(ctx, w.clients, w.outs, plan)
	if err != nil || len(users) != 1 || users[0].Phone != "+31600000007" {
		t.Fatalf("users of an Atlas restore: %+v %v", users, err)
	}
}

// TestTheTargetInventoryNeedsTheConnectionString: without the target's connection string the
// inventory says which setting to give, rather than failing obscurely.
func TestTheTargetInventoryNeedsTheConnectionString(t *testing.T) {
	_, err := Restores{Settings: &RestoreSettings{}}.TargetInventory(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no target database: set "+SettingTargetMongoURI) {
		t.Fatalf("err = %v", err)
	}
}
