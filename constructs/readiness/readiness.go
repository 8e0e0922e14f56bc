// Package readiness schedules the standby region's readiness check (lambdas/readiness): every 30
// minutes it runs every check a failover plan runs, read-only, publishes one CloudWatch metric per
// check and the count of blockers (internal/readiness), and an alarm pages on-call when a blocker
// appears or when the check stops reporting. The function's role may make exactly the reads the
// check makes, each statement saying why; it can change nothing.
package readiness

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/carohealth/platform/constructs/nagcheck"
)

// The names internal/readiness publishes under and lambdas/readiness reads (constructs may not
// import them; cdk's TestReadinessNamesAgreeWithTheFunction checks they are the same).
const (
	// Namespace is the CloudWatch namespace of the check's metrics, the only one it may write.
	Namespace = "Caro/Readiness"
	// MetricBlockers is the count of blockers of one run, with dimension DimensionRegion.
	MetricBlockers  = "Blockers"
	DimensionRegion = "Region"
	// EnvSource names the region the checked one would take over from.
	EnvSource = "CARO_READINESS_SOURCE"
)

// DefaultInterval is how often the check runs, as AWS's Region switch evaluates its plans.
const DefaultInterval = 30

// Props configure the check of Region taking over from SourceRegion. The ARNs are the exact
// resources the check reads (the platform stack gives them; patterns only where a name or ID is
// generated in another stack, narrowed as each field says).
type Props struct {
	// Function is lambdas/readiness (built by the platform stack, with the standard monitoring);
	// its role is granted here. Required.
	Function awslambda.Function
	// Region is the checked (standby) region, SourceRegion the one it would take over from.
	Region, SourceRegion string
	// Account is the account of both (a token is fine).
	Account string
	// AlarmTopic receives the blocker alarm (on-call). Required.
	AlarmTopic awssns.ITopic
	// IntervalMinutes is how often the check runs; default DefaultInterval.
	IntervalMinutes float64

	// StackArns are the platform stacks of Region (its exact stack ID) and SourceRegion (its name,
	// stack/<name>/*: the ID is generated there): the check reads their outputs.
	StackArns []string
	// ConnectionSecretArn is Region's MongoDB connection-string secret, ConnectionSecretKey the key
	// that encrypts it: the check lists what the target database holds.
	ConnectionSecretArn *string
	ConnectionSecretKey awskms.IKey
	// ManagedKeySecretNames are further secrets the check reads in Region, encrypted with the
	// aws/secretsmanager key (whose key policy lets the account's principals decrypt through
	// Secrets Manager): the origin secret's replica and the Atlas credentials.
	ManagedKeySecretNames []string
	// ParameterNames are the SSM parameters the source writes into Region (its backup key's
	// replica, its ledger keys), plain String parameters.
	ParameterNames []string
	// BackupKeyReplicaArn is Region's replica of the source's backup key when its ARN is known at
	// synth; otherwise the check may describe the multi-Region keys of Region that carry the tag
	// BackupKeyTagKey=BackupKeyTagValue (the replica's ID is the source key's, generated there).
	BackupKeyReplicaArn                *string
	BackupKeyTagKey, BackupKeyTagValue string
	// BackupBucketArn is Region's replica of the source's backups: the check lists backups/ and
	// reads each backup's manifest.json, nothing else, decrypted through S3 with the bucket's key,
	// named by BackupBucketKeyAlias (without "alias/": the key's ID is generated in the replica
	// stack).
	BackupBucketArn, BackupBucketKeyAlias string
	// CheckpointBucketArns are Region's replica of the source's ledger checkpoints and the source's
	// own checkpoint bucket: the check only lists checkpoints/ (the lag), which decrypts nothing.
	CheckpointBucketArns []string
	// ReleaseObjectArns are the release objects the check reads (the manifests and Region's
	// platform template under the release prefix of Region's release bucket).
	ReleaseObjectArns []string
	// UserPoolArn and HealthCheckID are Region's user pool and Route 53 health check.
	UserPoolArn, HealthCheckID *string
}

