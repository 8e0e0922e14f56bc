package config_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/carohealth/platform/internal/config"
	"github.com/carohealth/platform/regions"
)

// fakeCloud is an in-memory config.Cloud: outputs per region, secrets and parameters by
// "<region> <name>", and errors to return for some of them.
type fakeCloud struct {
	outputs map[string]map[string]string
	secrets map[string]string
	params  map[string]string
	account string
	errs    map[string]error
	calls   []string
}

func (f *fakeCloud) StackOutputs(_ context.Context, region, stack string) (map[string]string, error) {
	f.calls = append(f.calls, "outputs "+region)
	if err := f.errs["stack "+region]; err != nil {
		return nil, err
	}
	m, ok := f.outputs[region]
	if !ok {
		return nil, fmt.Errorf("stack %s: %w", stack, config.ErrNotFound)
	}
	return m, nil
}

func (f *fakeCloud) SecretString(_ context.Context, region, name string) (string, error) {
	f.calls = append(f.calls, "secret "+region+" "+name)
	if err := f.errs["secret "+region+" "+name]; err != nil {
		return "", err
	}
	v, ok := f.secrets[region+" "+name]
	if !ok {
		return "", config.ErrNotFound
	}
	return v, nil
}

func (f *fakeCloud) Parameter(_ context.Context, region, name string) (string, error) {
	v, ok := f.params[region+" "+name]
	if !ok {
		return "", config.ErrNotFound
	}
	return v, nil
}

func (f *fakeCloud) Account(context.Context) (string, error) {
	if f.account == "" {
		return "", errors.New("no credentials")
	}
	return f.account, nil
}

func env(vars map[string]string) func(string) (string, bool) {
	return func(n string) (string, bool) { v, ok := vars[n]; return v, ok && v != "" }
}

func loader(t *testing.T, vars map[string]string, flags map[string]string, cloud config.Cloud) *config.Loader {
	t.Helper()
	set, err := regions.Default()
	if err != nil {
		t.Fatal(err)
	}
	e := regions.Environment{Name: "test", Account: "123456789012", AtlasCredentialsSecret: regions.DefaultAtlasCredentialsSecret,
		LedgerPublicKeys: map[string]string{}}
	return &config.Loader{Env: env(vars), Flags: flags, Regions: &set, Environment: &e, Cloud: cloud, Home: "/home/oncall"}
}

func TestFailoverValuesComeFromTheDeployedPlatform(t *testing.T) {
	// GIVEN no CARO_* variable, the deployed standby's outputs and its connection-string secret
	cloud := &fakeCloud{
		outputs: map[string]map[string]string{"eu-central-1": {"BackupBucket": "caro-backups-replica", "OwnBackupBucket": "caro-backups-own", "BackupKeyArn": "arn:aws:kms:eu-central-1:123456789012:key/mrk-1"}},
		secrets: map[string]string{"eu-central-1 caro/eu-central-1/mongodb-uri": "mongodb+srv://oncall:s3cret@standby.example.mongodb.net/?retryWrites=true"},
	}
	cfg, err := loader(t, nil, nil, cloud).Load(context.Background(), "eu-central-1")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// WHEN the failover's settings are resolved THEN each has a value and says where it came from
	cases := []struct{ key, value, source string }{
		{config.KeyFailoverMongoURI, "mongodb+srv://oncall:s3cret@standby.example.mongodb.net/?retryWrites=true", "secret caro/eu-central-1/mongodb-uri in eu-central-1"},
		{config.KeyBackupReplicaBucket, "caro-backups-replica", "stack output BackupBucket of CaroPlatform-eu-central-1"},
		{config.KeyBackupBucket, "caro-backups-own", "stack output OwnBackupBucket of CaroPlatform-eu-central-1"},
		{config.KeyPeerBackupKey, "arn:aws:kms:eu-central-1:123456789012:key/mrk-1", "stack output BackupKeyArn of CaroPlatform-eu-central-1"},
		{config.KeyLedgerReplicaBucket, "caro-ledger-replica-123456789012-eu-central-1", "derived caro-ledger-replica-{account}-eu-central-1"},
		{config.KeyLedgerMaxAge, "5m", `default "5m"`},
		{config.KeyStateDir, "/home/oncall/.caro/failover", "derived {home}/.caro/failover"},
	}
	for _, c := range cases {
		v := cfg.Value(ctx, c.key)
		if v.Value != c.value || v.Source != c.source {
			t.Errorf("%s = %q from %q, want %q from %q (looked: %v)", c.key, v.Value, v.Source, c.value, c.source, v.Looked)
		}
	}
	// AND the outputs were read once for all of them
	n := 0
	for _, c := range cloud.calls {
		if c == "outputs eu-central-1" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("DescribeStacks calls = %d, want 1 (%v)", n, cloud.calls)
	}
}

