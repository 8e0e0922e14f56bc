// Package replication holds what the platform adds to CDK's S3 cross-region replication: the role
// CDK generates for a bucket's replication rules gets a unique name and its nag findings explained.
package replication

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"
	"github.com/carohealth/platform/constructs/nagcheck"
)

// AdoptRole fixes up the replication role CDK created for bucket. CDK names every such role
// "CDKReplicationRole"; IAM names are unique per account, so a second replicated bucket (in this
// stack or another region's) would fail to deploy. Dropping the name lets CloudFormation generate a
// unique one.
func AdoptRole(bucket awss3.Bucket) {
	role := bucket.Node().TryFindChild(jsii.String("ReplicationRole"))
	if role == nil {
		return
	}
	if cfn, ok := role.Node().DefaultChild().(awsiam.CfnRole); ok {
		cfn.AddPropertyDeletionOverride(jsii.String("RoleName"))
	}
	for _, child := range *role.Node().Children() {
		if *child.Node().Id() == "DefaultPolicy" {
			nagcheck.SuppressWithChildren(child, "AwsSolutions-IAM5",
				"CDK's S3 replication role reads object versions under this one bucket (bucket/*) and replicates into the one standby bucket; object-level wildcards are inherent to replication")
			nagcheck.SuppressWithChildren(child, "HIPAA.Security-IAMNoInlinePolicy",
				"CDK generates the replication role with its policy; it is used only by the S3 replication service principal for this bucket")
		}
	}
}