// Readiness is the scheduled check.
type Readiness struct {
	constructs.Construct
	// Rule invokes the function every IntervalMinutes.
	Rule awsevents.Rule
	// Blockers pages on-call on a blocker, and when the check reports nothing.
	Blockers awscloudwatch.Alarm
	// Policy is the function's read-only grant.
	Policy awsiam.ManagedPolicy
}

func (p *Props) validate() error {
	switch {
	case p == nil || p.Function == nil || p.Function.Role() == nil || p.AlarmTopic == nil:
		return fmt.Errorf("readiness.New: Function (with its role) and AlarmTopic are required")
	case p.Region == "" || p.SourceRegion == "" || p.Region == p.SourceRegion || p.Account == "":
		return fmt.Errorf("readiness.New: Region %q and SourceRegion %q must be two regions, and Account set: the check runs in the standby and looks at the primary", p.Region, p.SourceRegion)
	case len(p.StackArns) == 0 || p.ConnectionSecretArn == nil || p.ConnectionSecretKey == nil || p.BackupBucketArn == "" || p.UserPoolArn == nil || p.HealthCheckID == nil:
		return fmt.Errorf("readiness.New: StackArns, ConnectionSecretArn and its key, BackupBucketArn, UserPoolArn and HealthCheckID name what the check reads: give them all")
	case p.BackupBucketKeyAlias == "" || p.BackupKeyReplicaArn == nil && (p.BackupKeyTagKey == "" || p.BackupKeyTagValue == ""):
		return fmt.Errorf("readiness.New: BackupBucketKeyAlias, and BackupKeyReplicaArn or the backup key tag, are required")
	}
	return nil
}

// New schedules props.Function in the standby region with its read-only grant and the alarm.
func New(scope constructs.Construct, id string, props *Props) *Readiness {
	if err := props.validate(); err != nil {
		panic(err)
	}
	c := constructs.NewConstruct(scope, jsii.String(id))
	r := &Readiness{Construct: c}
	props.Function.AddEnvironment(jsii.String(EnvSource), jsii.String(props.SourceRegion), nil)
	r.Policy = grant(c, props)

	interval := props.IntervalMinutes
	if interval == 0 {
		interval = DefaultInterval
	}
	r.Rule = awsevents.NewRule(c, jsii.String("Schedule"), &awsevents.RuleProps{
		Description: jsii.String(fmt.Sprintf("Can %s take over from %s? Every check a failover plan runs, read-only", props.Region, props.SourceRegion)),
		Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Minutes(jsii.Number(interval))),
		// A run missed is made up by the next one: no retries that would overlap it.
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(props.Function, &awseventstargets.LambdaFunctionProps{
			RetryAttempts: jsii.Number(0), MaxEventAge: awscdk.Duration_Minutes(jsii.Number(interval)),
		})},
	})
	// Two runs fall in each period, so one late or failed run neither pages nor hides a blocker
	// the other saw; a period without any report (the function stopped, or cannot publish) is
	// missing data, treated as a blocker.
	blockers := awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace: jsii.String(Namespace), MetricName: jsii.String(MetricBlockers),
		DimensionsMap: &map[string]*string{DimensionRegion: jsii.String(props.Region)},
		Statistic:     jsii.String("Maximum"), Period: awscdk.Duration_Minutes(jsii.Number(2 * interval)),
	})
	r.Blockers = awscloudwatch.NewAlarm(c, jsii.String("Blockers"), &awscloudwatch.AlarmProps{
		AlarmDescription: jsii.String(fmt.Sprintf("%s could not take over from %s now, or its readiness check stopped reporting: "+
			"run `caro failover readiness --to %s` for each blocker and what to do (docs/runbook-failover.md)", props.Region, props.SourceRegion, props.Region)),
		Metric:             blockers,
		Threshold:          jsii.Number(1),
		EvaluationPeriods:  jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		TreatMissingData:   awscloudwatch.TreatMissingData_BREACHING,
	})
	action := awscloudwatchactions.NewSnsAction(props.AlarmTopic)
	r.Blockers.AddAlarmAction(action)
	r.Blockers.AddOkAction(action)
	return r
}

