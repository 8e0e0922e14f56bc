// Command trafficwatch is the traffic watcher Lambda: it reads SNS, SQS (dead-letter queues) and
// CloudWatch Logs events and publishes alerts to the on-call topic. The logic is in
// internal/trafficwatch; this file only reads the configuration and starts the handler.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/carohealth/platform/internal/trafficwatch"
)

func main() {
	cfg, err := trafficwatch.LoadConfig(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	awsCfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion(cfg.Region))
	if err != nil {
		fmt.Fprintln(os.Stderr, "traffic watcher: load AWS configuration:", err)
		os.Exit(1)
	}
	pub := trafficwatch.SNSPublisher{Client: sns.NewFromConfig(awsCfg), TopicARN: cfg.AlertTopicARN}
	w, err := trafficwatch.New(cfg, pub, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	lambda.Start(w.HandleEvent)
}
