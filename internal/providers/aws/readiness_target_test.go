package aws

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/carohealth/platform/internal/failover"
	"github.com/carohealth/platform/internal/restore"
)

// listingRestorer is a restorer that lists what the target database holds.
type listingRestorer struct {
	*memRestorer
	inv restore.Inventory
}

func (l listingRestorer) TargetInventory(context.Context) (restore.Inventory, error) {
	return l.inv, nil
}

// TestReadinessListsWhatTheTargetDatabaseHolds: readiness (and the plan) list what the restore will
// replace in the target database, say loudly that it is replaced, and keep the listing in the plan
// so apply can refuse if it changes.
func TestReadinessListsWhatTheTargetDatabaseHolds(t *testing.T) {
	w := newAWSWorld(t)
	w.prov.MaxBackupAge = 26 * time.Hour
	w.prov.Restorer = listingRestorer{memRestorer: w.restorer, inv: restore.Inventory{Database: "caro", Collections: map[string]int64{"patients": 3}}}
	r := failover.Readiness(context.Background(), w.prov, failover.Request{From: "eu-west-1", To: "eu-central-1", Primary: "eu-west-1"}, time.Now())
	ok, warn := checkNamed(r, CheckTargetDB, failover.CheckOK), checkNamed(r, CheckTargetDB, failover.CheckWarning)
	if ok == nil || !strings.Contains(ok.Detail, "target database caro holds") || warn == nil || !strings.Contains(warn.Detail, "the restore replaces what eu-central-1's database caro holds") {
		t.Fatalf("target database checks: %+v", r.Checks)
	}
	// AND an empty target database is listed without the warning
	w.prov.Restorer = listingRestorer{memRestorer: w.restorer, inv: restore.Inventory{Database: "caro", Collections: map[string]int64{}}}
	r = failover.Readiness(context.Background(), w.prov, failover.Request{From: "eu-west-1", To: "eu-central-1", Primary: "eu-west-1"}, time.Now())
	if checkNamed(r, CheckTargetDB, failover.CheckOK) == nil || checkNamed(r, CheckTargetDB, failover.CheckWarning) != nil {
		t.Fatalf("empty target database: %+v", r.Checks)
	}
}

// TestReadinessOfABackupRestoreChecksTheAtlasSnapshotToo: with Atlas restores configured, a
// failover from a logical backup also reports the snapshot copy, the second way back.
func TestReadinessOfABackupRestoreChecksTheAtlasSnapshotToo(t *testing.T) {
	w := newAWSWorld(t)
	w.prov.MaxBackupAge = 26 * time.Hour
	w.prov.AtlasCatalog = &memCatalog{b: failover.BackupRef{ID: "snapshot-5f1e", TakenAt: time.Now().Add(-time.Hour)}}
	r := failover.Readiness(context.Background(), w.prov, failover.Request{From: "eu-west-1", To: "eu-central-1", Primary: "eu-west-1", Restore: "backup"}, time.Now())
	if c := checkNamed(r, CheckAtlasSnapshot, failover.CheckOK); c == nil || !strings.Contains(c.Detail, "Atlas snapshot snapshot-5f1e copied to eu-central-1") {
		t.Fatalf("no Atlas snapshot check: %+v", r.Checks)
	}
}
