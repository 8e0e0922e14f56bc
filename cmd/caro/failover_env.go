package main

import (
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/carohealth/platform/internal/atlas"
	"github.com/carohealth/platform/internal/config"
	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/internal/providers/local"
)

// envSettings are the settings the backup, restore, gdpr, drill and failover commands read from
// outside their flags. They are resolved in one place, settingsFromEnv, until the configuration
// package (internal/config) loads them with their sources: the commands only ever see this
// struct, and flag defaults never come from it (so help never shows a value).
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
	// and wait to be killed (set by `caro drill --kill-at` on its apply subprocess).
	DrillPauseAt string

	// The AWS failover provider's settings (see internal/providers/aws.Settings).
	FailoverMongoURI        string // CARO_FAILOVER_MONGODB_URI: the target region's connection string
	ARCEndpoints            string // CARO_ARC_ENDPOINTS: region=url,... of the Route 53 ARC cluster
	CDKOut                  string // CARO_CDK_OUT: the synthesized cloud assembly (default cdk.out)
	OriginSecret            string // CARO_ORIGIN_SECRET: the CloudFront origin secret for /health
	FailoverBackupOwnBucket string // CARO_FAILOVER_BACKUP_OWN_BUCKET: the target's own backup bucket
	FailoverLedgerBucket    string // CARO_FAILOVER_LEDGER_BUCKET: the target's replica of the source's checkpoint bucket
	FailoverLedgerOwnBucket string // CARO_FAILOVER_LEDGER_OWN_BUCKET: the target's own checkpoint bucket
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
	LedgerMaxAge         time.Duration
	// Atlas (MONGODB_ATLAS_CLIENT_ID/SECRET or MONGODB_ATLAS_PUBLIC_API_KEY/PRIVATE_API_KEY) are the
	// Atlas Admin API credentials, AtlasErr why they are unusable; AtlasBaseURL
	// (MONGODB_ATLAS_BASE_URL) points the client elsewhere (tests).
	Atlas        atlas.Credentials
	AtlasErr     error
	AtlasBaseURL string
}

// loadSettings returns the settings; tests replace it.
var loadSettings = settingsFromEnv

// settingsFromEnv reads every setting of envSettings from the process environment, through
// config.LookupEnv for the catalogued settings. It is the only place these commands read the
// environment; the lead's configuration loader replaces it.
func settingsFromEnv() envSettings {
	get := func(name string) string {
		if uncatalogued[name] {
			return os.Getenv(name) // not yet in config.Catalogue
		}
		v, _ := config.LookupEnv(name)
		return v
	}
	list := func(names ...string) []string {
		var out []string
		for _, n := range names {
			for _, v := range strings.Split(get(n), ",") {
				if v = strings.TrimSpace(v); v != "" {
					out = append(out, v)
				}
			}
		}
		return out
	}
	first := func(names ...string) string {
		for _, n := range names {
			if v := get(n); v != "" {
				return v
			}
		}
		return ""
	}
	s := envSettings{
		BackupBucket: get("CARO_BACKUP_BUCKET"), BackupReplicaBuckets: list(envBackupReplicaBucket),
		Region: first("CARO_REGION", "AWS_REGION"), BackupKeys: list("CARO_BACKUP_KEY_ID", "CARO_PEER_BACKUP_KEY_ID"),
		MongoURI: get("CARO_MONGODB_URI"), VerifyMongoURI: first("CARO_VERIFY_MONGODB_URI", "CARO_MONGODB_URI"), Database: get("CARO_DATABASE"),
		S3PathStyle: get("AWS_ENDPOINT_URL_S3") != "" || get("AWS_ENDPOINT_URL") != "",
		StateDir:    get("CARO_STATE_DIR"), Operator: get("CARO_OPERATOR"), DrillPauseAt: get(local.PauseEnv),
		FailoverMongoURI: get("CARO_FAILOVER_MONGODB_URI"), ARCEndpoints: get("CARO_ARC_ENDPOINTS"), CDKOut: get("CARO_CDK_OUT"),
		OriginSecret: get("CARO_ORIGIN_SECRET"), FailoverBackupOwnBucket: get("CARO_FAILOVER_BACKUP_OWN_BUCKET"),
		FailoverLedgerBucket: get("CARO_FAILOVER_LEDGER_BUCKET"), FailoverLedgerOwnBucket: get("CARO_FAILOVER_LEDGER_OWN_BUCKET"),
		LedgerPublicKey: get(envLedgerPublicKey), LedgerBuckets: list("CARO_LEDGER_BUCKET", "CARO_LEDGER_REPLICA_BUCKET"),
		LedgerSigningKeys: list("CARO_LEDGER_SIGNING_KEY_ARN"), LedgerRetentionYears: ledger.DefaultRetentionYears, LedgerMaxAge: ledger.DefaultMaxAge,
		AtlasBaseURL: get(atlas.EnvBaseURL),
	}
	if n, err := strconv.Atoi(get("CARO_LEDGER_RETENTION_YEARS")); err == nil && n > 0 {
		s.LedgerRetentionYears = n
	}
	if d, err := time.ParseDuration(get("CARO_LEDGER_CHECKPOINT_MAX_AGE")); err == nil && d > 0 {
		s.LedgerMaxAge = d
	}
	s.Atlas, s.AtlasErr = atlas.CredentialsFromEnv(get)
	return s
}

// uncatalogued are the variables read here that config.Catalogue does not list yet (config.LookupEnv
// refuses those): they are for the lead to add to the catalogue.
var uncatalogued = map[string]bool{
	"CARO_VERIFY_MONGODB_URI": true, "CARO_DATABASE": true, "CARO_FAILOVER_BACKUP_OWN_BUCKET": true, "CARO_FAILOVER_LEDGER_BUCKET": true,
	"CARO_FAILOVER_LEDGER_OWN_BUCKET": true, "CARO_LEDGER_RETENTION_YEARS": true, local.PauseEnv: true,
}

// envLedgerPublicKey pins the ledger's public key(s), because the signing keys live in regions
// that may be down: a PEM file (caro audit public-key), or KEYID=FILE items separated by commas
// (a key ring, for a failback: both regions' keys), as 'caro audit --public-key' takes them.
const envLedgerPublicKey = "CARO_LEDGER_PUBLIC_KEY"
