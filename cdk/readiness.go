package main

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"

	"github.com/carohealth/platform/constructs/edge"
	"github.com/carohealth/platform/constructs/peershare"
	"github.com/carohealth/platform/constructs/readiness"
	"github.com/carohealth/platform/constructs/roles"
	"github.com/carohealth/platform/regions"
)

// releasePrefix is where `caro release publish` puts the releases in a release bucket
// (internal/release.Prefix; TestReleaseNamesAgreeWithThePublisher checks the two agree).
const releasePrefix = "caro-releases/"

// releaseBucketName is region's release bucket: the environment file's releaseBucket ({account}
// and {region} filled in), else the region's CDK bootstrap assets bucket, as the configuration
// resolves the release-bucket setting (TestReleaseNamesAgreeWithThePublisher).
func releaseBucketName(env regions.Environment, account, region string) string {
	name := env.ReleaseBucket
	if name == "" {
		name = "cdk-" + roles.DefaultBootstrapQualifier + "-assets-{account}-{region}"
	}
	return strings.NewReplacer("{account}", account, "{region}", region).Replace(name)
}

// platformStackArn names region's platform stack; its ID is generated there.
func platformStackArn(account, region string) string {
	return fmt.Sprintf("arn:aws:cloudformation:%s:%s:stack/CaroPlatform-%s/*", region, account, region)
}

// readinessInputs are the platform stack's parts the readiness check reads.
type readinessInputs struct {
	function         awslambda.Function
	onCall           awssns.ITopic
	connectionSecret awssecretsmanager.ISecret
	key              awskms.IKey
	pool             awscognito.IUserPool
	healthCheckID    *string
	// peerKeyReplica is this stack's replica of the peer's backup key when the stack declares it
	// (context backupKeyArn:<peer>); nil: the peer's share made it, named by its tag.
	peerKeyReplica *string
}

// newReadiness wires the standby's readiness check (constructs/readiness) to the exact resources
// a failover plan from the peer reads: this stack and the peer's, the connection string, the
// parameters the peer writes here, the backup key's replica, the replica buckets, the peer's
// checkpoint bucket, the release and the origin and Atlas secrets.
func newReadiness(stack awscdk.Stack, props *PlatformStackProps, in readinessInputs) *readiness.Readiness {
	account, region, source := *stack.Account(), props.Region.Region, props.PeerRegion
	release := "arn:aws:s3:::" + releaseBucketName(props.Environment, account, region) + "/" + releasePrefix
	return readiness.New(stack, "Readiness", &readiness.Props{
		Function: in.function, Region: region, SourceRegion: source, Account: account, AlarmTopic: in.onCall,
		StackArns:           []string{*stack.StackId(), platformStackArn(account, source)},
		ConnectionSecretArn: in.connectionSecret.SecretArn(), ConnectionSecretKey: in.key,
		// The origin secret's replica here and the Atlas credentials are under aws/secretsmanager.
		ManagedKeySecretNames: []string{edge.OriginSecretName, AtlasCredentialsSecretName},
		ParameterNames:        []string{peershare.ParameterBackupKey(source), peershare.ParameterLedgerKeys(source)},
		BackupKeyReplicaArn:   in.peerKeyReplica,
		BackupKeyTagKey:       peershare.BackupKeyTagKey, BackupKeyTagValue: peershare.BackupKeyTagValue,
		BackupBucketArn:      ReplicaBucketArn(replicaBackup, account, region),
		BackupBucketKeyAlias: replicaKeyAlias,
		CheckpointBucketArns: []string{ReplicaBucketArn(replicaLedger, account, region), "arn:aws:s3:::" + LedgerBucketName(account, source)},
		ReleaseObjectArns:    []string{release + "*/release.json", release + "*/CaroPlatform-" + region + ".template.json"},
		UserPoolArn:          in.pool.UserPoolArn(), HealthCheckID: in.healthCheckID,
	})
}
