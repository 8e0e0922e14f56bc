package aws

import (
	"context"
	"strings"
	"testing"

	"github.com/carohealth/platform/internal/config"
	"github.com/carohealth/platform/regions"
)

// TestAcceptedBackupKeysSkipEmptyItems: the accepted backup keys are the region's own and the
// peer's, each comma-separated item trimmed and blank ones skipped (a trailing comma accepts no key
// named "").
func TestAcceptedBackupKeysSkipEmptyItems(t *testing.T) {
	set, err := regions.Default()
	if err != nil {
		t.Fatal(err)
	}
	env := regions.Environment{Name: "production", Account: "111122223333", AtlasCredentialsSecret: regions.DefaultAtlasCredentialsSecret}
	vars := map[string]string{"CARO_BACKUP_KEY_ID": "arn:aws:kms:eu-central-1:111122223333:key/mrk-own, ,arn:aws:kms:eu-central-1:111122223333:key/mrk-old,"}
	l := &config.Loader{Env: func(n string) (string, bool) { v, ok := vars[n]; return v, ok }, Regions: &set, Environment: &env, Cloud: deployedPlatform{}, Home: "/home/oncall"}
	cfg, err := l.Load(context.Background(), "eu-central-1")
	if err != nil {
		t.Fatal(err)
	}
	c := ConfigFrom(context.Background(), cfg)
	want := "arn:aws:kms:eu-central-1:111122223333:key/mrk-own,arn:aws:kms:eu-central-1:111122223333:key/mrk-old,arn:aws:kms:eu-central-1:111122223333:key/mrk-peer"
	if got := strings.Join(c.Restore.AcceptedBackupKeys, ","); got != want {
		t.Fatalf("accepted keys %q, want %q", got, want)
	}
}
