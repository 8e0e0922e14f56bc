// Command backupengine is the worker of the backup engine's two Step Functions state machines
// (constructs/backupengine): each state invokes it with {"op": ...}: plan, part, finalize (the
// backup), prestage-begin, prestage-load, prestage-complete, prestage-abort (the standby's
// pre-stage). The work is internal/backupengine's. Configuration: CARO_REGION, CARO_DATABASE,
// CARO_MONGODB_URI_SECRET_ARN (or CARO_MONGODB_URI locally), CARO_BACKUP_BUCKET, CARO_BACKUP_KEY_ID,
// CARO_STANDBY_BUCKET, CARO_PEER_BACKUP_KEY_ID, CARO_PEER_REGION, CARO_USER_POOL_ID,
// CARO_BACKUP_PART_DOCUMENTS.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/backupengine"
	"github.com/carohealth/platform/internal/lambdasecrets"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	fail := func(err error) {
		log.Error("backup engine worker cannot start", "error", err.Error())
		os.Exit(1)
	}
	cfg, uri, uriSecret, err := backupengine.ConfigFromEnv(os.Getenv)
	if err != nil {
		fail(err)
	}
	ctx := context.Background()
	if uri == "" {
		if uri, err = lambdasecrets.Get(ctx, uriSecret, os.Getenv("AWS_SESSION_TOKEN")); err != nil {
			fail(err)
		}
	}
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetTimeout(5 * time.Minute))
	if err != nil {
		fail(err)
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(cfg.Region))
	if err != nil {
		fail(err)
	}
	if cfg.PeerKeyID == "" && cfg.PeerKeyParameter != "" {
		// The peer writes its key's replica ARN here at deploy time (constructs/peershare).
		out, err := ssm.NewFromConfig(awsCfg).GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(cfg.PeerKeyParameter)})
		if err != nil {
			fail(fmt.Errorf("reading the peer's backup key replica from %s: %w (deploy the peer region's platform stack)", cfg.PeerKeyParameter, err))
		}
		cfg.PeerKeyID = aws.ToString(out.Parameter.Value)
	}
	s3c := s3.NewFromConfig(awsCfg)
	deps := backupengine.Deps{
		Mongo: client, Own: backup.NewS3Store(s3c, cfg.Bucket, ""), KMS: backup.NewAWSKMS(kms.NewFromConfig(awsCfg)),
		Progress: func(p backup.Progress) {
			log.Info("progress", "phase", p.Phase, "collection", p.Collection, "done", p.Done, "total", p.Total, "message", p.Message)
		},
	}
	if cfg.StandbyBucket != "" {
		deps.Standby = backup.NewS3Store(s3c, cfg.StandbyBucket, "")
	}
	if cfg.UserPoolID != "" {
		deps.Identities = backup.CognitoIdentities(cip.NewFromConfig(awsCfg), cfg.UserPoolID)
	}
	lambda.Start(func(ctx context.Context, ev backupengine.Event) (backupengine.Result, error) {
		res, err := backupengine.Handle(ctx, cfg, deps, ev)
		if err != nil {
			log.Error("backup engine step failed", "op", ev.Op, "backupId", res.BackupID, "run", res.Run, "error", err.Error())
			return res, err
		}
		log.Info("backup engine step done", "op", ev.Op, "backupId", res.BackupID, "skip", res.Skip, "reason", res.Reason)
		return res, nil
	})
}
