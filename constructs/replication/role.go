package replication

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/carohealth/platform/constructs/nagcheck"
)

// GrantProps describe one replication: a source bucket encrypted with SourceKey, replicated to a
// destination bucket whose replicas Destination.KeyArn encrypts.
type GrantProps struct {
	// SourceBucketArn is the bucket the rules belong to (a token is fine).
	SourceBucketArn *string
	// SourceKey encrypts the source objects (SSE-KMS).
	SourceKey awskms.IKey
	// Destination is where the objects go; its KeyArn may be an alias ARN.
	Destination Destination
	// ObjectLock is set when the source bucket has Object Lock: S3 then reads each version's
	// retention and legal hold to replicate them.
	ObjectLock bool
}

// NewRole creates the role S3 assumes to replicate a bucket (give it to the bucket's
// ReplicationRole, then GrantReplication once the bucket exists). Its name is generated: IAM names
// are account-wide, and CDK's own replication role has a fixed one.
func NewRole(scope constructs.Construct, id, description string) awsiam.Role {
	return awsiam.NewRole(scope, jsii.String(id), &awsiam.RoleProps{
		Description: jsii.String(description),
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("s3.amazonaws.com"), nil),
	})
}

// GrantReplication gives role exactly the permissions AWS documents for replicating SSE-KMS
// objects (with S3 Bucket Keys) and their Object Lock retention, in a managed policy of its own,
// which it returns (whatever writes objects during the deploy should depend on it). CDK grants
// these only to a replication role it creates itself, and grants the replica key's actions on
// whatever ARN it is given: an alias ARN there covers the alias, not the key behind it, so every
// object would fail to replicate. Here a key named by its alias is granted as key/* of its region
// and account, narrowed by kms:ResourceAliases, through S3 only, for the destination bucket.
func GrantReplication(scope constructs.Construct, id string, role awsiam.IRole, p *GrantProps) awsiam.ManagedPolicy {
	if p == nil || p.SourceBucketArn == nil || p.SourceKey == nil || p.Destination.BucketArn == "" || p.Destination.KeyArn == nil || p.Destination.Region == "" {
		panic("replication.GrantReplication " + id + ": SourceBucketArn, SourceKey, Destination.BucketArn, Destination.KeyArn and Destination.Region are required")
	}
	stack := awscdk.Stack_Of(scope)
	source := *p.SourceBucketArn
	dest := p.Destination.BucketArn
	objectReads := []string{"s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"}
	if p.ObjectLock {
		objectReads = append(objectReads, "s3:GetObjectRetention", "s3:GetObjectLegalHold")
	}
	viaS3 := func(region string, bucket string) map[string]interface{} {
		return map[string]interface{}{
			"StringEquals": map[string]interface{}{"kms:ViaService": fmt.Sprintf("s3.%s.amazonaws.com", region)},
			// With S3 Bucket Keys the context is the bucket's ARN, without them the object's.
			"StringLike": map[string]interface{}{"kms:EncryptionContext:aws:s3:arn": []string{bucket, bucket + "/*"}},
		}
	}
	destKey, destConditions := []string{*p.Destination.KeyArn}, viaS3(p.Destination.Region, dest)
	if region, account, alias, ok := ParseAliasArn(*p.Destination.KeyArn); ok {
		destKey = []string{fmt.Sprintf("arn:aws:kms:%s:%s:key/*", region, account)}
		destConditions["ForAnyValue:StringEquals"] = map[string]interface{}{"kms:ResourceAliases": alias}
	}
	statement := func(sid string, actions, resources []string, conditions map[string]interface{}) awsiam.PolicyStatement {
		props := &awsiam.PolicyStatementProps{Sid: jsii.String(sid), Actions: jsii.Strings(actions...), Resources: jsii.Strings(resources...)}
		if conditions != nil {
			props.Conditions = &conditions
		}
		return awsiam.NewPolicyStatement(props)
	}
	policy := awsiam.NewManagedPolicy(scope, jsii.String(id), &awsiam.ManagedPolicyProps{
		Description: jsii.String("S3 replication of one bucket: read versions (and their Object Lock) at the source, replicate into the destination, through the two buckets' keys"),
		Roles:       &[]awsiam.IRole{role},
		Statements: &[]awsiam.PolicyStatement{
			statement("SourceBucket", []string{"s3:GetReplicationConfiguration", "s3:ListBucket"}, []string{source}, nil),
			statement("SourceObjectVersions", objectReads, []string{source + "/*"}, nil),
			statement("ReplicateIntoDestination", []string{"s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"}, []string{dest + "/*"}, nil),
			statement("DecryptSourceViaS3", []string{"kms:Decrypt"}, []string{*p.SourceKey.KeyArn()}, viaS3(*stack.Region(), source)),
			// kms:Decrypt too: with an S3 Bucket Key on the destination, S3 verifies the bucket key
			// with the replication role's permission.
			statement("EncryptReplicasViaS3", []string{"kms:Encrypt", "kms:GenerateDataKey", "kms:Decrypt"}, destKey, destConditions),
		},
	})
	reason := "S3 replication reads every object version of the one source bucket (<bucket>/*) and replicates into the one destination bucket " +
		"(<bucket>/*); the replica key, generated in the destination region's stack, is named key/* there and narrowed by its alias, " +
		"usable only through S3 for the destination bucket; the role is assumable only by s3.amazonaws.com"
	nagcheck.Suppress(policy, "AwsSolutions-IAM5", reason)
	return policy
}

// ParseAliasArn splits "arn:aws:kms:<region>:<account>:alias/<name>" into region, account and
// "alias/<name>"; ok is false for anything else (a key ARN, a token).
func ParseAliasArn(arn string) (region, account, alias string, ok bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[2] != "kms" || !strings.HasPrefix(parts[5], "alias/") {
		return "", "", "", false
	}
	return parts[3], parts[4], parts[5], true
}
