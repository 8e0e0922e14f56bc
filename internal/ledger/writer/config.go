package writer

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/lambdasecrets"
	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/internal/ledger/pinnedkeys"
)

// Environment variables the function reads (the CARO_* names of the contracts plus the ledger's own,
// which constructs/ledger sets).
const (
	EnvMongoURI          = "CARO_MONGODB_URI"
	EnvMongoURISecretARN = "CARO_MONGODB_URI_SECRET_ARN"
	EnvDatabase          = "CARO_DATABASE"
	EnvBucket            = "CARO_LEDGER_BUCKET"
	EnvSigningKey        = "CARO_LEDGER_SIGNING_KEY_ARN"
	EnvRetentionYears    = "CARO_LEDGER_RETENTION_YEARS"
	EnvInterval          = "CARO_LEDGER_CHECKPOINT_INTERVAL"
	EnvMaxAge            = "CARO_LEDGER_CHECKPOINT_MAX_AGE"
	// EnvCheckpointSchedule is how often the function is invoked to cut due checkpoints without
	// events (constructs/ledger CheckpointSchedule, default 5m): with MaxAge, the window after which
	// the scheduled verify reports an unanchored entry or a recorded checkpoint the bucket lacks.
	EnvCheckpointSchedule = "CARO_LEDGER_CHECKPOINT_SCHEDULE"
	// EnvReplicaBucket is this region's replica of the peer region's checkpoint bucket
	// (caro-ledger-replica-<account>-<this region>, the CaroReplica stack's bucket). When set, the
	// scheduled verify reads it with the region's own bucket as one series: after a failover the
	// checkpoints before it are there (cut by the peer's writer), the ones after in the own bucket.
	// A region whose database holds no ledger at all (a standby that has not taken over) checks its
	// own bucket only, as without it, so setting it in both regions raises no alarm in the standby.
	EnvReplicaBucket = "CARO_LEDGER_REPLICA_BUCKET"
	// EnvPeerPublicKeys pins the peer region's signing key(s) for the scheduled verify:
	// "<key ARN>=<base64 DER SubjectPublicKeyInfo>", several separated by commas (the DER is what
	// caro audit public-key prints as PEM, without the armor). Pinned, not fetched, because the
	// peer region may be the one that is down. With it or EnvReplicaBucket set, every checkpoint is
	// verified with the key its KeyID names (the own key from KMS, the peer's pinned); other key
	// IDs are refused.
	EnvPeerPublicKeys = "CARO_LEDGER_PEER_PUBLIC_KEYS"
)

// Config is the writer's configuration.
type Config struct {
	MongoURI, MongoURISecretARN, Database, Bucket, SigningKey string
	RetentionYears                                            int
	Interval                                                  uint64
	MaxAge                                                    time.Duration
	// CheckpointSchedule is EnvCheckpointSchedule.
	CheckpointSchedule time.Duration
	// ReplicaBucket is EnvReplicaBucket (empty: the own bucket only).
	ReplicaBucket string
	// PeerPublicKeys are EnvPeerPublicKeys: DER public keys by key ARN.
	PeerPublicKeys map[string][]byte
	// SessionToken is the function's AWS_SESSION_TOKEN (the secrets extension requires it).
	SessionToken string
}

// ConfigFromEnv reads the configuration and says which variable is wrong.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{MongoURI: getenv(EnvMongoURI), MongoURISecretARN: getenv(EnvMongoURISecretARN), Database: getenv(EnvDatabase),
		Bucket: getenv(EnvBucket), SigningKey: getenv(EnvSigningKey), RetentionYears: ledger.DefaultRetentionYears,
		Interval: ledger.DefaultInterval, MaxAge: ledger.DefaultMaxAge, CheckpointSchedule: ledger.DefaultCheckpointSchedule,
		SessionToken: getenv("AWS_SESSION_TOKEN")}
	if c.Database == "" {
		c.Database = "caro"
	}
	if c.MongoURI == "" && c.MongoURISecretARN == "" {
		return c, fmt.Errorf("auditwriter config: set %s (local) or %s", EnvMongoURI, EnvMongoURISecretARN)
	}
	if c.Bucket == "" || c.SigningKey == "" {
		return c, fmt.Errorf("auditwriter config: %s and %s are required (constructs/ledger sets them)", EnvBucket, EnvSigningKey)
	}
	if v := getenv(EnvRetentionYears); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return c, fmt.Errorf("auditwriter config: %s=%q: give whole years, 1 to 100", EnvRetentionYears, v)
		}
		c.RetentionYears = n
	}
	if v := getenv(EnvInterval); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			return c, fmt.Errorf("auditwriter config: %s=%q: give a positive entry count", EnvInterval, v)
		}
		c.Interval = n
	}
	if v := getenv(EnvMaxAge); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("auditwriter config: %s=%q: give a duration like 5m", EnvMaxAge, v)
		}
		c.MaxAge = d
	}
	if v := getenv(EnvCheckpointSchedule); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("auditwriter config: %s=%q: give a duration like 5m", EnvCheckpointSchedule, v)
		}
		c.CheckpointSchedule = d
	}
	c.ReplicaBucket = strings.TrimSpace(getenv(EnvReplicaBucket))
	keys, err := ParsePeerPublicKeys(getenv(EnvPeerPublicKeys))
	if err != nil {
		return c, fmt.Errorf("auditwriter config: %s: %w", EnvPeerPublicKeys, err)
	}
	c.PeerPublicKeys = keys
	return c, nil
}

