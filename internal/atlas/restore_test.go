package atlas

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	srcGroup = "5f0000000000000000000001"
	dstGroup = "5f0000000000000000000002"
)

func snapshot(id, created, status string, copies ...string) map[string]any {
	return map[string]any{"id": id, "createdAt": created, "status": status, "copyRegions": copies, "snapshotType": "scheduled"}
}

func newTestRestorer(t *testing.T, f *fakeAtlas, creds Credentials) *Restorer {
	t.Helper()
	c, err := NewClient(context.Background(), creds, f.srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := NewRestorer(c)
	r.Sleep = func(ctx context.Context, d time.Duration) error { return ctx.Err() }
	return r
}

func opts(progress *[]string) SnapshotRestoreOptions {
	return SnapshotRestoreOptions{SourceProjectID: srcGroup, SourceCluster: "caro-prod", TargetProjectID: dstGroup, TargetCluster: "caro-standby",
		TargetRegion: "eu-central-1", Progress: func(s string) { *progress = append(*progress, s) }}
}

func oauthCreds(f *fakeAtlas) Credentials {
	return Credentials{ClientID: f.clientID, ClientSecret: f.clientSecret}
}

func TestRestorePicksNewestCopyAndFinishes(t *testing.T) {
	// GIVEN snapshots: the newest has no copy in the standby region, one is still running
	f := newFakeAtlas(t, "oauth")
	f.snapshots[srcGroup+"/caro-prod"] = []map[string]any{
		snapshot("s-old", "2026-11-20T02:00:00Z", "completed", "EU_CENTRAL_1"),
		snapshot("s-good", "2026-11-22T02:00:00Z", "completed", "EU_CENTRAL_1"),
		snapshot("s-nocopy", "2026-11-23T02:00:00Z", "completed"),
		snapshot("s-running", "2026-11-23T04:00:00Z", "inProgress", "EU_CENTRAL_1"),
	}
	f.ear[srcGroup] = map[string]any{"awsKms": map[string]any{"enabled": true, "region": "EU_WEST_1", "valid": true, "customerMasterKeyID": "k1"}}
	f.ear[dstGroup] = map[string]any{"awsKms": map[string]any{"enabled": true, "region": "EU_WEST_1", "valid": true, "customerMasterKeyID": "k2"}}
	var progress []string
	// WHEN the restore runs with service-account credentials
	res, err := newTestRestorer(t, f, oauthCreds(f)).Restore(context.Background(), opts(&progress))
	// THEN the newest completed snapshot with a copy is restored into the standby cluster
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if res.SnapshotID != "s-good" || res.RestoreJobID != "job-1" || res.Polls != 2 || res.FinishedAt.IsZero() {
		t.Fatalf("result = %+v", res)
	}
	job := f.createdJobs[0]
	if job["deliveryType"] != "automated" || job["snapshotId"] != "s-good" || job["targetGroupId"] != dstGroup || job["targetClusterName"] != "caro-standby" {
		t.Errorf("restore job body = %v", job)
	}
	wantReq := []string{
		"GET /api/atlas/v2/groups/" + srcGroup + "/clusters/caro-prod/backup/snapshots",
		"GET /api/atlas/v2/groups/" + srcGroup + "/encryptionAtRest",
		"GET /api/atlas/v2/groups/" + dstGroup + "/encryptionAtRest",
		"GET /api/atlas/v2/groups/" + srcGroup + "/clusters/caro-prod/backup/restoreJobs",
		"POST /api/atlas/v2/groups/" + srcGroup + "/clusters/caro-prod/backup/restoreJobs",
		"GET /api/atlas/v2/groups/" + srcGroup + "/clusters/caro-prod/backup/restoreJobs/job-1",
		"GET /api/atlas/v2/groups/" + srcGroup + "/clusters/caro-prod/backup/restoreJobs/job-1",
	}
	if !slices.Equal(f.requests, wantReq) {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(f.requests, "\n"), strings.Join(wantReq, "\n"))
	}
	if f.tokenRequests != 1 {
		t.Errorf("%d token requests, want 1 (token reused)", f.tokenRequests)
	}
	// AND no secret appears in progress output
	for _, p := range progress {
		if strings.Contains(p, f.clientSecret) || strings.Contains(p, "fake-access-token") {
			t.Fatalf("secret in progress line %q", p)
		}
	}
	if len(progress) < 4 {
		t.Errorf("progress = %v", progress)
	}
}

