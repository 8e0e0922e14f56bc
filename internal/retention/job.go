package retention

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/lambdasecrets"
)

// Environment of the retention function (set by constructs/retention and the platform stack).
const (
	EnvRegion            = "CARO_REGION"
	EnvMongoURI          = "CARO_MONGODB_URI"
	EnvMongoURISecretARN = "CARO_MONGODB_URI_SECRET_ARN"
	EnvDatabase          = "CARO_DATABASE"
	EnvRetentionYears    = "CARO_RETENTION_YEARS"
)

// JobActor is the actor of the job's audit events.
const JobActor = "job:retention"

// JobConfig is the scheduled function's configuration.
type JobConfig struct {
	Region, Database            string
	MongoURI, MongoURISecretARN string
	// Years is the region's retentionYears.
	Years int
	// SessionToken is the function's AWS_SESSION_TOKEN (the secrets extension requires it).
	SessionToken string
}

// JobConfigFromEnv reads and checks the configuration; getenv is os.Getenv in the function.
func JobConfigFromEnv(getenv func(string) string) (JobConfig, error) {
	c := JobConfig{Region: getenv(EnvRegion), Database: getenv(EnvDatabase), MongoURI: getenv(EnvMongoURI),
		MongoURISecretARN: getenv(EnvMongoURISecretARN), SessionToken: getenv("AWS_SESSION_TOKEN")}
	if c.Database == "" {
		c.Database = "caro"
	}
	var missing []string
	if c.Region == "" {
		missing = append(missing, EnvRegion)
	}
	if c.MongoURI == "" && c.MongoURISecretARN == "" {
		missing = append(missing, EnvMongoURI+" or "+EnvMongoURISecretARN)
	}
	raw := getenv(EnvRetentionYears)
	if raw == "" {
		missing = append(missing, EnvRetentionYears)
	}
	if len(missing) > 0 {
		return c, fmt.Errorf("retention job config: missing %v", missing)
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > 100 {
		return c, fmt.Errorf("retention job config: %s=%q: give the region's retentionYears, 1 to 100", EnvRetentionYears, raw)
	}
	c.Years = n
	return c, nil
}

// JobEvent is the schedule's input: {"mode":"expire"}.
type JobEvent struct {
	Mode string `json:"mode"`
}

// JobDeps are what a run needs besides its configuration; zero values are the function's.
type JobDeps struct {
	// Secret resolves a Secrets Manager ARN (default: the Lambda secrets extension).
	Secret func(ctx context.Context, arn string) (string, error)
	// Now is the clock.
	Now func() time.Time
	// Progress receives the run's lines.
	Progress func(string)
}

// RunJob connects to the database, makes sure the job's index exists and runs the rule once.
func RunJob(ctx context.Context, c JobConfig, d JobDeps, ev JobEvent) (Report, error) {
	if ev.Mode != "" && ev.Mode != "expire" {
		return Report{}, fmt.Errorf("retention job: unknown mode %q: the schedule sends {\"mode\":\"expire\"}", ev.Mode)
	}
	uri := c.MongoURI
	if uri == "" {
		get := d.Secret
		if get == nil {
			get = func(ctx context.Context, arn string) (string, error) {
				return lambdasecrets.Get(ctx, arn, c.SessionToken)
			}
		}
		var err error
		if uri, err = get(ctx, c.MongoURISecretARN); err != nil {
			return Report{}, err
		}
	}
	if uri == "" {
		return Report{}, errors.New("retention job: the connection string is empty")
	}
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetServerSelectionTimeout(20 * time.Second))
	if err != nil {
		return Report{}, fmt.Errorf("retention job: connect: %w", err)
	}
	defer client.Disconnect(context.WithoutCancel(ctx))
	db := client.Database(c.Database)
	if err := EnsureIndexes(ctx, db, Options{}.Collections); err != nil {
		return Report{}, err
	}
	return Run(ctx, Options{DB: db, Years: c.Years, Now: d.Now, Progress: d.Progress,
		Origin: audit.Origin{Actor: JobActor, Interface: audit.InterfaceJob, RequestID: audit.NewEventID()}})
}
