package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/carohealth/platform/internal/config"
	"github.com/carohealth/platform/internal/localstack"
	"github.com/carohealth/platform/internal/objstore"
)

// withReleaseBuckets serves each region's release bucket from gofakes3.
func withReleaseBuckets(t *testing.T) map[string]objstore.Store {
	t.Helper()
	srv := localstack.StartS3ForTest(t, "rel-eu-west-1", "rel-eu-central-1")
	c := s3.NewFromConfig(localstack.AWSConfig("eu-west-1", srv.Endpoint()), func(o *s3.Options) { o.UsePathStyle = true })
	stores := map[string]objstore.Store{"eu-west-1": objstore.NewS3(c, "rel-eu-west-1", ""), "eu-central-1": objstore.NewS3(c, "rel-eu-central-1", "")}
	old := releaseStore
	releaseStore = func(_ context.Context, cfg *config.Config, _ string) (objstore.Store, string, error) {
		return stores[cfg.Region()], "rel-" + cfg.Region(), nil
	}
	t.Cleanup(func() { releaseStore = old })
	return stores
}

func TestReleasePublishThenList(t *testing.T) {
	stores := withReleaseBuckets(t)
	withCloud(t, cloudFake{})
	// GIVEN an assembly of both platform stacks whose one asset each region's bucket holds
	dir := t.TempDir()
	for _, r := range []string{"eu-west-1", "eu-central-1"} {
		stack := "CaroPlatform-" + r
		os.WriteFile(filepath.Join(dir, stack+".template.json"), []byte(`{"Resources":{}}`), 0o644)
		os.WriteFile(filepath.Join(dir, stack+".assets.json"), []byte(`{"files":{"h":{"destinations":{"d":{"objectKey":"h.zip"}}}}}`), 0o644)
		stores[r].Put(context.Background(), "h.zip", bytes.NewReader([]byte("zip")), 3)
	}
	// WHEN the pipeline publishes it
	code, out, errOut := runCaro("release", "publish", "--version", "1.4.2", "--commit", "abc", "--cdk-out", dir, "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var done []publishedRelease
	if err := json.Unmarshal([]byte(out), &done); err != nil || len(done) != 2 {
		t.Fatalf("published = %s (%v)", out, err)
	}
	// THEN each region lists it
	code, out, errOut = runCaro("release", "list", "--region", "eu-central-1")
	if code != 0 || strings.TrimSpace(out) != "1.4.2" {
		t.Fatalf("list: exit %d, out %q, err %q", code, out, errOut)
	}
}

func TestReleasePublishNeedsAVersion(t *testing.T) {
	code, _, errOut := runCaro("release", "publish")
	if code == 0 || !strings.Contains(errOut, "--version") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = runCaro("release", "publish", "--version", "../etc")
	if code == 0 || !strings.Contains(errOut, "not usable") {
		t.Fatalf("bad version: exit %d, stderr %q", code, errOut)
	}
}

// accountCloud is cloudFake whose credentials belong to the account.
type accountCloud struct{ cloudFake }

func (accountCloud) Account(context.Context) (string, error) { return "123456789012", nil }

func TestReleasePublishAssumesTheFilePublishingRole(t *testing.T) {
	stores := withReleaseBuckets(t)
	var roles []string
	old := releaseStore
	releaseStore = func(ctx context.Context, cfg *config.Config, role string) (objstore.Store, string, error) {
		roles = append(roles, cfg.Region()+"="+role)
		return old(ctx, cfg, role)
	}
	t.Cleanup(func() { releaseStore = old })
	withCloud(t, accountCloud{})
	// GIVEN an assembly whose asset manifests name each region's bootstrap file-publishing role
	dir := t.TempDir()
	role := func(r string) string {
		return "arn:aws:iam::123456789012:role/cdk-hnb659fds-file-publishing-role-123456789012-" + r
	}
	for _, r := range []string{"eu-west-1", "eu-central-1"} {
		stack := "CaroPlatform-" + r
		os.WriteFile(filepath.Join(dir, stack+".template.json"), []byte(`{"Resources":{}}`), 0o644)
		os.WriteFile(filepath.Join(dir, stack+".assets.json"), []byte(`{"files":{"h":{"destinations":{"d":{"objectKey":"h.zip",`+
			`"assumeRoleArn":"arn:${AWS::Partition}:iam::${AWS::AccountId}:role/cdk-hnb659fds-file-publishing-role-${AWS::AccountId}-`+r+`"}}}}}`), 0o644)
		stores[r].Put(context.Background(), "h.zip", bytes.NewReader([]byte("zip")), 3)
	}
	// WHEN the pipeline publishes it as the deploy role, which may only assume the bootstrap roles
	code, _, errOut := runCaro("release", "publish", "--version", "1.4.3", "--cdk-out", dir, "--assume-publishing-role")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	// THEN each region's release is written as that region's file-publishing role, and says so
	if got, want := strings.Join(roles, ","), "eu-west-1="+role("eu-west-1")+",eu-central-1="+role("eu-central-1"); got != want {
		t.Errorf("roles %s, want %s", got, want)
	}
	if !strings.Contains(errOut, "as "+role("eu-central-1")) {
		t.Errorf("stderr does not name the role: %q", errOut)
	}
	// AND without the account the role cannot be named: it refuses, saying where the account comes from
	withCloud(t, cloudFake{})
	code, _, errOut = runCaro("release", "publish", "--version", "1.4.4", "--cdk-out", dir, "--assume-publishing-role")
	if code == 0 || !strings.Contains(errOut, "account") {
		t.Errorf("no account: exit %d, stderr %q", code, errOut)
	}
}
