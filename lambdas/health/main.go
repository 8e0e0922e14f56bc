// Command health is the GET /health Lambda: database reachability, region, version and the restore
// marker (internal/health); it also answers GET /auth/config, the region's user pool and web client
// for the front end's sign-in. Environment: CARO_MONGODB_URI_SECRET_ARN or CARO_MONGODB_URI,
// CARO_DATABASE, CARO_REGION, CARO_VERSION, CARO_USER_POOL_ID, CARO_USER_POOL_CLIENT_ID (both unset:
// /auth/config answers 404; invalid: logged at start, /auth/config answers 503, /health still works).
package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/carohealth/platform/internal/api"
	"github.com/carohealth/platform/internal/health"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	env, err := api.EnvFrom(os.Getenv, false)
	if err != nil {
		log.Error("health function cannot start", "error", err.Error())
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	client, err := api.Connect(ctx, env, os.Getenv)
	cancel()
	if err != nil {
		log.Error("health function cannot start", "error", err.Error())
		os.Exit(1)
	}
	checker := health.New(health.Config{DB: client.Database(env.Database), Region: env.Region, Version: env.Version, Logger: log,
		SignIn: health.SignInConfigFrom(os.Getenv)})
	lambda.Start(checker.Handle)
}