func TestOverridesWinInOrder(t *testing.T) {
	cloud := &fakeCloud{secrets: map[string]string{"eu-west-1 caro/eu-west-1/mongodb-uri": "mongodb://from-secret/"}}
	ctx := context.Background()
	// GIVEN a flag, an environment variable and a secret for the same setting
	l := loader(t, map[string]string{"CARO_MONGODB_URI": "mongodb://from-env/"}, map[string]string{"mongodb-uri": "mongodb://from-flag/"}, cloud)
	cfg, err := l.Load(ctx, "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	// THEN the flag wins
	if v := cfg.Value(ctx, config.KeyMongoURI); v.Value != "mongodb://from-flag/" || v.Source != "flag --mongodb-uri" {
		t.Errorf("with flag: %+v", v)
	}
	// WHEN there is no flag THEN the environment variable wins over the secret
	l.Flags = nil
	cfg, _ = l.Load(ctx, "eu-west-1")
	if v := cfg.Value(ctx, config.KeyMongoURI); v.Value != "mongodb://from-env/" || v.Source != "environment CARO_MONGODB_URI" {
		t.Errorf("with env: %+v", v)
	}
	// AND without either the secret is read
	l.Env = env(nil)
	cfg, _ = l.Load(ctx, "eu-west-1")
	if v := cfg.Value(ctx, config.KeyMongoURI); v.Value != "mongodb://from-secret/" {
		t.Errorf("from secret: %+v", v)
	}
}

func TestSecretsAreNeverDisplayed(t *testing.T) {
	cloud := &fakeCloud{secrets: map[string]string{
		"eu-central-1 caro/eu-central-1/mongodb-uri": "mongodb+srv://oncall:hunter2@standby.example.net/caro?authSource=admin",
		"eu-central-1 caro/edge/origin-verify":       "origin-secret-value",
	}}
	cfg, _ := loader(t, nil, nil, cloud).Load(context.Background(), "eu-central-1")
	for _, v := range cfg.All(context.Background()) {
		if strings.Contains(v.Display(), "hunter2") || strings.Contains(v.Display(), "origin-secret-value") {
			t.Errorf("%s displays its secret: %s", v.Key, v.Display())
		}
	}
	if got := cfg.Value(context.Background(), config.KeyFailoverMongoURI).Display(); got != "mongodb+srv://***@standby.example.net/caro" {
		t.Errorf("connection string displayed as %q, want the host without credentials", got)
	}
}

func TestMissingValueSaysWhereItLookedAndWhatToDo(t *testing.T) {
	// GIVEN a standby whose secret cannot be read (access denied) and no override
	cloud := &fakeCloud{errs: map[string]error{"secret eu-central-1 caro/eu-central-1/mongodb-uri": errors.New("AccessDeniedException: not authorized")}}
	cfg, _ := loader(t, nil, nil, cloud).Load(context.Background(), "eu-central-1")
	// WHEN it is required
	err := cfg.Require(context.Background(), config.KeyFailoverMongoURI, config.KeyUserPoolID)
	// THEN the error names each setting, each place looked, the cause and the fix
	var me *config.MissingError
	if !errors.As(err, &me) {
		t.Fatalf("err = %v, want a MissingError", err)
	}
	for _, want := range []string{"failover-mongodb-uri", "environment CARO_FAILOVER_MONGODB_URI: not set",
		"secret caro/eu-central-1/mongodb-uri in eu-central-1: AccessDeniedException", "put the eu-central-1 cluster's connection string",
		"user-pool-id", "deploy CaroPlatform-eu-central-1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestOfflineLoaderLooksNowhereInAWS(t *testing.T) {
	cfg, _ := loader(t, nil, nil, nil).Load(context.Background(), "eu-west-1")
	v := cfg.Value(context.Background(), config.KeyUserPoolID)
	if v.Found() || !strings.Contains(strings.Join(v.Looked, ";"), "no AWS access") {
		t.Fatalf("user pool without cloud: %+v", v)
	}
}

func TestRegionComesFromFlagEnvironmentOrPrimary(t *testing.T) {
	ctx := context.Background()
	cfg, err := loader(t, nil, nil, nil).Load(ctx, "")
	if err != nil || cfg.Region() != "eu-west-1" || cfg.Peer() != "eu-central-1" {
		t.Fatalf("default region = %v, %v", cfg, err)
	}
	cfg, _ = loader(t, map[string]string{"AWS_REGION": "eu-central-1"}, nil, nil).Load(ctx, "")
	if cfg.Region() != "eu-central-1" {
		t.Errorf("AWS_REGION: region = %s", cfg.Region())
	}
	_, err = loader(t, nil, map[string]string{"region": "us-west-2"}, nil).Load(ctx, "")
	if err == nil || !strings.Contains(err.Error(), "flag --region") || !strings.Contains(err.Error(), "not defined") {
		t.Errorf("undefined region: err = %v", err)
	}
}

func TestAtlasCredentialsFromTheSharedSecret(t *testing.T) {
	cloud := &fakeCloud{secrets: map[string]string{"eu-central-1 cfn/atlas/profile/default": `{"PublicKey":"pubkey","PrivateKey":"privkey"}`}}
	cfg, _ := loader(t, nil, nil, cloud).Load(context.Background(), "eu-central-1")
	pub, priv := cfg.Value(context.Background(), config.KeyAtlasPublicKey), cfg.Value(context.Background(), config.KeyAtlasPrivateKey)
	if pub.Value != "pubkey" || priv.Value != "privkey" || !strings.Contains(priv.Source, "field PrivateKey") {
		t.Fatalf("atlas credentials = %+v / %+v", pub, priv)
	}
	if strings.Contains(priv.Display(), "privkey") {
		t.Fatal("the private key is displayed")
	}
}

func TestUnknownKeyAndEnvVarPanic(t *testing.T) {
	cfg, _ := loader(t, nil, nil, nil).Load(context.Background(), "eu-west-1")
	for name, f := range map[string]func(){
		"Value":     func() { cfg.Value(context.Background(), "no-such-setting") },
		"LookupEnv": func() { config.LookupEnv("CARO_NOT_A_SETTING") },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s of an uncatalogued name did not panic", name)
				}
			}()
			f()
		}()
	}
}

