package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/carohealth/platform/internal/atlas"
	"github.com/carohealth/platform/internal/config"
	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/regions"
)

// envSettings are the settings the backup, restore, gdpr, drill and failover commands read from
// outside their flags, resolved by internal/config (settingsFrom): the commands only ever see this
// struct, and flag defaults never come from it (so help never shows a value). Each field names
// its setting (docs/settings.md).
type envSettings struct {
	// BackupBucket (CARO_BACKUP_BUCKET) is the region's own backup bucket; BackupReplicaBuckets
	// (CARO_BACKUP_REPLICA_BUCKET) its replica of the peer region's, read with it as one erasure
	// register.
	BackupBucket         string
	BackupReplicaBuckets []string
	// Region (CARO_REGION, else AWS_REGION) is the region of the buckets and keys.
	Region string
	// BackupKeys are the KMS keys backups may be encrypted under: the region's own backup key
	// (CARO_BACKUP_KEY_ID, also the key `backup create` writes with) and its replica of the peer
	// region's (CARO_PEER_BACKUP_KEY_ID).
	BackupKeys []string
	// MongoURI (CARO_MONGODB_URI) is the application database (backup create's source);
	// VerifyMongoURI (CARO_VERIFY_MONGODB_URI, else CARO_MONGODB_URI) the server backup verify
	// restores its scratch copy into; Database (CARO_DATABASE) the database backed up.
	MongoURI, VerifyMongoURI, Database string
	// S3PathStyle is true when S3 is a local endpoint (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL set).
	S3PathStyle bool

	// StateDir (CARO_STATE_DIR) holds the local failover journals and lock.
	StateDir string
	// Operator (CARO_OPERATOR) names who applies a failover in its lock and journal (default:
	// the OS login).
	Operator string
	// DrillPauseAt (CARO_DRILL_PAUSE_AT) makes the local provider stop in the middle of that step
	// and wait to be killed (set by `caro failover drill --kill-at` on its apply subprocess).
	DrillPauseAt string

	// LedgerPublicKey (CARO_LEDGER_PUBLIC_KEY) pins the ledger's public key(s): a PEM file, or
	// KEYID=FILE items separated by commas (a failback: both regions' keys).
	LedgerPublicKey string
	// LedgerBuckets (CARO_LEDGER_BUCKET, CARO_LEDGER_REPLICA_BUCKET) and LedgerSigningKeys
	// (CARO_LEDGER_SIGNING_KEY_ARN) are the ledger configuration `backup restore` recovers a
	// restored ledger with.
	LedgerBuckets     []string
	LedgerSigningKeys []string
	// LedgerRetentionYears (CARO_LEDGER_RETENTION_YEARS) and LedgerMaxAge
	// (CARO_LEDGER_CHECKPOINT_MAX_AGE) are the ledger's retention and checkpoint interval.
	LedgerRetentionYears int
	// RetentionYears (setting retention-years) is the region's retention of application data, which
	// every restore applies to the restored data.
	RetentionYears int
	LedgerMaxAge   time.Duration
	// Atlas (MONGODB_ATLAS_CLIENT_ID/SECRET or MONGODB_ATLAS_PUBLIC_API_KEY/PRIVATE_API_KEY) are the
	// Atlas Admin API credentials, AtlasErr why they are unusable; AtlasBaseURL
	// (MONGODB_ATLAS_BASE_URL) points the client elsewhere (tests).
	Atlas        atlas.Credentials
	AtlasErr     error
	AtlasBaseURL string
}

// loadSettings resolves the settings of the commands that look nowhere in AWS for them (backup,
// restore, gdpr, drill): flags, environment overrides, the committed files, defaults. A broken
// committed file is the error: a command must not go on to report its consequence ("no backup
// bucket") instead of its cause.
var loadSettings = func() (envSettings, error) {
	ctx := context.Background()
	set, env, err := readRegionFiles()
	if err != nil {
		return envSettings{}, fmt.Errorf("reading caro's settings: %w: fix the file named in regions/ and rebuild caro", err)
	}
	l := &config.Loader{Regions: &set, Environment: &env}
	cfg, err := l.Load(ctx, "")
	if err != nil {
		// An undefined --region/CARO_REGION: the command that needs it refuses it by name; the
		// other settings do not depend on it.
		if cfg, err = l.Load(ctx, set.Primary().Region); err != nil {
			return envSettings{}, fmt.Errorf("reading caro's settings: %w", err)
		}
	}
	s, err := settingsFrom(ctx, cfg)
	if err != nil {
		return envSettings{}, fmt.Errorf("reading caro's settings: %w", err)
	}
	return s, nil
}

