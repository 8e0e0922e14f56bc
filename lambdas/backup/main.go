// Command backup is the scheduled backup function. EventBridge invokes it with {"mode":"backup"}
// (daily: a new encrypted logical backup in the backup bucket) or {"mode":"verify"} (weekly: the
// newest backup restored into a scratch database and checked; an error fires the alarm).
// Configuration: CARO_REGION, CARO_MONGODB_URI_SECRET_ARN (or CARO_MONGODB_URI locally),
// CARO_DATABASE, CARO_BACKUP_BUCKET, CARO_BACKUP_KEY_ID, optionally
// CARO_VERIFY_MONGODB_URI_SECRET_ARN (the server verify restores into; default the source) and
// CARO_USER_POOL_ID (write the encrypted identity export of that user pool beside each backup).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/carohealth/platform/internal/backup"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg, err := backup.JobConfigFromEnv(os.Getenv)
	if err != nil {
		log.Error("backup function cannot start", "error", err.Error())
		os.Exit(1)
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithRegion(cfg.Region))
	if err != nil {
		log.Error("backup function cannot start", "error", err.Error())
		os.Exit(1)
	}
	deps := backup.JobDeps{
		Store: backup.NewS3Store(s3.NewFromConfig(awsCfg), cfg.Bucket, ""),
		KMS:   backup.NewAWSKMS(kms.NewFromConfig(awsCfg)),
		Progress: func(p backup.Progress) {
			log.Info("progress", "phase", p.Phase, "collection", p.Collection, "done", p.Done, "total", p.Total, "message", p.Message)
		},
	}
	if cfg.UserPoolID != "" {
		deps.Identities = backup.CognitoIdentities(cip.NewFromConfig(awsCfg), cfg.UserPoolID)
	}
	lambda.Start(func(ctx context.Context, ev backup.JobEvent) (backup.JobResult, error) {
		res, err := backup.RunJob(ctx, cfg, deps, ev)
		if err != nil {
			log.Error("backup job failed", "mode", ev.Mode, "backupId", res.BackupID, "error", err.Error())
			return res, err
		}
		log.Info("backup job done", "mode", res.Mode, "backupId", res.BackupID)
		return res, nil
	})
}