// TestTheRecoveryPointFollowsTheBackupSchedule: the region file's backupEveryHours is the schedule
// the plan and readiness state, and the RPO readiness holds the newest backup to follows it (one
// missed backup must warn, not a day of them).
func TestTheRecoveryPointFollowsTheBackupSchedule(t *testing.T) {
	ctx := context.Background()
	// GIVEN the committed regions, eu-central-1 backed up every 12 hours
	fsys := fstest.MapFS{}
	for _, name := range []string{"eu-west-1.json", "eu-central-1.json"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "regions", name))
		if err != nil {
			t.Fatal(err)
		}
		if name == "eu-central-1.json" {
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			m["backupEveryHours"] = 12
			b, _ = json.Marshal(m)
		}
		fsys[name] = &fstest.MapFile{Data: b}
	}
	set, err := regions.LoadFS(fsys, ".")
	if err != nil {
		t.Fatal(err)
	}
	l := loader(t, nil, nil, nil)
	l.Regions = &set
	for _, c := range []struct{ region, every, maxAge string }{{"eu-central-1", "12", "14h0m0s"}, {"eu-west-1", "6", "8h0m0s"}} {
		cfg, err := l.Load(ctx, c.region)
		if err != nil {
			t.Fatal(err)
		}
		// WHEN the schedule and the RPO are resolved THEN they come from the region file
		every := cfg.Value(ctx, config.KeyBackupEveryHours)
		if fromFile := strings.Contains(every.Source, "backupEveryHours"); every.Value != c.every || fromFile != (c.region == "eu-central-1") {
			t.Errorf("%s backup-every-hours = %+v, want %s from the region file", c.region, every, c.every)
		}
		maxAge := cfg.Value(ctx, config.KeyMaxBackupAge)
		d, err := time.ParseDuration(maxAge.Value)
		if err != nil || d.String() != c.maxAge {
			t.Errorf("%s max-backup-age = %+v (%v), want %s: the schedule plus 2 hours", c.region, maxAge, err, c.maxAge)
		}
	}
	// AND an override still wins
	cfg, _ := loader(t, map[string]string{"CARO_MAX_BACKUP_AGE": "3h"}, nil, nil).Load(ctx, "eu-west-1")
	if v := cfg.Value(ctx, config.KeyMaxBackupAge); v.Value != "3h" {
		t.Errorf("override: %+v", v)
	}
}

// TestShadowedNamesWhatTheOverrideHides: an override that differs from the platform's value
// returns that value and its place; an equal one, a value from the platform itself, or one whose
// only alternative is a default hides nothing.
func TestShadowedNamesWhatTheOverrideHides(t *testing.T) {
	ctx := context.Background()
	cloud := &fakeCloud{account: "123456789012", secrets: map[string]string{"eu-central-1 caro/eu-central-1/mongodb-uri": "mongodb://u:p@standby/"}}
	load := func(vars map[string]string) *config.Config {
		cfg, err := loader(t, vars, nil, cloud).Load(ctx, "eu-central-1")
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	if v, ok := load(map[string]string{"CARO_FAILOVER_MONGODB_URI": "mongodb://u:p@elsewhere/"}).Shadowed(ctx, config.KeyFailoverMongoURI); !ok ||
		v.Value != "mongodb://u:p@standby/" || !strings.Contains(v.Source, "secret caro/eu-central-1/mongodb-uri") || !v.Secret {
		t.Errorf("differing override: %+v %v", v, ok)
	}
	if v, ok := load(map[string]string{"CARO_FAILOVER_MONGODB_URI": "mongodb://u:p@standby/"}).Shadowed(ctx, config.KeyFailoverMongoURI); ok {
		t.Errorf("equal override hides %+v", v)
	}
	if v, ok := load(nil).Shadowed(ctx, config.KeyFailoverMongoURI); ok {
		t.Errorf("the platform's own value hides %+v", v)
	}
	if v, ok := load(map[string]string{"CARO_MAX_BACKUP_AGE": "3h"}).Shadowed(ctx, config.KeyMaxBackupAge); ok {
		t.Errorf("an override of a derived default hides %+v", v)
	}
}
