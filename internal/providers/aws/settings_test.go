package aws

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/carohealth/platform/internal/config"
	"github.com/carohealth/platform/regions"
)

// deployedPlatform is a config.Cloud holding what a deployed platform keeps: the standby stack's
// outputs, its connection-string secret, the Atlas credentials secret and the peer's parameters.
type deployedPlatform struct{}

func (deployedPlatform) StackOutputs(_ context.Context, region, _ string) (map[string]string, error) {
	if region != "eu-central-1" {
		return nil, config.ErrNotFound
	}
	return map[string]string{"OwnBackupBucket": "caro-backups-eu-central-1", "BackupBucket": "caro-backup-replica", "LedgerBucket": "caro-ledger-own"}, nil
}

func (deployedPlatform) SecretString(_ context.Context, region, name string) (string, error) {
	switch region + " " + name {
	case "eu-central-1 caro/eu-central-1/mongodb-uri":
		return "mongodb+srv://oncall:pw@standby.example.net/", nil
	case "eu-central-1 cfn/atlas/profile/default":
		return `{"PublicKey":"pub","PrivateKey":"priv"}`, nil
	}
	return "", config.ErrNotFound
}

func (deployedPlatform) Parameter(_ context.Context, region, name string) (string, error) {
	if region+" "+name == "eu-central-1 /caro/peers/eu-west-1/backup-key-arn" {
		return "arn:aws:kms:eu-central-1:111122223333:key/mrk-peer", nil
	}
	return "", config.ErrNotFound
}

func (deployedPlatform) Account(context.Context) (string, error) { return "", errors.New("unused") }

func TestConfigFromTheDeployedPlatformAlone(t *testing.T) {
	// GIVEN only the committed files and the deployed platform (no environment variable at all)
	set, err := regions.Default()
	if err != nil {
		t.Fatal(err)
	}
	env := regions.Environment{Name: "production", Account: "111122223333", AtlasCredentialsSecret: regions.DefaultAtlasCredentialsSecret}
	l := &config.Loader{Env: func(string) (string, bool) { return "", false }, Regions: &set, Environment: &env, Cloud: deployedPlatform{}, Home: "/home/oncall"}
	cfg, err := l.Load(context.Background(), "eu-central-1")
	if err != nil {
		t.Fatal(err)
	}
	// WHEN the provider's configuration is read from it
	c := ConfigFrom(context.Background(), cfg)
	// THEN everything a failover needs is there, each with its source
	if c.Restore.TargetMongoURI != "mongodb+srv://oncall:pw@standby.example.net/" || c.Restore.OwnBackupBucket != "caro-backups-eu-central-1" ||
		c.Restore.LedgerOwnBucket != "caro-ledger-own" || c.Restore.LedgerReplicaBucket != "caro-ledger-replica-111122223333-eu-central-1" ||
		c.PeerBackupKeyArn != "arn:aws:kms:eu-central-1:111122223333:key/mrk-peer" || c.ReleaseBucket != "cdk-hnb659fds-assets-111122223333-eu-central-1" ||
		c.MaxBackupAge != 8*time.Hour || c.Restore.BackupInterval != 6*time.Hour || c.Restore.LedgerRetentionYears != 9 || c.Atlas == nil || c.AssemblyDir != "" {
		t.Fatalf("config %+v", c)
	}
	lines := strings.Join(c.SettingLines, "\n")
	for _, want := range []string{"setting failover-mongodb-uri = mongodb+srv://***@standby.example.net/ (secret caro/eu-central-1/mongodb-uri in eu-central-1)",
		"setting peer-backup-key = arn:aws:kms:eu-central-1:111122223333:key/mrk-peer (SSM parameter /caro/peers/eu-west-1/backup-key-arn in eu-central-1)",
		"setting atlas-private-key = ****** (secret, 4 characters) (secret cfn/atlas/profile/default in eu-central-1 (field PrivateKey))"} {
		if !strings.Contains(lines, want) {
			t.Errorf("setting lines lack %q:\n%s", want, lines)
		}
	}
	if strings.Contains(lines, "oncall:pw") || strings.Contains(lines, "priv)") {
		t.Errorf("a secret is shown:\n%s", lines)
	}
}