// grant is the function's read-only policy: one statement per read, following the Service
// Authorization Reference of each service (the permission-path tests in cdk cite the pages).
func grant(c constructs.Construct, p *Props) awsiam.ManagedPolicy {
	arn := func(service, region, resource string) string {
		return fmt.Sprintf("arn:aws:%s:%s:%s:%s", service, region, p.Account, resource)
	}
	st := func(sid string, actions []string, resources []*string, conditions map[string]interface{}) awsiam.PolicyStatement {
		props := &awsiam.PolicyStatementProps{Sid: jsii.String(sid), Actions: jsii.Strings(actions...), Resources: &resources}
		if conditions != nil {
			props.Conditions = &conditions
		}
		return awsiam.NewPolicyStatement(props)
	}
	viaS3 := fmt.Sprintf("s3.%s.amazonaws.com", p.Region)
	var secrets, params []*string
	for _, name := range p.ManagedKeySecretNames {
		// Secrets Manager appends six characters to a secret's name in its ARN.
		secrets = append(secrets, jsii.String(arn("secretsmanager", p.Region, "secret:"+name+"-??????")))
	}
	for _, name := range p.ParameterNames {
		params = append(params, jsii.String(arn("ssm", p.Region, "parameter"+name)))
	}
	var backupKeys []*string
	var backupKeyCondition map[string]interface{}
	if p.BackupKeyReplicaArn != nil {
		backupKeys = []*string{p.BackupKeyReplicaArn}
	} else {
		backupKeys = []*string{jsii.String(arn("kms", p.Region, "key/mrk-*"))}
		backupKeyCondition = map[string]interface{}{"StringEquals": map[string]interface{}{"aws:ResourceTag/" + p.BackupKeyTagKey: p.BackupKeyTagValue}}
	}
	statements := []awsiam.PolicyStatement{
		// The configuration and the plan read both platform stacks' outputs (the standby's
		// settings, the release each runs).
		st("ReadPlatformStackOutputs", []string{"cloudformation:DescribeStacks"}, *jsii.Strings(p.StackArns...), nil),
		// The target database's connection string, to list what the database holds; its key
		// decrypts only through Secrets Manager, only that secret.
		st("ReadConnectionSecret", []string{"secretsmanager:GetSecretValue"}, []*string{p.ConnectionSecretArn}, nil),
		st("ConnectionSecretDecryptionViaSecretsManager", []string{"kms:Decrypt"}, []*string{p.ConnectionSecretKey.KeyArn()}, map[string]interface{}{
			"StringEquals": map[string]interface{}{
				"kms:ViaService":                  fmt.Sprintf("secretsmanager.%s.amazonaws.com", p.Region),
				"kms:EncryptionContext:SecretARN": p.ConnectionSecretArn,
			},
		}),
		// The source's backup key's replica must be enabled in the target: described, never used.
		st("DescribeBackupKeyReplica", []string{"kms:DescribeKey"}, backupKeys, backupKeyCondition),
		// The newest backup and its age: the listing of backups/ and each manifest (never a
		// backup's payload or identity export), decrypted by S3 with the bucket's key.
		st("ListBackups", []string{"s3:ListBucket"}, []*string{jsii.String(p.BackupBucketArn)},
			map[string]interface{}{"StringEquals": map[string]interface{}{"s3:prefix": "backups/"}}),
		st("ReadBackupManifests", []string{"s3:GetObject"}, []*string{jsii.String(p.BackupBucketArn + "/backups/*/manifest.json")}, nil),
		st("BackupManifestDecryptionViaS3", []string{"kms:Decrypt"}, []*string{jsii.String(arn("kms", p.Region, "key/*"))}, map[string]interface{}{
			"StringEquals":             map[string]interface{}{"kms:ViaService": viaS3},
			"ForAnyValue:StringEquals": map[string]interface{}{"kms:ResourceAliases": "alias/" + p.BackupBucketKeyAlias},
			// S3 Bucket Keys (which the locked buckets enable) name the bucket, without one the object.
			"StringLike": map[string]interface{}{"kms:EncryptionContext:aws:s3:arn": []string{p.BackupBucketArn, p.BackupBucketArn + "/backups/*/manifest.json"}},
		}),
		// The Cognito user pool the identities step re-creates users in must exist.
		st("DescribeUserPool", []string{"cognito-idp:DescribeUserPool"}, []*string{p.UserPoolArn}, nil),
		// What Route 53's checkers say of the target's API.
		st("ReadHealthCheckStatus", []string{"route53:GetHealthCheckStatus"},
			[]*string{awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("arn:aws:route53:::healthcheck/"), p.HealthCheckID})}, nil),
		// The result, in its own namespace only (PutMetricData has no resource).
		st("PublishReadiness", []string{"cloudwatch:PutMetricData"}, *jsii.Strings("*"),
			map[string]interface{}{"StringEquals": map[string]interface{}{"cloudwatch:namespace": Namespace}}),
	}
	if len(secrets) > 0 {
		// The origin secret (the regional /health requests) and the Atlas credentials (the
		// snapshot copy check), in the aws/secretsmanager key, which needs no grant.
		statements = append(statements, st("ReadManagedKeySecrets", []string{"secretsmanager:GetSecretValue"}, secrets, nil))
	}
	if len(params) > 0 {
		// What the source's stack wrote here: its backup key's replica and its ledger keys.
		statements = append(statements, st("ReadPeerParameters", []string{"ssm:GetParameter"}, params, nil))
	}
	if len(p.CheckpointBucketArns) > 0 {
		// The ledger replica's lag behind the source: listing checkpoints/ of both buckets
		// (object metadata; nothing is read or decrypted).
		statements = append(statements, st("ListLedgerCheckpoints", []string{"s3:ListBucket"}, *jsii.Strings(p.CheckpointBucketArns...),
			map[string]interface{}{"StringEquals": map[string]interface{}{"s3:prefix": "checkpoints/"}}))
	}
	if len(p.ReleaseObjectArns) > 0 {
		// The release the failover would deploy is published: its manifest and this region's
		// template (the CDK bootstrap bucket: its key lets the account's principals use it through S3).
		statements = append(statements, st("ReadRelease", []string{"s3:GetObject"}, *jsii.Strings(p.ReleaseObjectArns...), nil))
	}
	policy := awsiam.NewManagedPolicy(c, jsii.String("ReadOnly"), &awsiam.ManagedPolicyProps{
		Description: jsii.String(fmt.Sprintf("Readiness check of %s: the reads of a failover plan from %s, and its own metrics; nothing writable", p.Region, p.SourceRegion)),
		Roles:       &[]awsiam.IRole{p.Function.Role()},
		Statements:  &statements,
	})
	nagcheck.Suppress(policy, "AwsSolutions-IAM5",
		"Wildcards are resource-scoped, read-only: the source stack's ID is generated in its region (stack/<name>/*); secrets by the six "+
			"characters Secrets Manager appends; backup manifests by backup ID (backups/*/manifest.json, never a payload); the replica "+
			"buckets' key (generated ID in the replica stack) only through S3, only with its alias, only for that bucket; without a known "+
			"replica ARN the backup key's replica (key/mrk-*) only with the backup-key tag, and only described; release objects by version; "+
			"cloudwatch:PutMetricData has no resource type and is limited to the Caro/Readiness namespace")
	return policy
}
