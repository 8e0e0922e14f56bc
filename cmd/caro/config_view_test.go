package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/carohealth/platform/internal/config"
)

// cloudFake is an in-memory config.Cloud for the command tests.
type cloudFake struct {
	outputs map[string]map[string]string
	secrets map[string]string
}

func (f cloudFake) StackOutputs(_ context.Context, region, _ string) (map[string]string, error) {
	if m, ok := f.outputs[region]; ok {
		return m, nil
	}
	return nil, config.ErrNotFound
}

func (f cloudFake) SecretString(_ context.Context, region, name string) (string, error) {
	if v, ok := f.secrets[region+" "+name]; ok {
		return v, nil
	}
	return "", config.ErrNotFound
}

func (cloudFake) Parameter(context.Context, string, string) (string, error) {
	return "", config.ErrNotFound
}

func (cloudFake) Account(context.Context) (string, error) { return "", errors.New("no credentials") }

func withCloud(t *testing.T, c config.Cloud) {
	t.Helper()
	old := newCloud
	newCloud = func() config.Cloud { return c }
	t.Cleanup(func() { newCloud = old })
}

func TestConfigViewShowsSourcesAndMasksSecrets(t *testing.T) {
	// GIVEN a deployed standby with its outputs and connection-string secret, and no CARO_* variable
	withCloud(t, cloudFake{
		outputs: map[string]map[string]string{"eu-central-1": {"UserPoolId": "eu-central-1_pool", "BackupBucket": "caro-replica"}},
		secrets: map[string]string{"eu-central-1 caro/eu-central-1/mongodb-uri": "mongodb+srv://oncall:hunter2@standby.example.net/"},
	})
	for _, v := range []string{"CARO_FAILOVER_MONGODB_URI", "CARO_MONGODB_URI", "CARO_REGION", "AWS_REGION"} {
		t.Setenv(v, "")
	}
	// WHEN the configuration is viewed
	code, out, errOut := runCaro("config", "view", "--region", "eu-central-1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	// THEN each value shows its source, the secret only its host
	for _, want := range []string{"Configuration of eu-central-1 (peer eu-west-1)", "region", "flag --region",
		"user-pool-id", "eu-central-1_pool", "stack output UserPoolId of CaroPlatform-eu-central-1",
		"mongodb+srv://***@standby.example.net/", "secret caro/eu-central-1/mongodb-uri in eu-central-1"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "hunter2") {
		t.Fatalf("the view prints a secret:\n%s", out)
	}
	// AND -o json carries the same, still masked
	code, out, _ = runCaro("config", "view", "--region", "eu-central-1", "-o", "json")
	var v configView
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v.Region != "eu-central-1" || strings.Contains(out, "hunter2") {
		t.Fatalf("json view (exit %d):\n%s", code, out)
	}
}

func TestConfigViewRefusesAnUndefinedRegion(t *testing.T) {
	withCloud(t, cloudFake{})
	code, _, errOut := runCaro("config", "view", "--region", "us-west-2", "--offline")
	if code == 0 || !strings.Contains(errOut, "us-west-2") || !strings.Contains(errOut, "regions/us-west-2.json") {
		t.Fatalf("exit %d, stderr %q: want a refusal naming the region and how to define it", code, errOut)
	}
}