// ParsePeerPublicKeys reads EnvPeerPublicKeys, "<key ARN>=<base64 DER>[,...]" (the format of
// internal/ledger/pinnedkeys; empty gives nil), as DER public keys by key ARN.
func ParsePeerPublicKeys(v string) (map[string][]byte, error) {
	keys, err := pinnedkeys.Parse(v)
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	out := make(map[string][]byte, len(keys))
	for _, k := range keys {
		out[k.KeyArn] = k.DER
	}
	return out, nil
}

// holdsNoLedger reports whether the database has no ledger at all: no entry document and no
// checkpoint record.
func holdsNoLedger(ctx context.Context, store *ledger.MongoStore) (bool, error) {
	n, err := store.CountEntries(ctx)
	if err != nil {
		return false, fmt.Errorf("counting ledger entries: %w", err)
	}
	last, err := store.LastCheckpoint(ctx)
	if err != nil {
		return false, fmt.Errorf("reading the last checkpoint record: %w", err)
	}
	return n == 0 && last == nil, nil
}

// Build connects to MongoDB, S3 and KMS and returns the handler and a close function.
func Build(ctx context.Context, c Config, log *slog.Logger) (*Handler, func(), error) {
	uri := c.MongoURI
	if uri == "" {
		var err error
		// Through the AWS Parameters and Secrets Lambda Extension (the layer gofunction adds).
		if uri, err = lambdasecrets.Get(ctx, c.MongoURISecretARN, c.SessionToken); err != nil {
			return nil, nil, err
		}
	}
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		return nil, nil, fmt.Errorf("auditwriter: connecting to MongoDB: %w", err)
	}
	closeFn := func() { _ = client.Disconnect(context.Background()) }
	store := ledger.NewMongoStore(client.Database(c.Database))
	if err := store.EnsureIndexes(ctx); err != nil {
		closeFn()
		return nil, nil, err
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		closeFn()
		return nil, nil, fmt.Errorf("auditwriter: AWS config: %w", err)
	}
	return NewHandler(store, &ledger.CheckpointBucket{Client: s3.NewFromConfig(awsCfg), Name: c.Bucket},
		&ledger.KMSSigner{Client: kms.NewFromConfig(awsCfg), Key: c.SigningKey}, c, log), closeFn, nil
}

// NewHandler wires a handler from its parts (tests pass local clients).
func NewHandler(store *ledger.MongoStore, bucket *ledger.CheckpointBucket, signer ledger.Signer, c Config, log *slog.Logger) *Handler {
	return &Handler{
		Ledger: &ledger.Ledger{Store: store},
		Checkpointer: &ledger.Checkpointer{Entries: store, Records: store, Bucket: bucket, Signer: signer,
			Interval: c.Interval, MaxAge: c.MaxAge, RetentionYears: c.RetentionYears},
		Verifier: func(ctx context.Context) (*ledger.Verifier, error) {
			der, err := signer.PublicKey(ctx)
			if err != nil {
				return nil, fmt.Errorf("reading the signing key's public key: %w", err)
			}
			if c.ReplicaBucket == "" && len(c.PeerPublicKeys) == 0 {
				pub, err := ledger.ParsePublicKey(der)
				if err != nil {
					return nil, err
				}
				return &ledger.Verifier{Entries: store, Checkpoints: bucket, Locks: bucket, PublicKey: pub, RetentionYears: c.RetentionYears,
					MaxAge: c.MaxAge, CheckpointSchedule: c.CheckpointSchedule}, nil
			}
			// Two regions' checkpoints: each verified with the key it names.
			keys := map[string][]byte{signer.KeyID(): der}
			for id, d := range c.PeerPublicKeys {
				if id != signer.KeyID() {
					keys[id] = d
				}
			}
			ring, err := ledger.NewKeyRing(keys)
			if err != nil {
				return nil, err
			}
			v := &ledger.Verifier{Entries: store, Checkpoints: bucket, Locks: bucket, PublicKeys: ring, RetentionYears: c.RetentionYears,
				MaxAge: c.MaxAge, CheckpointSchedule: c.CheckpointSchedule}
			standby, err := holdsNoLedger(ctx, store)
			if err != nil {
				return nil, err
			}
			if standby {
				// A standby that has not taken over: its database holds no ledger while the replica
				// holds the peer's checkpoints (which the peer's writer verifies against its own
				// database). Only the own bucket is checked, as without a replica: it must be empty
				// too, or the entries it anchors are missing.
				log.Info("this region's database holds no audit ledger (a standby): verifying the own checkpoint bucket only, not the replica",
					"replica", c.ReplicaBucket)
				return v, nil
			}
			if c.ReplicaBucket != "" {
				src := ledger.BucketsSource(bucket, &ledger.CheckpointBucket{Client: bucket.Client, Name: c.ReplicaBucket})
				v.Checkpoints, v.Locks = src.Checkpoints, src.Locks
			}
			return v, nil
		},
		Records: &VerificationRecords{Signer: signer, Publisher: bucket, RetentionYears: c.RetentionYears},
		Sealer:  &ledger.Sealer{Records: store, Seals: bucket, Signer: signer, RetentionYears: c.RetentionYears},
		Retire: func(ctx context.Context) (ledger.RetireReport, error) {
			der, err := signer.PublicKey(ctx)
			if err != nil {
				return ledger.RetireReport{}, fmt.Errorf("reading the signing key's public key: %w", err)
			}
			keys := map[string][]byte{signer.KeyID(): der}
			for id, d := range c.PeerPublicKeys {
				if id != signer.KeyID() {
					keys[id] = d
				}
			}
			ring, err := ledger.NewKeyRing(keys)
			if err != nil {
				return ledger.RetireReport{}, err
			}
			return ledger.Retire(ctx, ledger.RetireOptions{Store: store, Bucket: bucket, PublicKeys: ring, RetentionYears: c.RetentionYears})
		},
		Log: log,
	}
}
