// Command baseline is a one-stack CDK app (one Go function and one topic, built with the same
// constructs as the platform and synthesized the same way) that bench-synth measures the whole app
// against.
package main

import (
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/carohealth/platform/constructs/encryption"
	"github.com/carohealth/platform/constructs/gofunction"
	"github.com/carohealth/platform/constructs/messaging"
	"github.com/carohealth/platform/constructs/nagcheck"
	"github.com/carohealth/platform/constructs/templatecheck"
)

func main() {
	os.Exit(templatecheck.Main(func(app awscdk.App) error {
		stack := awscdk.NewStack(app, jsii.String("Baseline"), &awscdk.StackProps{
			Env: &awscdk.Environment{Region: jsii.String("eu-west-1")},
		})
		key := encryption.NewKey(stack, "Key", &encryption.KeyProps{Alias: "caro/baseline", Description: "baseline",
			LogsService: true, ServicePrincipals: []string{"sns.amazonaws.com", "cloudwatch.amazonaws.com"}})
		topic := messaging.NewTopic(stack, "Topic", &messaging.TopicProps{Key: key, DisplayName: "baseline"})
		gofunction.New(stack, "Health", &gofunction.Props{Folder: "health", Key: key, AlarmTopic: topic.Topic})
		nagcheck.Apply(app)
		return nil
	}, os.Stderr))
}