// readRegionFiles reads the region definitions and the environment file compiled into caro
// (regions/), each problem naming its file; tests read a folder of their own.
var readRegionFiles = func() (regions.Set, regions.Environment, error) {
	set, setErr := regions.Default()
	env, envErr := regions.DefaultEnvironment()
	return set, env, errors.Join(setErr, envErr)
}

func primaryRegion() string {
	cfg, err := (&config.Loader{Env: func(string) (string, bool) { return "", false }}).Load(context.Background(), "")
	if err != nil {
		return ""
	}
	return cfg.Region()
}

// settingsFrom reads envSettings from a resolved configuration; a malformed value is an error.
func settingsFrom(ctx context.Context, cfg *config.Config) (envSettings, error) {
	get := func(key string) string { return cfg.String(ctx, key) }
	list := func(keys ...string) []string {
		var out []string
		for _, k := range keys {
			for _, v := range strings.Split(get(k), ",") {
				if v = strings.TrimSpace(v); v != "" {
					out = append(out, v)
				}
			}
		}
		return out
	}
	region := cfg.Value(ctx, config.KeyRegion).Value
	if region == "" {
		region = cfg.Region()
	}
	pause, _ := config.LookupEnv("CARO_DRILL_PAUSE_AT")
	s := envSettings{
		BackupBucket: get(config.KeyBackupBucket), BackupReplicaBuckets: list(config.KeyBackupReplicaBucket),
		Region: region, BackupKeys: list(config.KeyBackupKey, config.KeyPeerBackupKey),
		MongoURI: get(config.KeyMongoURI), Database: get(config.KeyDatabase),
		S3PathStyle: cfg.Value(ctx, config.KeyS3Endpoint).Found(),
		StateDir:    get(config.KeyStateDir), Operator: get(config.KeyOperator), DrillPauseAt: pause,
		LedgerPublicKey: get(config.KeyLedgerPublicKeys), LedgerBuckets: list(config.KeyLedgerBucket, config.KeyLedgerReplicaBucket),
		LedgerSigningKeys: list(config.KeyLedgerSigningKey), LedgerRetentionYears: ledger.DefaultRetentionYears, LedgerMaxAge: ledger.DefaultMaxAge,
		AtlasBaseURL: get(config.KeyAtlasBaseURL),
	}
	s.VerifyMongoURI = get(config.KeyVerifyMongoURI)
	if s.VerifyMongoURI == "" {
		s.VerifyMongoURI = s.MongoURI
	}
	// A malformed value is the operator's mistake to hear about, not a default to fall back on.
	var errs []error
	if v := cfg.Value(ctx, config.KeyLedgerRetentionYears); v.Found() {
		n, err := strconv.Atoi(v.Value)
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("setting %s (%s) is %q: give the ledger's retention as a whole number of years, at least 1", v.Key, v.Source, v.Value))
		} else {
			s.LedgerRetentionYears = n
		}
	}
	if v := cfg.Value(ctx, config.KeyRetentionYears); v.Found() {
		n, err := strconv.Atoi(v.Value)
		if err != nil || n < 1 || n > 100 {
			errs = append(errs, fmt.Errorf("setting %s (%s) is %q: give the retention of application data as a whole number of years, 1 to 100", v.Key, v.Source, v.Value))
		} else {
			s.RetentionYears = n
		}
	}
	if v := cfg.Value(ctx, config.KeyLedgerMaxAge); v.Found() {
		d, err := time.ParseDuration(v.Value)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("setting %s (%s) is %q: give the checkpoint interval as a positive duration, for example 5m", v.Key, v.Source, v.Value))
		} else {
			s.LedgerMaxAge = d
		}
	}
	atlasVars := map[string]string{
		atlas.EnvClientID: get(config.KeyAtlasClientID), atlas.EnvClientSecret: get(config.KeyAtlasClientSecret),
		atlas.EnvPublicKey: get(config.KeyAtlasPublicKey), atlas.EnvPrivateKey: get(config.KeyAtlasPrivateKey),
	}
	s.Atlas, s.AtlasErr = atlas.CredentialsFromEnv(func(n string) string { return atlasVars[n] })
	return s, errors.Join(errs...)
}

// envLedgerPublicKey is the environment override of the pinned ledger keys (setting
// ledger-public-keys; regions/environment.json pins them for every region).
const envLedgerPublicKey = "CARO_LEDGER_PUBLIC_KEY"
