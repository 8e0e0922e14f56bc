// Command retention is the daily retention job of a region: EventBridge invokes it with
// {"mode":"expire"} and it erases every patient record whose retention ended (internal/retention).
// Configuration: CARO_REGION, CARO_RETENTION_YEARS (the region's retentionYears),
// CARO_MONGODB_URI_SECRET_ARN (or CARO_MONGODB_URI locally), CARO_DATABASE.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/carohealth/platform/internal/retention"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg, err := retention.JobConfigFromEnv(os.Getenv)
	if err != nil {
		log.Error("retention function cannot start", "error", err.Error())
		os.Exit(1)
	}
	deps := retention.JobDeps{Progress: func(s string) { log.Info("progress", "message", s) }}
	lambda.Start(func(ctx context.Context, ev retention.JobEvent) (retention.Report, error) {
		rep, err := retention.RunJob(ctx, cfg, deps, ev)
		if err != nil {
			log.Error("retention job failed", "expired", rep.Expired, "error", err.Error())
			return rep, err
		}
		log.Info("retention job done", "expired", rep.Expired, "kept", rep.Kept, "complete", rep.Complete, "keptSince", rep.KeptSince)
		return rep, nil
	})
}
