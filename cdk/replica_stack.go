package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/carohealth/platform/constructs/accesslogs"
	"github.com/carohealth/platform/constructs/edge"
	"github.com/carohealth/platform/constructs/encryption"
	"github.com/carohealth/platform/constructs/replication"
)

// ReplicaStackProps configures the replica stack of one region.
type ReplicaStackProps struct {
	awscdk.StackProps
	// Region holds the replicas; the peer region's platform stack replicates into it.
	Region string
	// RetentionYears is the retention of the region that replicates into this one (its region
	// definition, default 9): the replicas are locked and expire exactly as the originals.
	RetentionYears int
	// Assets adds the front-end asset replica (in the standby region, the edge's failover origin).
	Assets bool
}

// Replica bucket kinds, part of their deterministic names.
const (
	replicaLedger = "ledger"
	replicaBackup = "backup"
)

// replicaKeyAlias is the alias of the replica stack's key, so peers name it without a reference.
const replicaKeyAlias = "caro/replica"

// ReplicaBucketName is the name of a replica bucket of kind in region (account may be a token).
func ReplicaBucketName(kind, account, region string) string {
	return fmt.Sprintf("caro-%s-replica-%s-%s", kind, account, region)
}

// ReplicaBucketArn is the ARN of ReplicaBucketName.
func ReplicaBucketArn(kind, account, region string) string {
	return "arn:aws:s3:::" + ReplicaBucketName(kind, account, region)
}

// ReplicaKeyArn is the alias ARN of the replica key in region.
func ReplicaKeyArn(account, region string) string {
	return fmt.Sprintf("arn:aws:kms:%s:%s:alias/%s", region, account, replicaKeyAlias)
}

// NewReplicaStack creates the destinations into which the peer region replicates its audit
// checkpoints and backups (and, in the standby, the edge its assets). They live in a stack of their
// own, deployed first, because S3 refuses a replication rule whose destination does not exist yet;
// their key is the replica stack's own, so nothing here depends on a stack deployed later.
func NewReplicaStack(scope constructs.Construct, id string, props *ReplicaStackProps) awscdk.Stack {
	stackProps := props.StackProps
	env := awscdk.Environment{}
	if stackProps.Env != nil {
		env = *stackProps.Env
	}
	env.Region = jsii.String(props.Region)
	stackProps.Env = &env
	if stackProps.Description == nil {
		stackProps.Description = jsii.String("Caro replicas in " + props.Region + ": audit checkpoints and backups of the peer region")
	}
	stack := awscdk.NewStack(scope, jsii.String(id), &stackProps)
	accesslogs.UseBucketPolicy(stack)
	key := encryption.NewKey(stack, "ReplicaKey", &encryption.KeyProps{
		Alias:             replicaKeyAlias,
		Description:       "Caro replicas in " + props.Region + ": audit checkpoints and backups replicated from the peer region",
		ServicePrincipals: []string{"s3.amazonaws.com"},
	})
	logs := accesslogs.New(stack, "AccessLogs")
	lockedReplica(stack, replicaLedger, replication.HoldsAuditCheckpoints, key, logs, props.RetentionYears)
	backups := lockedReplica(stack, replicaBackup, replication.HoldsBackups, key, logs, props.RetentionYears)
	// An arriving backup's manifest starts the standby's pre-stage (constructs/backupengine's rule).
	backups.Node().DefaultChild().(awss3.CfnBucket).AddPropertyOverride(jsii.String("NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled"), true)
	if props.Assets {
		edge.NewAssetReplica(stack, "AssetReplica", &edge.AssetReplicaProps{AccessLogs: logs})
	}
	return stack
}

// lockedReplica is a replication destination that keeps what it receives exactly as long as the
// original is kept: the same lock and the same lifecycle (replication.Lifecycle of holds).
func lockedReplica(stack awscdk.Stack, kind string, holds replication.Holds, key awskms.IKey, logs awss3.IBucket, years int) awss3.Bucket {
	return replication.NewLockedBucket(stack, kind+"Replica", &replication.LockedBucketProps{
		BucketName: ReplicaBucketName(kind, *stack.Account(), *stack.Region()),
		Key:        key, AccessLogs: logs, LogPrefix: kind + "-replica/", RetentionYears: years, Holds: holds,
		NotReplicatedBecause: "This bucket is itself the cross-region replica (Object Lock compliance mode); replicating it onwards would loop back to the source region.",
	})
}
