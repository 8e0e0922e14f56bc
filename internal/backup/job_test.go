package backup

import (
	"context"
	"errors"
	"github.com/carohealth/platform/internal/lambdasecrets"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRunJobBackupThenVerify(t *testing.T) {
	// GIVEN a source database whose URI is in a secret read through the extension
	src := newDB("job")
	seed(t, src, 30)
	ext := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("secretId") != "arn:secret:mongo" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(`{"SecretString":"` + ferret.URI() + `"}`))
	}))
	defer ext.Close()
	saved := lambdasecrets.Endpoint
	lambdasecrets.Endpoint = ext.URL
	defer func() { lambdasecrets.Endpoint = saved }()
	env := map[string]string{EnvRegion: testRegion, EnvBucket: "b", EnvKeyID: keyARN, EnvMongoURISecretARN: "arn:secret:mongo", EnvDatabase: src}
	cfg, err := JobConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	deps := JobDeps{Store: newBucket(t), KMS: NewAWSKMS(kmsClient)}
	// WHEN the scheduled backup runs, then the weekly verify
	res, err := RunJob(context.Background(), cfg, deps, JobEvent{Mode: "backup"})
	if err != nil || res.Manifest.Documents != 45 {
		t.Fatalf("backup job = %+v, %v", res, err)
	}
	v, err := RunJob(context.Background(), cfg, deps, JobEvent{Mode: "verify"})
	// THEN the newest backup verifies
	if err != nil || v.BackupID != res.BackupID || !v.Verify.OK {
		t.Fatalf("verify job = %+v, %v", v, err)
	}
	// AND a damaged backup makes the verify job fail (so the alarm fires)
	m, err := readManifest(context.Background(), deps.Store, res.BackupID)
	if err != nil {
		t.Fatal(err)
	}
	key := m.ObjectKeys("notes")[0]
	b := objectBytes(t, deps.Store, key)
	b[len(b)-1] ^= 1
	putObject(t, deps.Store, key, b)
	if _, err := RunJob(context.Background(), cfg, deps, JobEvent{Mode: "verify"}); !errors.Is(err, ErrTampered) {
		t.Fatalf("verify of damaged backup: %v", err)
	}
}

func TestJobConfigNamesMissing(t *testing.T) {
	_, err := JobConfigFromEnv(func(string) string { return "" })
	for _, want := range []string{EnvBucket, EnvKeyID, EnvRegion, EnvMongoURISecretARN} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
	if _, err := RunJob(context.Background(), JobConfig{MongoURI: "mongodb://x"}, JobDeps{}, JobEvent{Mode: "nope"}); err == nil || !strings.Contains(err.Error(), "unknown mode") {
		t.Errorf("unknown mode: %v", err)
	}
}
