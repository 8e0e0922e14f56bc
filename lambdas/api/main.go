// Command api is the platform API Lambda: API Gateway proxy events are served by internal/api, and
// EventBridge scheduled events run the audit outbox reconciler. Configuration comes from the
// environment (contracts.md): CARO_MONGODB_URI_SECRET_ARN or CARO_MONGODB_URI, CARO_DATABASE,
// CARO_AUDIT_TOPIC_ARN, CARO_ORIGIN_SECRET (optional), CARO_REGION, CARO_VERSION, and
// CARO_ERASURE_BUCKET, the region's backup bucket that holds the erasure register (unset: erasures
// are refused with 503, since a restore could undo them).
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/carohealth/platform/internal/api"
	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/erasure"
	"github.com/carohealth/platform/internal/maintenance"
	"github.com/carohealth/platform/internal/objstore"
)

// EnvErasureBucket names the bucket of the erasure register (constructs/backup sets it).
const EnvErasureBucket = "CARO_ERASURE_BUCKET"

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ep, err := build(log)
	if err != nil {
		log.Error("api function cannot start", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(ep.Invoke)
}

func build(log *slog.Logger) (*api.Entrypoint, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	env, err := api.EnvFrom(os.Getenv, true)
	if err != nil {
		return nil, err
	}
	client, err := api.Connect(ctx, env, os.Getenv)
	if err != nil {
		return nil, err
	}
	db := client.Database(env.Database)
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("AWS config: %w", err)
	}
	pub := &audit.SNSPublisher{Client: sns.NewFromConfig(awsCfg), TopicARN: env.AuditTopicARN}
	var register erasure.Recorder
	if bucket := os.Getenv(EnvErasureBucket); bucket != "" {
		// SSE-KMS with the bucket's default key; the function may only put under erasures/.
		register = erasure.NewRegister(objstore.NewS3(s3.NewFromConfig(awsCfg), bucket, ""))
	} else {
		log.Error("erasure register not configured: DELETE /subjects/{id} answers 503 until " + EnvErasureBucket + " is set")
	}
	h, err := api.NewHandler(api.Config{DB: db, Publisher: pub, OriginSecret: env.OriginSecret, Erasures: register, Logger: log})
	if err != nil {
		return nil, err
	}
	if err := h.EnsureIndexes(ctx); errors.Is(err, maintenance.ErrOn) {
		// A restore may be switching collections: the first scheduled run after it creates them.
		log.Warn("indexes not created at start: the maintenance switch is on", "error", err.Error())
	} else if err != nil {
		return nil, err
	}
	rec := api.NewReconciler(db, pub)
	rec.Logger = log
	rec.BatchSize = 200 // documents per collection per scheduled run, well inside the function timeout
	return &api.Entrypoint{API: h, Reconciler: rec}, nil
}
