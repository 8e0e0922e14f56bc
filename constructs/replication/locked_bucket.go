package replication

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/carohealth/platform/constructs/nagcheck"
)

// RetentionDays is a retention period of whole years in days, leap days included (rounded up), so
// a bucket and its replica lock objects for exactly the same time.
func RetentionDays(years int) int { return years*365 + (years+3)/4 }

// Destination is where a locked bucket replicates to: a locked bucket in another region.
type Destination struct {
	// BucketArn is the destination bucket; it must have Object Lock and versioning.
	BucketArn string
	// KeyArn encrypts the replicas at rest in the destination region (key or alias ARN).
	KeyArn *string
	// Region is the destination bucket's region (S3 ARNs carry none).
	Region string
	// RuleID names the replication rule, for example "backups-to-standby".
	RuleID string
}

// LockedBucketProps configures a locked bucket.
type LockedBucketProps struct {
	// BucketName, when set, names the bucket (so another region's stack can name it).
	BucketName string
	// Key encrypts the objects (SSE-KMS with a bucket key).
	Key awskms.IKey
	// AccessLogs receives the server access logs under LogPrefix.
	AccessLogs awss3.IBucket
	LogPrefix  string
	// RetentionYears locks every object version in COMPLIANCE mode: nobody, root included, can
	// delete or shorten it before then.
	RetentionYears int
	// Holds is what the bucket keeps; it sets the bucket's lifecycle (Lifecycle), the same for a
	// source and its replica, and its HoldsTagKey tag. Required.
	Holds Holds
	// Replica, when set, replicates every object to another region.
	Replica *Destination
	// NotReplicatedBecause explains (for cdk-nag) why a bucket without Replica is not replicated.
	NotReplicatedBecause string
}

// NewLockedBucket creates a bucket for records that must outlive any mistake or attack: versioned,
// Object Lock in compliance mode for the retention period, KMS-encrypted, TLS 1.2+ only, public
// access blocked, access-logged, retained when the stack is deleted, and replicated when asked.
func NewLockedBucket(scope constructs.Construct, id string, props *LockedBucketProps) awss3.Bucket {
	if props.Key == nil || props.AccessLogs == nil || props.RetentionYears < 1 {
		panic("replication.NewLockedBucket " + id + ": Key, AccessLogs and RetentionYears (>= 1) are required")
	}
	if props.Holds != HoldsBackups && props.Holds != HoldsAuditCheckpoints {
		panic("replication.NewLockedBucket " + id + ": Holds is required (HoldsBackups or HoldsAuditCheckpoints): it decides when objects expire")
	}
	if props.Replica == nil && props.NotReplicatedBecause == "" {
		panic("replication.NewLockedBucket " + id + ": give a Replica, or NotReplicatedBecause")
	}
	days := float64(RetentionDays(props.RetentionYears))
	bp := &awss3.BucketProps{
		ObjectLockEnabled:          jsii.Bool(true),
		ObjectLockDefaultRetention: awss3.ObjectLockRetention_Compliance(awscdk.Duration_Days(jsii.Number(days))),
		Versioned:                  jsii.Bool(true),
		Encryption:                 awss3.BucketEncryption_KMS,
		EncryptionKey:              props.Key,
		BucketKeyEnabled:           jsii.Bool(true),
		EnforceSSL:                 jsii.Bool(true),
		MinimumTLSVersion:          jsii.Number(1.2),
		BlockPublicAccess:          awss3.BlockPublicAccess_BLOCK_ALL(),
		ObjectOwnership:            awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		ServerAccessLogsBucket:     props.AccessLogs,
		ServerAccessLogsPrefix:     jsii.String(props.LogPrefix),
		RemovalPolicy:              awscdk.RemovalPolicy_RETAIN,
		LifecycleRules:             Lifecycle(props.Holds, props.RetentionYears),
	}
	if props.BucketName != "" {
		bp.BucketName = jsii.String(props.BucketName)
	}
	var role awsiam.Role
	if r := props.Replica; r != nil {
		role = NewRole(scope, id+"ReplicationRole", "S3 replicates "+r.RuleID+" to "+r.Region)
		bp.ReplicationRole = role
		bp.ReplicationRules = &[]*awss3.ReplicationRule{{
			Destination:            awss3.Bucket_FromBucketArn(scope, jsii.String(id+"Replica"), jsii.String(r.BucketArn)),
			KmsKey:                 awskms.Key_FromKeyArn(scope, jsii.String(id+"ReplicaKey"), r.KeyArn),
			SseKmsEncryptedObjects: jsii.Bool(true),
			Priority:               jsii.Number(1),
			Id:                     jsii.String(r.RuleID),
		}}
	}
	bucket := awss3.NewBucket(scope, jsii.String(id), bp)
	awscdk.Tags_Of(bucket).Add(jsii.String(HoldsTagKey), jsii.String(string(props.Holds)), nil)
	if r := props.Replica; r != nil {
		GrantReplication(scope, id+"ReplicationPolicy", role, &GrantProps{
			SourceBucketArn: bucket.BucketArn(), SourceKey: props.Key, Destination: *r, ObjectLock: true,
		})
	} else {
		nagcheck.Suppress(bucket, "HIPAA.Security-S3BucketReplicationEnabled", props.NotReplicatedBecause)
	}
	return bucket
}
