package backup

import (
	"context"
	"errors"
	"fmt"
	"github.com/carohealth/platform/internal/lambdasecrets"
	"time"
)

// Environment of the backup function (contracts.md names plus the backup's own).
const (
	EnvRegion             = "CARO_REGION"
	EnvMongoURI           = "CARO_MONGODB_URI"
	EnvMongoURISecretARN  = "CARO_MONGODB_URI_SECRET_ARN"
	EnvDatabase           = "CARO_DATABASE"
	EnvBucket             = "CARO_BACKUP_BUCKET"
	EnvKeyID              = "CARO_BACKUP_KEY_ID"
	EnvVerifyURI          = "CARO_VERIFY_MONGODB_URI"
	EnvVerifyURISecretARN = "CARO_VERIFY_MONGODB_URI_SECRET_ARN"
	EnvTempDir            = "CARO_BACKUP_TMPDIR"
	EnvUserPoolID         = "CARO_USER_POOL_ID"
	JobModeBackup         = "backup"
	JobModeVerify         = "verify"
)

// JobConfig is the scheduled function's configuration, read from the environment.
type JobConfig struct {
	Region, Database, Bucket, KeyID, TempDir string
	// UserPoolID, when set, makes the backup job write the identity export of that user pool.
	UserPoolID                    string
	MongoURI, MongoURISecretARN   string
	VerifyURI, VerifyURISecretARN string
	// SessionToken is the function's AWS session token (AWS_SESSION_TOKEN), which authenticates
	// it to the Lambda secrets extension.
	SessionToken string
}

// JobConfigFromEnv reads and checks the configuration.
func JobConfigFromEnv(getenv func(string) string) (JobConfig, error) {
	c := JobConfig{Region: getenv(EnvRegion), Database: getenv(EnvDatabase), Bucket: getenv(EnvBucket), KeyID: getenv(EnvKeyID),
		TempDir: getenv(EnvTempDir), UserPoolID: getenv(EnvUserPoolID), MongoURI: getenv(EnvMongoURI), MongoURISecretARN: getenv(EnvMongoURISecretARN),
		VerifyURI: getenv(EnvVerifyURI), VerifyURISecretARN: getenv(EnvVerifyURISecretARN), SessionToken: getenv("AWS_SESSION_TOKEN")}
	if c.Database == "" {
		c.Database = DefaultDatabase
	}
	var missing []string
	for name, v := range map[string]string{EnvRegion: c.Region, EnvBucket: c.Bucket, EnvKeyID: c.KeyID} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if c.MongoURI == "" && c.MongoURISecretARN == "" {
		missing = append(missing, EnvMongoURI+" or "+EnvMongoURISecretARN)
	}
	if len(missing) > 0 {
		return c, fmt.Errorf("backup job config: missing %v", missing)
	}
	return c, nil
}

// JobEvent is the scheduled rule's input: {"mode":"backup"} or {"mode":"verify"} (the newest
// backup, unless backupId names one).
type JobEvent struct {
	Mode     string `json:"mode"`
	BackupID string `json:"backupId,omitempty"`
}

// JobResult is what the function returns (and logs).
type JobResult struct {
	Mode     string   `json:"mode"`
	BackupID string   `json:"backupId"`
	Manifest *Summary `json:"manifest,omitempty"`
	// Identities is the number of users in the identity export written with the backup.
	Identities int           `json:"identities,omitempty"`
	Verify     *VerifyReport `json:"verify,omitempty"`
}

// JobDeps are the clients a job uses.
type JobDeps struct {
	Store ObjectStore
	KMS   KMS
	// Secret resolves a Secrets Manager ARN to its string (nil: the Parameters and Secrets
	// Lambda Extension).
	Secret   func(ctx context.Context, arn string) (string, error)
	Progress func(Progress)
	Now      func() time.Time
	// Identities, when set, lists the user pool's users; the backup job then writes the encrypted
	// identity export beside the backup (for the failover's identities step).
	Identities func(context.Context) ([]IdentityRecord, error)
}

// RunJob runs one scheduled backup or restore verification. A failed verification returns an
// error, so the function's Errors metric (and the alarm on it) fires.
func RunJob(ctx context.Context, c JobConfig, d JobDeps, ev JobEvent) (JobResult, error) {
	if ev.Mode == "" {
		ev.Mode = JobModeBackup
	}
	if d.Secret == nil {
		d.Secret = func(ctx context.Context, arn string) (string, error) {
			return lambdasecrets.Get(ctx, arn, c.SessionToken)
		}
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	res := JobResult{Mode: ev.Mode}
	source, err := resolve(ctx, d, c.MongoURI, c.MongoURISecretARN)
	if err != nil {
		return res, err
	}
	switch ev.Mode {
	case JobModeBackup:
		m, err := Create(ctx, CreateOptions{SourceURI: source, Database: c.Database, Store: d.Store, KMS: d.KMS, KeyID: c.KeyID, Region: c.Region, TempDir: c.TempDir, Progress: d.Progress, Now: d.Now})
		if err != nil {
			return res, err
		}
		res.BackupID = m.BackupID
		res.Manifest = &Summary{BackupID: m.BackupID, Database: m.Database, SourceRegion: m.SourceRegion, CreatedAt: m.CreatedAt, StoredBytes: m.StoredBytes, Documents: m.Documents, KMSKeyARN: m.KMSKeyARN, PlaintextSHA256: m.PlaintextSHA256}
		if d.Identities != nil {
			users, err := d.Identities(ctx)
			if err != nil {
				return res, fmt.Errorf("backup %s written, identity export failed: %w", m.BackupID, err)
			}
			if _, err := WriteIdentityExport(ctx, IdentityExportOptions{Store: d.Store, KMS: d.KMS, KeyID: c.KeyID, BackupID: m.BackupID, Region: c.Region}, users); err != nil {
				return res, fmt.Errorf("backup %s written, identity export failed: %w", m.BackupID, err)
			}
			res.Identities = len(users)
		}
		return res, nil
	case JobModeVerify:
		scratch := source
		if c.VerifyURI != "" || c.VerifyURISecretARN != "" {
			if scratch, err = resolve(ctx, d, c.VerifyURI, c.VerifyURISecretARN); err != nil {
				return res, err
			}
		}
		id := ev.BackupID
		if id == "" {
			list, err := List(ctx, d.Store, d.Now())
			if err != nil {
				return res, fmt.Errorf("verify: listing backups: %w", err)
			}
			if len(list) == 0 {
				return res, errors.New("verify: the bucket holds no backup: the backup schedule is not running")
			}
			id = list[0].BackupID
		}
		res.BackupID = id
		rep, err := Verify(ctx, VerifyOptions{BackupID: id, Store: d.Store, KMS: d.KMS, AllowedKeys: []string{c.KeyID}, ScratchURI: scratch, Progress: d.Progress})
		res.Verify = &rep
		return res, err
	}
	return res, fmt.Errorf("backup job: unknown mode %q (want %q or %q)", ev.Mode, JobModeBackup, JobModeVerify)
}

func resolve(ctx context.Context, d JobDeps, uri, arn string) (string, error) {
	if uri != "" {
		return uri, nil
	}
	return d.Secret(ctx, arn)
}
