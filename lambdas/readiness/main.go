// Command readiness is the standby region's scheduled readiness check (constructs/readiness):
// EventBridge invokes it every 30 minutes; it runs every check a failover plan runs, through the
// same AWS provider the on-call CLI uses, and publishes the result to CloudWatch (namespace
// Caro/Readiness), where a blocker alarms on-call. Configuration: CARO_REGION (this region, which
// would take over) and CARO_READINESS_SOURCE (the region it would take over from); every other
// setting is resolved by internal/config from the deployed stacks, secrets and parameters.
package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"

	"github.com/carohealth/platform/internal/config"
	"github.com/carohealth/platform/internal/config/awscloud"
	"github.com/carohealth/platform/internal/failover"
	awsprov "github.com/carohealth/platform/internal/providers/aws"
	"github.com/carohealth/platform/internal/readiness"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	region, source := os.Getenv("CARO_REGION"), os.Getenv("CARO_READINESS_SOURCE")
	if region == "" || source == "" {
		log.Error("readiness function cannot start: CARO_REGION and CARO_READINESS_SOURCE are required (constructs/readiness sets them)")
		os.Exit(1)
	}
	lambda.Start(func(ctx context.Context) (*failover.ReadinessReport, error) {
		cfg, err := (&config.Loader{Cloud: &awscloud.Cloud{}}).Load(ctx, region)
		if err != nil {
			return nil, err
		}
		prov, err := awsprov.New(ctx, awsprov.ConfigFrom(ctx, cfg))
		if err != nil {
			return nil, err
		}
		awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(region))
		if err != nil {
			return nil, err
		}
		req := failover.Request{From: source, To: region, Primary: cfg.Regions().Primary().Region, Restore: "backup"}
		rep, err := readiness.Run(ctx, prov, req, cloudwatch.NewFromConfig(awsCfg), time.Now())
		for _, c := range rep.Checks {
			if c.Status != failover.CheckOK {
				log.Warn("readiness", "check", c.Name, "status", string(c.Status), "detail", c.Detail)
			}
		}
		log.Info("readiness", "to", rep.To, "from", rep.From, "ready", rep.Ready, "blockers", rep.Blockers, "warnings", rep.Warnings)
		return rep, err
	})
}