func TestRestoreWithAPIKeyDigest(t *testing.T) {
	f := newFakeAtlas(t, "digest")
	f.snapshots[srcGroup+"/caro-prod"] = []map[string]any{snapshot("s1", "2026-11-22T02:00:00Z", "completed", "EU_CENTRAL_1")}
	var progress []string
	res, err := newTestRestorer(t, f, Credentials{PublicKey: f.publicKey, PrivateKey: "PRIVATE-KEY-SECRET"}).Restore(context.Background(), opts(&progress))
	if err != nil || res.SnapshotID != "s1" {
		t.Fatalf("Restore = %+v, %v", res, err)
	}
	for _, h := range f.authHeaders {
		if strings.Contains(h, "PRIVATE-KEY-SECRET") {
			t.Fatal("private key sent in clear")
		}
	}
}

func TestEncryptionPreflightRefuses(t *testing.T) {
	cases := []struct {
		name string
		src  map[string]any
		dst  map[string]any
		down []string
		says string
	}{
		{"source key region is down", map[string]any{"enabled": true, "region": "EU_WEST_1"}, map[string]any{"enabled": true, "region": "EU_WEST_1", "valid": true}, []string{"eu-west-1"}, "unavailable"},
		{"keys in different regions", map[string]any{"enabled": true, "region": "EU_WEST_1"}, map[string]any{"enabled": true, "region": "EU_CENTRAL_1", "valid": true}, nil, "same region"},
		{"target without encryption at rest", map[string]any{"enabled": true, "region": "EU_WEST_1"}, map[string]any{"enabled": false}, nil, "no AWS KMS encryption"},
		{"target key invalid", map[string]any{"enabled": true, "region": "EU_WEST_1"}, map[string]any{"enabled": true, "region": "EU_WEST_1", "valid": false}, nil, "not valid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// GIVEN an encrypted snapshot and the named key setup
			f := newFakeAtlas(t, "oauth")
			f.snapshots[srcGroup+"/caro-prod"] = []map[string]any{snapshot("s1", "2026-11-22T02:00:00Z", "completed", "EU_CENTRAL_1")}
			f.ear[srcGroup] = map[string]any{"awsKms": c.src}
			f.ear[dstGroup] = map[string]any{"awsKms": c.dst}
			var progress []string
			o := opts(&progress)
			o.UnavailableRegions = c.down
			// WHEN the restore runs
			_, err := newTestRestorer(t, f, oauthCreds(f)).Restore(context.Background(), o)
			// THEN it is refused before any restore job, explains why and points to the logical backup
			if !errors.Is(err, ErrEncryptionPreflight) || !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), "caro backup restore") {
				t.Fatalf("err = %v", err)
			}
			if len(f.createdJobs) != 0 {
				t.Fatal("a restore job was started despite the failed preflight")
			}
		})
	}
}

