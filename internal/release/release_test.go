package release_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/carohealth/platform/internal/localstack"
	"github.com/carohealth/platform/internal/objstore"
	"github.com/carohealth/platform/internal/release"
)

const stack = "CaroPlatform-eu-central-1"

// bucket is a release bucket on gofakes3 (the local S3).
func bucket(t *testing.T) objstore.Store {
	t.Helper()
	srv := localstack.StartS3ForTest(t, "cdk-assets-eu-central-1")
	c := s3.NewFromConfig(localstack.AWSConfig("eu-central-1", srv.Endpoint()), func(o *s3.Options) { o.UsePathStyle = true })
	return objstore.NewS3(c, "cdk-assets-eu-central-1", "")
}

// assembly writes a small cloud assembly: the stack's template and its asset manifest naming two
// Lambda bundles.
func assembly(t *testing.T, template string) string {
	t.Helper()
	dir := t.TempDir()
	am := map[string]any{"version": "54.0.0", "files": map[string]any{
		"aaa": map[string]any{"destinations": map[string]any{"d1": map[string]any{"bucketName": "cdk-assets", "objectKey": "aaa.zip"}}},
		"bbb": map[string]any{"destinations": map[string]any{"d1": map[string]any{"bucketName": "cdk-assets", "objectKey": "bbb.zip"}}},
	}}
	raw, _ := json.Marshal(am)
	for name, body := range map[string][]byte{stack + ".template.json": []byte(template), stack + ".assets.json": raw} {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func put(t *testing.T, store objstore.Store, key, body string) {
	t.Helper()
	if err := store.Put(context.Background(), key, bytes.NewReader([]byte(body)), int64(len(body))); err != nil {
		t.Fatal(err)
	}
}

func TestPublishThenDeployExactlyThoseBytes(t *testing.T) {
	ctx := context.Background()
	store := bucket(t)
	// GIVEN a synthesized version whose assets cdk deploy already published
	put(t, store, "aaa.zip", "bundle a")
	put(t, store, "bbb.zip", "bundle b")
	tmpl := `{"Resources":{"Fn":{"Type":"AWS::Lambda::Function"}}}`
	// WHEN the pipeline publishes it
	m, err := release.Publish(ctx, release.PublishOptions{Assembly: assembly(t, tmpl), Version: "1.4.2", Commit: "abc123", Stacks: []string{stack}, Store: store,
		Now: func() time.Time { return time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	// THEN the manifest lists it and the template reads back verified against manifest and pin
	if got, err := release.Versions(ctx, store); err != nil || len(got) != 1 || got[0] != "1.4.2" {
		t.Fatalf("versions = %v, %v", got, err)
	}
	read, err := release.ReadManifest(ctx, store, "1.4.2")
	if err != nil || read.Stacks[stack].SHA256 != m.Stacks[stack].SHA256 || len(read.Stacks[stack].Assets) != 2 {
		t.Fatalf("manifest = %+v, %v", read, err)
	}
	body, err := release.Template(ctx, store, read, stack, m.Stacks[stack].SHA256)
	if err != nil || string(body) != tmpl {
		t.Fatalf("template = %q, %v", body, err)
	}
	// AND publishing the same bytes again is fine, other bytes under the same version are refused
	if _, err := release.Publish(ctx, release.PublishOptions{Assembly: assembly(t, tmpl), Version: "1.4.2", Stacks: []string{stack}, Store: store}); err != nil {
		t.Fatalf("republish of the same release: %v", err)
	}
	_, err = release.Publish(ctx, release.PublishOptions{Assembly: assembly(t, tmpl+" "), Version: "1.4.2", Stacks: []string{stack}, Store: store})
	if err == nil || !strings.Contains(err.Error(), "already published with another template") {
		t.Fatalf("republish with other bytes: err = %v", err)
	}
}

func TestPublishRefusesAReleaseWhoseAssetsAreMissing(t *testing.T) {
	store := bucket(t)
	put(t, store, "aaa.zip", "bundle a")
	_, err := release.Publish(context.Background(), release.PublishOptions{Assembly: assembly(t, "{}"), Version: "2.0.0", Stacks: []string{stack}, Store: store})
	if err == nil || !strings.Contains(err.Error(), "bbb.zip") || !strings.Contains(err.Error(), "cdk deploy") {
		t.Fatalf("err = %v, want the missing asset named and what to do", err)
	}
	if _, err := release.ReadManifest(context.Background(), store, "2.0.0"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("a refused release left a manifest: %v", err)
	}
}

func TestAlteredTemplateOrPinIsRefused(t *testing.T) {
	ctx := context.Background()
	store := bucket(t)
	put(t, store, "aaa.zip", "a")
	put(t, store, "bbb.zip", "b")
	m, err := release.Publish(ctx, release.PublishOptions{Assembly: assembly(t, `{"a":1}`), Version: "3.0.0", Stacks: []string{stack}, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	// The plan pinned another template.
	if _, err := release.Template(ctx, store, m, stack, strings.Repeat("0", 64)); err == nil || !strings.Contains(err.Error(), "the plan pinned") {
		t.Errorf("other pin: err = %v", err)
	}
	// Someone replaced the template in the bucket.
	put(t, store, release.TemplateKey("3.0.0", stack), `{"a":2}`)
	if _, err := release.Template(ctx, store, m, stack, ""); err == nil || !strings.Contains(err.Error(), "was altered") {
		t.Errorf("altered template: err = %v", err)
	}
	if _, err := release.Template(ctx, store, m, "CaroPlatform-eu-west-1", ""); err == nil || !strings.Contains(err.Error(), "has no stack") {
		t.Errorf("other region's stack: err = %v", err)
	}
}

func TestBadVersionsAndDamagedManifests(t *testing.T) {
	ctx := context.Background()
	store := bucket(t)
	for _, v := range []string{"", "../x", "a/b", "1..2", strings.Repeat("x", 200)} {
		if err := release.ValidVersion(v); err == nil {
			t.Errorf("version %q accepted", v)
		}
	}
	put(t, store, release.ManifestKey("4.0.0"), `{"version":"4.0.1","stacks":{}}`)
	if _, err := release.ReadManifest(ctx, store, "4.0.0"); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("damaged manifest: err = %v", err)
	}
	if _, err := release.ReadManifest(ctx, store, "9.9.9"); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("missing release: err = %v", err)
	}
}

func TestPublishingRoleIsTheOneCdkDeployPublishedTheAssetsAs(t *testing.T) {
	// GIVEN an asset manifest as cdk synth writes it for an account-agnostic stack
	dir := t.TempDir()
	role := "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/cdk-hnb659fds-file-publishing-role-${AWS::AccountId}-eu-central-1"
	dest := map[string]any{"bucketName": "cdk-hnb659fds-assets-${AWS::AccountId}-eu-central-1", "objectKey": "aaa.zip", "assumeRoleArn": role}
	write := func(files map[string]any) {
		raw, _ := json.Marshal(map[string]any{"version": "54.0.0", "files": files})
		if err := os.WriteFile(filepath.Join(dir, stack+".assets.json"), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(map[string]any{"aaa": map[string]any{"destinations": map[string]any{"d1": dest}}, "bbb": map[string]any{"destinations": map[string]any{"d1": dest}}})
	// WHEN its publishing role is asked for THEN it is the bootstrap file-publishing role of the account
	got, err := release.PublishingRole(dir, stack, "123456789012")
	if want := "arn:aws:iam::123456789012:role/cdk-hnb659fds-file-publishing-role-123456789012-eu-central-1"; err != nil || got != want {
		t.Errorf("PublishingRole = %q, %v; want %s", got, err, want)
	}
	// GIVEN a manifest naming no role, or two WHEN asked THEN it refuses, saying so
	write(map[string]any{"aaa": map[string]any{"destinations": map[string]any{"d1": map[string]any{"objectKey": "aaa.zip"}}}})
	if _, err := release.PublishingRole(dir, stack, "123456789012"); err == nil || !strings.Contains(err.Error(), "names 0 publishing roles") {
		t.Errorf("no role: err = %v", err)
	}
	other := map[string]any{"objectKey": "bbb.zip", "assumeRoleArn": "arn:aws:iam::123456789012:role/other"}
	write(map[string]any{"aaa": map[string]any{"destinations": map[string]any{"d1": dest}}, "bbb": map[string]any{"destinations": map[string]any{"d1": other}}})
	if _, err := release.PublishingRole(dir, stack, "123456789012"); err == nil || !strings.Contains(err.Error(), "names 2 publishing roles") {
		t.Errorf("two roles: err = %v", err)
	}
	// GIVEN no account WHEN asked THEN it refuses rather than name a role with a placeholder
	write(map[string]any{"aaa": map[string]any{"destinations": map[string]any{"d1": dest}}})
	if _, err := release.PublishingRole(dir, stack, ""); err == nil {
		t.Error("a role without the account was returned")
	}
}
