package edge

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfront"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3assets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3deployment"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/carohealth/platform/constructs/nagcheck"
)

// SiteProps configures the publication of the front end.
type SiteProps struct {
	// Dir is the folder of static files (the repository's web/), published as is except source,
	// test and development files.
	Dir string
	// Bucket is the asset bucket; Distribution is invalidated after each publication.
	Bucket       awss3.IBucket
	Distribution awscloudfront.IDistribution
	// Config is the config.json served in place of the development one (which names the local
	// runner's token issuer).
	Config map[string]interface{}
	// LogsKey encrypts the deploy-time function's log group.
	LogsKey awskms.IKey
}

// NewSite publishes the front end and /.well-known/security.txt to the asset bucket on every
// deploy, through CDK's BucketDeployment (a deploy-time function run by CloudFormation), and
// invalidates the distribution so viewers get the new files.
func NewSite(scope constructs.Construct, id string, props *SiteProps) awss3deployment.BucketDeployment {
	deployment := awss3deployment.NewBucketDeployment(scope, jsii.String(id), &awss3deployment.BucketDeploymentProps{
		Sources: &[]awss3deployment.ISource{
			awss3deployment.Source_Asset(jsii.String(props.Dir), &awss3assets.AssetOptions{
				Exclude: jsii.Strings("*.go", "README.md", "config.json"),
			}),
			awss3deployment.Source_JsonData(jsii.String("config.json"), props.Config, nil),
		},
		DestinationBucket: props.Bucket,
		Distribution:      props.Distribution,
		DistributionPaths: jsii.Strings("/*"),
		Prune:             jsii.Bool(true),
		MemoryLimit:       jsii.Number(256),
		LogGroup: awslogs.NewLogGroup(scope, jsii.String(id+"Logs"), &awslogs.LogGroupProps{
			EncryptionKey: props.LogsKey,
			Retention:     awslogs.RetentionDays_ONE_YEAR,
			RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
		}),
	})
	// The findings below are on the function CDK provides for BucketDeployment: it runs only while
	// CloudFormation deploys this stack, with the deploy's own role session, and copies the committed,
	// reviewed files of web/ from the CDK asset bucket into the asset bucket.
	reason := "CDK-provided deploy-time function of BucketDeployment: runs only during CloudFormation deploys of the reviewed web/ files; " +
		"not reachable from the internet; its role is limited by CDK to the CDK asset bucket and this site's bucket, key and distribution"
	stack := awscdk.Stack_Of(scope)
	for _, child := range *stack.Node().Children() {
		if strings.HasPrefix(*child.Node().Id(), "Custom::CDKBucketDeployment") {
			for _, rule := range []string{"AwsSolutions-IAM4", "AwsSolutions-IAM5", "AwsSolutions-L1", "HIPAA.Security-IAMNoInlinePolicy",
				"HIPAA.Security-LambdaConcurrency", "HIPAA.Security-LambdaDLQ", "HIPAA.Security-LambdaInsideVPC"} {
				nagcheck.SuppressWithChildren(child, rule, reason)
			}
		}
	}
	return deployment
}
