package aws

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/carohealth/platform/internal/config"
	"github.com/carohealth/platform/internal/failover"
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
		c.MaxBackupAge != 8*time.Hour || c.Restore.BackupInterval != 6*time.Hour || c.Restore.RetentionYears != 9 || c.Restore.LedgerRetentionYears != 9 || c.Atlas == nil || c.AssemblyDir != "" {
		t.Fatalf("config %+v", c)
	}
	lines := strings.Join(c.SettingLines, "\n")
	for _, want := range []string{"setting failover-mongodb-uri = mongodb+srv://***@standby.example.net/ (secret caro/eu-central-1/mongodb-uri in eu-central-1)",
		"setting peer-backup-key = arn:aws:kms:eu-central-1:111122223333:key/mrk-peer (SSM parameter /caro/peers/eu-west-1/backup-key-arn in eu-central-1)",
		"setting atlas-private-key = ****** (secret) (secret cfn/atlas/profile/default in eu-central-1 (field PrivateKey))"} {
		if !strings.Contains(lines, want) {
			t.Errorf("setting lines lack %q:\n%s", want, lines)
		}
	}
	if strings.Contains(lines, "oncall:pw") || strings.Contains(lines, "priv)") {
		t.Errorf("a secret is shown:\n%s", lines)
	}
}

// TestContradictorySettingsAreNamedBeforeAnythingChanges: an override that differs from what the
// platform holds is a warning naming both (the override wins, secrets masked); a backup key of
// another region is a blocker of the survey, which plan and apply run before any step.
func TestContradictorySettingsAreNamedBeforeAnythingChanges(t *testing.T) {
	set, err := regions.Default()
	if err != nil {
		t.Fatal(err)
	}
	env := regions.Environment{Name: "production", Account: "111122223333", AtlasCredentialsSecret: regions.DefaultAtlasCredentialsSecret}
	load := func(vars map[string]string) Config {
		l := &config.Loader{Env: func(n string) (string, bool) { v, ok := vars[n]; return v, ok && v != "" }, Regions: &set, Environment: &env,
			Cloud: deployedPlatform{}, Home: "/home/oncall"}
		cfg, err := l.Load(context.Background(), "eu-central-1")
		if err != nil {
			t.Fatal(err)
		}
		return ConfigFrom(context.Background(), cfg)
	}
	// GIVEN no override THEN nothing disagrees
	if c := load(nil); len(c.SettingWarnings) != 0 || len(c.SettingProblems) != 0 {
		t.Fatalf("the deployed platform alone: warnings %q, problems %q", c.SettingWarnings, c.SettingProblems)
	}
	// GIVEN an override equal to the platform's value THEN nothing disagrees either
	if c := load(map[string]string{"CARO_FAILOVER_MONGODB_URI": "mongodb+srv://oncall:pw@standby.example.net/"}); len(c.SettingWarnings) != 0 {
		t.Fatalf("an equal override: %q", c.SettingWarnings)
	}
	// WHEN a connection string left in the environment points elsewhere than the secret
	c := load(map[string]string{"CARO_FAILOVER_MONGODB_URI": "mongodb://admin:hunter2@old-cluster.example.net/"})
	// THEN the warning names both, masked, and the override still wins
	if len(c.SettingWarnings) != 1 || !strings.Contains(c.SettingWarnings[0], "old-cluster.example.net") || !strings.Contains(c.SettingWarnings[0], "standby.example.net") ||
		!strings.Contains(c.SettingWarnings[0], "environment CARO_FAILOVER_MONGODB_URI") || !strings.Contains(c.SettingWarnings[0], "secret caro/eu-central-1/mongodb-uri") ||
		strings.Contains(c.SettingWarnings[0], "hunter2") || strings.Contains(c.SettingWarnings[0], ":pw@") {
		t.Fatalf("warnings: %q", c.SettingWarnings)
	}
	if c.Restore.TargetMongoURI != "mongodb://admin:hunter2@old-cluster.example.net/" || len(c.SettingProblems) != 0 {
		t.Fatalf("the override must win without a blocker: %s, %q", c.Restore.TargetMongoURI, c.SettingProblems)
	}
	// WHEN the peer's backup key is given in another region than the target's
	c = load(map[string]string{"CARO_PEER_BACKUP_KEY_ID": "arn:aws:kms:eu-west-1:111122223333:key/mrk-peer"})
	// THEN it is a problem naming the setting, its source, the key's region and the target's
	if len(c.SettingProblems) != 1 || !strings.Contains(c.SettingProblems[0], "peer-backup-key") || !strings.Contains(c.SettingProblems[0], `"eu-west-1"`) ||
		!strings.Contains(c.SettingProblems[0], "decrypts in eu-central-1") || !strings.Contains(c.SettingProblems[0], "environment CARO_PEER_BACKUP_KEY_ID") {
		t.Fatalf("problems: %q", c.SettingProblems)
	}
	// AND the survey blocks on it and warns of the override
	p := &Provider{SettingProblems: c.SettingProblems, SettingWarnings: []string{"w"}}
	s := &failover.Survey{}
	p.surveySettings(s)
	if len(s.Blockers()) != 1 || len(s.Warnings) != 1 {
		t.Fatalf("survey: blockers %v, warnings %v", s.Blockers(), s.Warnings)
	}
}
