package edge

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/carohealth/platform/constructs/nagcheck"
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
	// Replicated reports whether replication to the standby region is configured.
	Replicated bool
}

const logExpiryDays = 365

// NewAssetBuckets creates the asset bucket (KMS, versioned, TLS-only, no public access, server access
// logs, replicated to the standby region when the replica is given) and its log buckets.
func NewAssetBuckets(scope constructs.Construct, id string, props *AssetBucketsProps) *AssetBuckets {
	c := constructs.NewConstruct(scope, jsii.String(id))
	// Grant S3 log delivery through a bucket policy, not the LogDeliveryWrite ACL, whatever the app's
	// feature flags say (cdk.json sets the same; construct tests do not have it).
	c.Node().SetContext(jsii.String("@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"), true)

	// S3 server access log delivery only supports SSE-S3 on the target bucket, so this bucket cannot
	// use KMS; it holds request metadata of the two edge buckets only.
	accessLogs := awss3.NewBucket(c, jsii.String("AccessLogs"), &awss3.BucketProps{
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:        jsii.Bool(true),
		MinimumTLSVersion: jsii.Number(1.2),
		Versioned:         jsii.Bool(true),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
		LifecycleRules:    logLifecycle(),
	})
	nagcheck.Suppress(accessLogs, "AwsSolutions-S1",
		"terminal server-access-log bucket: logging it to itself would loop; public access blocked, TLS-only policy, writes only by the S3 logging service (bucket policy), versioned")
	nagcheck.Suppress(accessLogs, "HIPAA.Security-S3BucketLoggingEnabled",
		"terminal server-access-log bucket: logging it to itself would loop; public access blocked, TLS-only policy, writes only by the S3 logging service (bucket policy), versioned")
	nagcheck.Suppress(accessLogs, "HIPAA.Security-S3DefaultEncryptionKMS",
		"S3 server access log delivery supports only SSE-S3 targets; objects are AES-256 encrypted at rest and hold S3 request metadata of the edge buckets, no patient data")
	nagcheck.Suppress(accessLogs, "HIPAA.Security-S3BucketReplicationEnabled",
		"operational logs, not needed to rebuild a region; versioned with a 365-day lifecycle, public access blocked, TLS-only")

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
		LifecycleRules:         logLifecycle(),
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
	if replicated {
		replica := awss3.Bucket_FromBucketAttributes(c, jsii.String("Replica"), &awss3.BucketAttributes{
			BucketArn: jsii.String(props.ReplicaBucketArn),
			Region:    jsii.String(props.StandbyRegion),
		})
		replicaKey := awskms.Key_FromKeyArn(c, jsii.String("ReplicaKey"), jsii.String(props.ReplicaKeyArn))
		// CDK creates the replication role with exactly the grants replication needs (read versions
		// here, replicate to the replica prefix, decrypt here, encrypt with the replica key).
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
	if replicated {
		if role := bucket.Node().TryFindChild(jsii.String("ReplicationRole")); role != nil {
			reason := "S3 replication needs object-level actions on <source-bucket>/* and <replica-bucket>/*, " +
				"and kms actions on the two named keys only; role assumable only by s3.amazonaws.com, " +
				"generated by CDK from the replication rule and reviewed in git"
			nagcheck.SuppressWithChildren(role, "AwsSolutions-IAM5", reason)
			nagcheck.SuppressWithChildren(role, "HIPAA.Security-IAMNoInlinePolicy", reason)
		}
	} else {
		awscdk.Annotations_Of(bucket).AddInfo(jsii.String(
			"asset replication to the standby region is skipped: set ReplicaBucketArn and ReplicaKeyArn " +
				"(a versioned KMS bucket in the standby region) to enable it"))
	}
	return &AssetBuckets{Bucket: bucket, Key: key, CloudFrontLogs: cfLogs, AccessLogs: accessLogs, Replicated: replicated}
}

func logLifecycle() *[]*awss3.LifecycleRule {
	return &[]*awss3.LifecycleRule{{
		Id:                          jsii.String("expire-logs"),
		Expiration:                  awscdk.Duration_Days(jsii.Number(logExpiryDays)),
		NoncurrentVersionExpiration: awscdk.Duration_Days(jsii.Number(30)),
	}}
}
