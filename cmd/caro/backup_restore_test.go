package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/carohealth/platform/internal/erasure"
)

// TestBackupRestoreReappliesErasures: `caro backup restore` applies the erasure register before
// the switch, reports it on stderr and in -o json, refuses when the register cannot be read, and
// restores without it only with --skip-erasure-register and a loud warning.
func TestBackupRestoreReappliesErasures(t *testing.T) {
	env := newBackupEnv(t)
	ctx := context.Background()
	store, _, err := backupClients(ctx, &backupFlags{bucket: "caro-backups", region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	// GIVEN a backup holding Ada, whose erasure is in the register
	_, _, _ = rolledBack(t, env.client.Database("caro"), erasure.NewRegister(store))
	code, out, errOut := runCaro("backup", "create", "--mongodb-uri", env.mongoURI, "--kms-key", env.keyARN, "-o", "json")
	if code != 0 {
		t.Fatalf("create: %d %s", code, errOut)
	}
	var m struct {
		BackupID string `json:"backupId"`
	}
	_ = json.Unmarshal([]byte(out), &m)

	// WHEN it is restored THEN Ada is erased in the restored database, and the output says so
	code, out, errOut = runCaro("backup", "restore", m.BackupID, "--mongodb-uri", env.mongoURI, "--database", "restored", "-o", "json")
	if code != 0 {
		t.Fatalf("restore: %d %s", code, errOut)
	}
	var rep struct {
		Erasures struct {
			Applied  int   `json:"applied"`
			Patients int   `json:"patientsErased"`
			Notes    int64 `json:"notesErased"`
		} `json:"erasures"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Erasures.Applied != 1 || rep.Erasures.Patients != 1 || rep.Erasures.Notes != 1 {
		t.Fatalf("stdout %q: %v", out, err)
	}
	if !strings.Contains(errOut, "erasures: 1 registered erasures re-applied (1 patients, 1 notes erased again)") {
		t.Fatalf("stderr %q", errOut)
	}
	restored := documentsJSON(t, env.client.Database("restored"))
	if strings.Contains(restored, `"Lovelace"`) || strings.Contains(restored, `"Ada's note"`) || !strings.Contains(restored, `"Hopper"`) {
		t.Fatalf("restored %s", restored)
	}

	// WHEN the register cannot be read (a damaged object) THEN the restore refuses, target untouched
	bad := `{"format":"caro-erasure/v1"`
	if err := store.Put(ctx, erasure.Key("tx", "cccccccccccccccccccccccccccccccc"), strings.NewReader(bad), int64(len(bad))); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runCaro("backup", "restore", m.BackupID, "--mongodb-uri", env.mongoURI, "--database", "other")
	if code == 0 || !strings.Contains(errOut, "erasure register cannot be read") || !strings.Contains(errOut, "--skip-erasure-register") {
		t.Fatalf("unreadable register: %d %q", code, errOut)
	}
	if names, _ := env.client.Database("other").ListCollectionNames(ctx, map[string]any{}); len(names) != 0 {
		t.Fatalf("target written: %v", names)
	}
	// AND with --skip-erasure-register it restores and warns loudly
	code, _, errOut = runCaro("backup", "restore", m.BackupID, "--mongodb-uri", env.mongoURI, "--database", "other", "--skip-erasure-register")
	if code != 0 || !strings.Contains(errOut, "WARNING: erasures were NOT re-applied") {
		t.Fatalf("skip: %d %q", code, errOut)
	}
}
