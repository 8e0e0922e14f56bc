// Package accesslogs is the platform's one S3 server-access-log bucket recipe: the terminal bucket
// that the data buckets of a stack log into.
package accesslogs

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/carohealth/platform/constructs/nagcheck"
)

// UseBucketPolicy makes S3 log delivery to the access-log buckets under scope be granted by bucket
// policy rather than by the legacy LogDeliveryWrite ACL, which bucket-owner-enforced ownership
// forbids. Call it on the stack (or construct) before any bucket is added to it.
func UseBucketPolicy(scope constructs.Construct) {
	scope.Node().SetContext(jsii.String("@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"), true)
}

// Lifecycle keeps access logs for a year, the operational-log retention of the platform.
func Lifecycle() *[]*awss3.LifecycleRule {
	return &[]*awss3.LifecycleRule{{
		Id:                          jsii.String("expire-logs"),
		Expiration:                  awscdk.Duration_Days(jsii.Number(365)),
		NoncurrentVersionExpiration: awscdk.Duration_Days(jsii.Number(30)),
	}}
}

// New creates a server-access-log bucket: SSE-S3 (the only encryption log delivery supports),
// public access blocked, TLS-only, versioned, expiring after a year.
func New(scope constructs.Construct, id string) awss3.Bucket {
	accessLogs := awss3.NewBucket(scope, jsii.String(id), &awss3.BucketProps{
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:        jsii.Bool(true),
		MinimumTLSVersion: jsii.Number(1.2),
		Versioned:         jsii.Bool(true),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
		LifecycleRules:    Lifecycle(),
	})
	terminal := "terminal server-access-log bucket: logging it to itself would loop; public access blocked, TLS-only policy, " +
		"writes only by the S3 logging service (bucket policy), versioned"
	nagcheck.Suppress(accessLogs, "AwsSolutions-S1", terminal)
	nagcheck.Suppress(accessLogs, "HIPAA.Security-S3BucketLoggingEnabled", terminal)
	nagcheck.Suppress(accessLogs, "HIPAA.Security-S3DefaultEncryptionKMS",
		"S3 server access log delivery supports only SSE-S3 targets; objects are AES-256 encrypted at rest and hold S3 request metadata of the platform buckets, no patient data")
	nagcheck.Suppress(accessLogs, "HIPAA.Security-S3BucketReplicationEnabled",
		"operational logs, not needed to rebuild a region; versioned with a 365-day lifecycle, public access blocked, TLS-only")
	return accessLogs
}
