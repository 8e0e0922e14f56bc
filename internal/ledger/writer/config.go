package writer

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/lambdasecrets"
	"github.com/carohealth/platform/internal/ledger"
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
)

// Config is the writer's configuration.
type Config struct {
	MongoURI, MongoURISecretARN, Database, Bucket, SigningKey string
	RetentionYears                                            int
	Interval                                                  uint64
	MaxAge                                                    time.Duration
}

// ConfigFromEnv reads the configuration and says which variable is wrong.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{MongoURI: getenv(EnvMongoURI), MongoURISecretARN: getenv(EnvMongoURISecretARN), Database: getenv(EnvDatabase),
		Bucket: getenv(EnvBucket), SigningKey: getenv(EnvSigningKey), RetentionYears: ledger.DefaultRetentionYears,
		Interval: ledger.DefaultInterval, MaxAge: ledger.DefaultMaxAge}
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
	return c, nil
}

// Build connects to MongoDB, S3 and KMS and returns the handler and a close function.
func Build(ctx context.Context, c Config, log *slog.Logger) (*Handler, func(), error) {
	uri := c.MongoURI
	if uri == "" {
		var err error
		// Through the AWS Parameters and Secrets Lambda Extension (the layer gofunction adds).
		if uri, err = lambdasecrets.Get(ctx, c.MongoURISecretARN, os.Getenv("AWS_SESSION_TOKEN")); err != nil {
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
			pub, err := ledger.ParsePublicKey(der)
			if err != nil {
				return nil, err
			}
			return &ledger.Verifier{Entries: store, Checkpoints: bucket, Locks: bucket, PublicKey: pub, RetentionYears: c.RetentionYears}, nil
		},
		Log: log,
	}
}