func TestRestoreJobOutcomes(t *testing.T) {
	for _, outcome := range []string{"failed", "cancelled", "expired", ""} {
		t.Run(fmt.Sprintf("outcome=%q", outcome), func(t *testing.T) {
			f := newFakeAtlas(t, "oauth")
			f.snapshots[srcGroup+"/caro-prod"] = []map[string]any{snapshot("s1", "2026-11-22T02:00:00Z", "completed", "EU_CENTRAL_1")}
			f.jobOutcome = outcome
			r := newTestRestorer(t, f, oauthCreds(f))
			var waits []time.Duration
			r.Sleep = func(ctx context.Context, d time.Duration) error {
				waits = append(waits, d)
				if len(waits) > 6 {
					return context.DeadlineExceeded
				}
				return nil
			}
			var progress []string
			o := opts(&progress)
			o.PollInterval, o.MaxPollInterval = time.Second, 4*time.Second
			_, err := r.Restore(context.Background(), o)
			want := ErrRestoreFailed
			if outcome == "" {
				want = ErrTimeout
				// backoff doubles up to the cap
				if !slices.Equal(waits[:5], []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second}) {
					t.Errorf("waits = %v", waits)
				}
			}
			if !errors.Is(err, want) || !strings.Contains(err.Error(), "caro backup restore") {
				t.Fatalf("err = %v, want %v", err, want)
			}
		})
	}
}

func TestNoSnapshotWithCopy(t *testing.T) {
	f := newFakeAtlas(t, "oauth")
	f.snapshots[srcGroup+"/caro-prod"] = []map[string]any{snapshot("s1", "2026-11-22T02:00:00Z", "completed", "US_EAST_1")}
	var progress []string
	_, err := newTestRestorer(t, f, oauthCreds(f)).Restore(context.Background(), opts(&progress))
	if !errors.Is(err, ErrNoSnapshot) || !strings.Contains(err.Error(), "EU_CENTRAL_1") {
		t.Fatalf("err = %v", err)
	}
}

func TestCredentials(t *testing.T) {
	env := map[string]string{EnvClientID: "id1", EnvClientSecret: "TOPSECRET"}
	c, err := CredentialsFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{c.String(), fmt.Sprintf("%v %+v %#v", c, c, c)} {
		if strings.Contains(s, "TOPSECRET") {
			t.Fatalf("secret printed: %s", s)
		}
	}
	if _, err := CredentialsFromEnv(func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), EnvClientID) {
		t.Errorf("empty env: %v", err)
	}
	if _, err := CredentialsFromSecret([]byte(`{"publicKey":"p"}`)); err == nil {
		t.Error("incomplete API key accepted")
	}
	if _, err := CredentialsFromSecret([]byte(`not json TOPSECRET`)); err == nil || strings.Contains(err.Error(), "TOPSECRET") {
		t.Errorf("bad secret: %v", err)
	}
	k, err := CredentialsFromSecret([]byte(`{"publicKey":"p","privateKey":"TOPSECRET"}`))
	if err != nil || strings.Contains(fmt.Sprint(k), "TOPSECRET") {
		t.Errorf("secret: %v %v", k, err)
	}
}

func TestRestoreResumesExistingJob(t *testing.T) {
	// GIVEN a restore job of the same snapshot into the standby cluster from an interrupted run,
	// next to a failed one
	f := newFakeAtlas(t, "oauth")
	f.snapshots[srcGroup+"/caro-prod"] = []map[string]any{snapshot("s-resumed", "2026-11-22T02:00:00Z", "completed", "EU_CENTRAL_1")}
	f.existingJobs = []map[string]any{
		{"id": "job-0", "deliveryType": "automated", "snapshotId": "s-resumed", "targetGroupId": dstGroup, "targetClusterName": "caro-standby", "failed": true},
		{"id": "job-1", "deliveryType": "automated", "snapshotId": "s-resumed", "targetGroupId": dstGroup, "targetClusterName": "caro-standby"},
	}
	var progress []string
	// WHEN the restore runs again
	res, err := newTestRestorer(t, f, oauthCreds(f)).Restore(context.Background(), opts(&progress))
	// THEN it polls the running job instead of starting a second one
	if err != nil || res.RestoreJobID != "job-1" || res.FinishedAt.IsZero() {
		t.Fatalf("Restore = %+v, %v", res, err)
	}
	if len(f.createdJobs) != 0 {
		t.Fatalf("a second restore job was started: %v", f.createdJobs)
	}
}
