package deploycheck

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNewSDKClientsSaysHowToSignIn(t *testing.T) {
	// GIVEN an AWS profile that does not exist in the engineer's configuration
	dir := t.TempDir()
	for name, file := range map[string]string{"AWS_CONFIG_FILE": "config", "AWS_SHARED_CREDENTIALS_FILE": "credentials"} {
		path := filepath.Join(dir, file)
		if err := os.WriteFile(path, []byte("[default]\nregion = eu-west-1\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv(name, path)
	}
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_PROFILE", "caro-platform-none")
	// WHEN the deploy check builds its clients THEN the error says to sign in
	_, err := NewSDKClients(context.Background(), "https://cloud.mongodb.com")
	if err == nil || !strings.Contains(err.Error(), "loading AWS credentials: ") || !strings.Contains(err.Error(), "sign in as the platform engineer (aws sso login, or AWS_PROFILE)") {
		t.Fatalf("err = %v", err)
	}
	// GIVEN the default profile THEN the clients carry it and the Atlas URL, per region
	t.Setenv("AWS_PROFILE", "")
	c, err := NewSDKClients(context.Background(), "http://127.0.0.1:1")
	if err != nil || c.AtlasBaseURL != "http://127.0.0.1:1" || c.Config.Region != "eu-west-1" || c.regional("eu-central-1").Region != "eu-central-1" {
		t.Fatalf("clients %+v, %v", c, err)
	}
}
