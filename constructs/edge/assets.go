package edge

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/carohealth/platform/constructs/accesslogs"
	"github.com/carohealth/platform/constructs/nagcheck"
	"github.com/carohealth/platform/constructs/replication"
)

// AssetBucketsProps configures the edge buckets.
type AssetBucketsProps struct {
	// LogsKey encrypts the CloudFront access-log bucket.
	LogsKey awskms.IKey
	// StandbyRegion, ReplicaBucketArn and ReplicaKeyArn: see Props. Empty ARNs skip replication.
	StandbyRegion    string
	ReplicaBucketArn string
	ReplicaKeyArn    string
}

// AssetBuckets are the front-end asset bucket and the two log buckets of the edge.
type AssetBuckets struct {
	// Bucket holds web/ (index.html, security.txt, scripts); private, read by CloudFront through OAC.
	Bucket awss3.Bucket
	// Key encrypts Bucket; CloudFront may decrypt with it (added by the OAC origin).
	Key awskms.Key
	// CloudFrontLogs receives the distribution's standard access logs (viewer IPs and paths: KMS).
	CloudFrontLogs awss3.Bucket
	// AccessLogs receives S3 server access logs of the two buckets above.
	AccessLogs awss3.Bucket
	// Replica is the standby-region bucket the assets replicate to (nil: replication skipped).
	Replica awss3.IBucket
	// ReplicationPolicy is the replication role's policy (nil: replication skipped); objects written
	// before it exists would not replicate, so the site's publication waits for it.
	ReplicationPolicy awsiam.ManagedPolicy
}

// NewAssetBuckets creates the asset bucket (KMS, versioned, TLS-only, no public access, server access
// logs, replicated to the standby region when the replica is given) and its log buckets.
func NewAssetBuckets(scope constructs.Construct, id string, props *AssetBucketsProps) *AssetBuckets {
	c := constructs.NewConstruct(scope, jsii.String(id))
	// Grant S3 log delivery through a bucket policy, not the LogDeliveryWrite ACL, whatever the app's
	// feature flags say (cdk.json sets the same; construct tests do not have it).
	accesslogs.UseBucketPolicy(c)

	accessLogs := accesslogs.New(c, "AccessLogs")

	// CloudFront standard logging writes with ACLs, hence BUCKET_OWNER_PREFERRED (CloudFront adds the
	// awslogsdelivery grant at deployment). Viewer IPs and request paths are personal data: KMS.
	cfLogs := awss3.NewBucket(c, jsii.String("CloudFrontLogs"), &awss3.BucketProps{
		Encryption:             awss3.BucketEncryption_KMS,
		EncryptionKey:          props.LogsKey,
		BucketKeyEnabled:       jsii.Bool(true),
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:             jsii.Bool(true),
		MinimumTLSVersion:      jsii.Number(1.2),
		Versioned:              jsii.Bool(true),
		ObjectOwnership:        awss3.ObjectOwnership_BUCKET_OWNER_PREFERRED,
		ServerAccessLogsBucket: accessLogs,
		ServerAccessLogsPrefix: jsii.String("cloudfront-logs/"),
		RemovalPolicy:          awscdk.RemovalPolicy_RETAIN,
		LifecycleRules:         accesslogs.Lifecycle(),
	})
	nagcheck.Suppress(cfLogs, "HIPAA.Security-S3BucketReplicationEnabled",
		"access logs, not needed to rebuild a region; KMS-encrypted, versioned, 365-day lifecycle, public access blocked, TLS-only")

	key := newEdgeKey(c, "Key", "caro/edge-assets", "Encrypts the front-end asset bucket (CloudFront decrypts through OAC)", false)
	bucketProps := &awss3.BucketProps{
		Encryption:             awss3.BucketEncryption_KMS,
		EncryptionKey:          key,
		BucketKeyEnabled:       jsii.Bool(true),
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:             jsii.Bool(true),
		MinimumTLSVersion:      jsii.Number(1.2),
		Versioned:              jsii.Bool(true),
		ObjectOwnership:        awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		ServerAccessLogsBucket: accessLogs,
		ServerAccessLogsPrefix: jsii.String("assets/"),
		RemovalPolicy:          awscdk.RemovalPolicy_RETAIN,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:                          jsii.String("expire-old-versions"),
			NoncurrentVersionExpiration: awscdk.Duration_Days(jsii.Number(90)),
		}},
	}
	replicated := props.ReplicaBucketArn != ""
	var replica awss3.IBucket
	var replicationRole awsiam.Role
	if replicated {
		replica = awss3.Bucket_FromBucketAttributes(c, jsii.String("Replica"), &awss3.BucketAttributes{
			BucketArn: jsii.String(props.ReplicaBucketArn),
			Region:    jsii.String(props.StandbyRegion),
		})
		replicaKey := awskms.Key_FromKeyArn(c, jsii.String("ReplicaKey"), jsii.String(props.ReplicaKeyArn))
		// A role passed in gets nothing from CDK: replication.GrantReplication below grants it.
		replicationRole = replication.NewRole(c, "ReplicationRole", "S3 replicates the front-end assets to the standby region")
		bucketProps.ReplicationRole = replicationRole
		bucketProps.ReplicationRules = &[]*awss3.ReplicationRule{{
			Id:                      jsii.String("assets-to-standby"),
			Destination:             replica,
			KmsKey:                  replicaKey,
			SseKmsEncryptedObjects:  jsii.Bool(true),
			DeleteMarkerReplication: jsii.Bool(true),
			Priority:                jsii.Number(1),
		}}
	}
	bucket := awss3.NewBucket(c, jsii.String("Bucket"), bucketProps)
	var replicationPolicy awsiam.ManagedPolicy
	if replicated {
		replicationPolicy = replication.GrantReplication(c, "ReplicationPolicy", replicationRole, &replication.GrantProps{
			SourceBucketArn: bucket.BucketArn(), SourceKey: key,
			Destination: replication.Destination{BucketArn: props.ReplicaBucketArn, KeyArn: jsii.String(props.ReplicaKeyArn), Region: props.StandbyRegion, RuleID: "assets-to-standby"},
		})
	} else {
		awscdk.Annotations_Of(bucket).AddInfo(jsii.String(
			"asset replication to the standby region is skipped: set ReplicaBucketArn and ReplicaKeyArn " +
				"(see edge.NewAssetReplica) to enable it"))
	}
	return &AssetBuckets{Bucket: bucket, Key: key, CloudFrontLogs: cfLogs, AccessLogs: accessLogs, Replica: replica, ReplicationPolicy: replicationPolicy}
}
