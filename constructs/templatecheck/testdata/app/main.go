// Command app is a one-stack CDK app for templatecheck's end-to-end test. With TEMPLATECHECK_REJECT=1
// its stack also holds a bucket CloudFormation would reject (a property S3 buckets do not have).
package main

import (
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/jsii-runtime-go"
	"github.com/carohealth/platform/constructs/templatecheck"
)

func main() {
	os.Exit(templatecheck.Main(func(app awscdk.App) error {
		stack := awscdk.NewStack(app, jsii.String("Checked"), &awscdk.StackProps{
			Env: &awscdk.Environment{Region: jsii.String("eu-west-1")},
		})
		awssns.NewTopic(stack, jsii.String("Topic"), &awssns.TopicProps{EnforceSSL: jsii.Bool(true)})
		if os.Getenv("TEMPLATECHECK_REJECT") == "1" {
			awscdk.NewCfnResource(stack, jsii.String("Rejected"), &awscdk.CfnResourceProps{
				Type:       jsii.String("AWS::S3::Bucket"),
				Properties: &map[string]interface{}{"Versioned": true},
			})
		}
		return nil
	}, os.Stderr))
}
