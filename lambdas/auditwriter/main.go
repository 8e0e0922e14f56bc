// Command auditwriter is the Lambda that writes audit events from the audit topic into the ledger
// (see internal/ledger/writer).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/carohealth/platform/internal/ledger/writer"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg, err := writer.ConfigFromEnv(os.Getenv)
	if err != nil {
		log.Error(err.Error())
		os.Exit(1)
	}
	h, closeFn, err := writer.Build(context.Background(), cfg, log)
	if err != nil {
		log.Error(err.Error())
		os.Exit(1)
	}
	defer closeFn()
	lambda.Start(h.Handle)
}
