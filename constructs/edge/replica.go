package edge

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/carohealth/platform/constructs/accesslogs"
	"github.com/carohealth/platform/constructs/nagcheck"
)

// ReplicaKeyAlias is the alias of the replica bucket's key. The edge stack names the key by its alias
// ARN, which is known before the standby stack is deployed, so the stacks share no outputs.
const ReplicaKeyAlias = "caro/assets-replica"

// ReplicaBucketName is the deterministic name of the asset replica bucket in region. account may be a
// token (e.g. awscdk.Aws_ACCOUNT_ID()).
func ReplicaBucketName(account, region string) string {
	return fmt.Sprintf("caro-assets-replica-%s-%s", account, region)
}

// ReplicaBucketArn is the ARN of ReplicaBucketName(account, region).
func ReplicaBucketArn(account, region string) string {
	return "arn:aws:s3:::" + ReplicaBucketName(account, region)
}

// ReplicaKeyAliasArn is the alias ARN of the replica bucket's key in region.
func ReplicaKeyAliasArn(account, region string) string {
	return fmt.Sprintf("arn:aws:kms:%s:%s:alias/%s", region, account, ReplicaKeyAlias)
}

// AssetReplicaProps configures the replica.
type AssetReplicaProps struct {
	// AccessLogs receives the replica's server access logs; nil creates a log bucket for it.
	AccessLogs awss3.IBucket
}

// AssetReplica is the standby-region copy of the front-end assets, the destination of the edge asset
// bucket's replication and the fallback origin of the distribution's asset origin group. It lives in
// a stack of the standby region that is deployed before the edge stack (S3 refuses a replication rule
// whose destination does not exist).
type AssetReplica struct {
	Bucket     awss3.Bucket
	Key        awskms.Key
	AccessLogs awss3.IBucket
}

// NewAssetReplica creates the replica bucket (named ReplicaBucketName, KMS key aliased ReplicaKeyAlias,
// versioned as replication requires, private, TLS-only, server access logs). Its bucket and key
// policies let CloudFront distributions of this account read it through origin access control: the
// distribution lives in another stack and region, so its ARN cannot be named here without a
// cross-stack reference; reads still need a signed OAC request from this account's distribution.
func NewAssetReplica(scope constructs.Construct, id string, props *AssetReplicaProps) *AssetReplica {
	c := constructs.NewConstruct(scope, jsii.String(id))
	accesslogs.UseBucketPolicy(c)
	stack := awscdk.Stack_Of(c)
	var accessLogs awss3.IBucket
	if props != nil && props.AccessLogs != nil {
		accessLogs = props.AccessLogs
	} else {
		accessLogs = accesslogs.New(c, "AccessLogs")
	}
	key := newEdgeKey(c, "Key", ReplicaKeyAlias, "Encrypts the standby copy of the front-end assets", false)
	bucket := awss3.NewBucket(c, jsii.String("Bucket"), &awss3.BucketProps{
		BucketName:             jsii.String(ReplicaBucketName(*stack.Account(), *stack.Region())),
		Encryption:             awss3.BucketEncryption_KMS,
		EncryptionKey:          key,
		BucketKeyEnabled:       jsii.Bool(true),
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:             jsii.Bool(true),
		MinimumTLSVersion:      jsii.Number(1.2),
		Versioned:              jsii.Bool(true),
		ObjectOwnership:        awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		ServerAccessLogsBucket: accessLogs,
		ServerAccessLogsPrefix: jsii.String("assets-replica/"),
		RemovalPolicy:          awscdk.RemovalPolicy_RETAIN,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:                          jsii.String("expire-old-versions"),
			NoncurrentVersionExpiration: awscdk.Duration_Days(jsii.Number(90)),
		}},
	})
	nagcheck.Suppress(bucket, "HIPAA.Security-S3BucketReplicationEnabled",
		"this bucket is the cross-region replica of the edge asset bucket in us-east-1; the source is the second copy")

	distributions := fmt.Sprintf("arn:aws:cloudfront::%s:distribution/*", *stack.Account())
	cloudFront := &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudfront.amazonaws.com"), nil)}
	bucket.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("AllowCloudFrontOACFailoverReads"),
		Principals: cloudFront,
		Actions:    jsii.Strings("s3:GetObject"),
		Resources:  jsii.Strings(*bucket.ArnForObjects(jsii.String("*"))),
		Conditions: &map[string]any{"ArnLike": map[string]any{"AWS:SourceArn": distributions}},
	}))
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("AllowCloudFrontOACFailoverDecrypt"),
		Principals: cloudFront,
		Actions:    jsii.Strings("kms:Decrypt"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{"ArnLike": map[string]any{"AWS:SourceArn": distributions}},
	}), jsii.Bool(true))
	return &AssetReplica{Bucket: bucket, Key: key, AccessLogs: accessLogs}
}
