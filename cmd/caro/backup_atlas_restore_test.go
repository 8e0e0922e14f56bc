package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carohealth/platform/internal/erasure"
)

// atlasFake answers the Admin API calls of one successful snapshot restore into targetCluster
// (service-account auth), checking the versioned Accept header and the restore job's body.
func atlasFake(t *testing.T, targetCluster string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/oauth/token" {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"access_token":"tok","token_type":"Bearer","expires_in":3600}`))
			return
		}
		if r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("Accept") != "application/vnd.atlas.2023-01-01+json" {
			t.Errorf("bad request headers on %s", r.URL.Path)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.atlas.2023-01-01+json")
		p := r.URL.Path
		switch {
		case strings.HasSuffix(p, "/backup/snapshots"):
			w.Write([]byte(`{"results":[{"id":"snap1","status":"completed","createdAt":"2026-11-23T01:00:00Z","copyRegions":["EU_CENTRAL_1"]}],"totalCount":1}`))
		case strings.HasSuffix(p, "/encryptionAtRest"):
			w.Write([]byte(`{"awsKms":{"enabled":false}}`))
		case r.Method == http.MethodGet && strings.HasSuffix(p, "/backup/restoreJobs"):
			w.Write([]byte(`{"results":[],"totalCount":0}`))
		case r.Method == http.MethodPost && strings.HasSuffix(p, "/backup/restoreJobs"):
			var body map[string]any
			json.NewDecoder(r.Body).Decode(&body)
			if body["snapshotId"] != "snap1" || body["targetClusterName"] != targetCluster || body["deliveryType"] != "automated" {
				t.Errorf("restore job body %v", body)
			}
			w.Write([]byte(`{"id":"job1","deliveryType":"automated"}`))
		case strings.HasSuffix(p, "/backup/restoreJobs/job1"):
			w.Write([]byte(`{"id":"job1","deliveryType":"automated","finishedAt":"2026-11-23T06:00:00Z"}`))
		default:
			t.Errorf("unexpected %s %s", r.Method, p)
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestBackupAtlasRestore(t *testing.T) {
	env := newBackupEnv(t)
	srv := atlasFake(t, "caro-standby")
	t.Setenv("MONGODB_ATLAS_BASE_URL", srv.URL)
	creds := filepath.Join(t.TempDir(), "atlas.json")
	os.WriteFile(creds, []byte(`{"clientId":"sa-1","clientSecret":"VERY-SECRET"}`), 0o600)
	args := []string{"backup", "atlas-restore", "--source-project", "5f0000000000000000000001", "--source-cluster", "caro-prod",
		"--target-project", "5f0000000000000000000002", "--target-cluster", "caro-standby", "--target-region", "eu-central-1",
		"--credentials-file", creds, "--poll-interval", "1ms", "-o", "json"}

	// WHEN run without --yes (and no terminal to ask on) THEN it refuses, naming --yes
	if code, _, errOut := runCaro(append(args, "--mongodb-uri", env.mongoURI)...); code == 0 || !strings.Contains(errOut, "--yes") {
		t.Fatalf("without --yes: %d %q", code, errOut)
	}
	// WHEN run with --yes but no target THEN it refuses before any job: the protocol runs through it
	if code, _, errOut := runCaro(append(args, "--yes")...); code == 0 || !strings.Contains(errOut, "--mongodb-uri") || !strings.Contains(errOut, "holds the audit ledger") {
		t.Fatalf("without --mongodb-uri: %d %q", code, errOut)
	}
	// WHEN run with --yes --skip-erasure-register THEN the job result is on stdout, progress and a
	// loud warning on stderr, and no secret anywhere
	code, out, errOut := runCaro(append(args, "--yes", "--skip-erasure-register", "--mongodb-uri", env.mongoURI)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res struct {
		SnapshotID             string `json:"snapshotId"`
		RestoreJobID           string `json:"restoreJobId"`
		ErasureRegisterSkipped bool   `json:"erasureRegisterSkipped"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.SnapshotID != "snap1" || res.RestoreJobID != "job1" || !res.ErasureRegisterSkipped {
		t.Fatalf("stdout %q: %v", out, err)
	}
	if !strings.Contains(errOut, "finished") || !strings.Contains(errOut, "WARNING: erasures were NOT re-applied") ||
		strings.Contains(out+errOut, "VERY-SECRET") || strings.Contains(out+errOut, "tok\"") {
		t.Fatalf("stderr %q", errOut)
	}
}

// TestBackupAtlasRestoreReappliesErasures: with --mongodb-uri, the register is read before the
// job and applied to the restored database after it.
func TestBackupAtlasRestoreReappliesErasures(t *testing.T) {
	env := newBackupEnv(t)
	srv := atlasFake(t, "caro-standby")
	t.Setenv("MONGODB_ATLAS_BASE_URL", srv.URL)
	creds := filepath.Join(t.TempDir(), "atlas.json")
	os.WriteFile(creds, []byte(`{"clientId":"sa-1","clientSecret":"VERY-SECRET"}`), 0o600)
	args := []string{"backup", "atlas-restore", "--source-project", "5f0000000000000000000001", "--source-cluster", "caro-prod",
		"--target-project", "5f0000000000000000000002", "--target-cluster", "caro-standby", "--target-region", "eu-central-1",
		"--credentials-file", creds, "--poll-interval", "1ms", "-o", "json", "--yes", "--mongodb-uri", env.mongoURI}
	store, _, err := backupClients(context.Background(), &backupFlags{bucket: "caro-backups", region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	// GIVEN the "restored" standby database still holds Ada, whose erasure is registered
	db := env.client.Database("caro")
	_, _, _ = rolledBack(t, db, erasure.NewRegister(store))
	// WHEN the register cannot be read THEN no job starts
	if code, _, errOut := runCaro(append(args, "--bucket", "no-such-bucket")...); code == 0 || !strings.Contains(errOut, "no snapshot restore was started") || strings.Contains(errOut, "finished") {
		t.Fatalf("unreadable register: %d %q", code, errOut)
	}
	// WHEN it can THEN the job runs and Ada is erased again afterwards
	code, out, errOut := runCaro(args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res struct {
		Erasures struct {
			Applied  int `json:"applied"`
			Patients int `json:"patientsErased"`
		} `json:"erasures"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Erasures.Applied != 1 || res.Erasures.Patients != 1 {
		t.Fatalf("stdout %q: %v", out, err)
	}
	if strings.Contains(documentsJSON(t, db), `"Lovelace"`) {
		t.Fatal("Ada's personal data left after the atlas restore")
	}
}
