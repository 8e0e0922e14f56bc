// Package backup declares the infrastructure of the encrypted logical backups (internal/backup):
// the multi-Region KMS key the per-backup data keys come from (with its replica in the standby
// region), the backup bucket (versioned, SSE-KMS, TLS only, Object Lock, replicated to the standby
// region, lifecycle from the retention setting, access-logged), the daily backup schedule, the
// weekly restore-verification schedule and the alarms that say when either did not succeed.
//
// The functions are created by the caller (constructs/gofunction over lambdas/backup) and passed
// in; New grants them exactly what they need and sets their environment.
package backup

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/carohealth/platform/constructs/monitoring"
	"github.com/carohealth/platform/constructs/nagcheck"
	"github.com/carohealth/platform/constructs/replication"
)

// DefaultRetentionYears is how long backups are kept (and locked) unless Props says otherwise.
const DefaultRetentionYears = 1

// Environment variable names the backup function reads (internal/backup.JobConfigFromEnv).
const (
	EnvBucket = "CARO_BACKUP_BUCKET"
	EnvKeyID  = "CARO_BACKUP_KEY_ID"
)

// EnvErasureBucket is the variable the API function reads the erasure register's bucket from
// (lambdas/api); ErasurePrefix is the register's prefix in the backup bucket (internal/erasure).
const (
	EnvErasureBucket = "CARO_ERASURE_BUCKET"
	ErasurePrefix    = "erasures/"
)

// Props configure the backup infrastructure.
type Props struct {
	// BackupFunction runs {"mode":"backup"} daily (lambdas/backup). Required.
	BackupFunction awslambda.Function
	// VerifyFunction runs {"mode":"verify"} weekly; default BackupFunction (same code, other mode).
	VerifyFunction awslambda.Function
	// AccessLogs receives the bucket's server access logs. Required.
	AccessLogs awss3.IBucket
	// AlarmTopic receives the backup and verification alarms. Required.
	AlarmTopic awssns.ITopic
	// StandbyRegion is where the key's replica and the replica bucket live, e.g. "eu-central-1".
	StandbyRegion string
	// ReplicaBucketArn is the standby region's backup bucket (NewReplicaBucket there).
	ReplicaBucketArn string
	// ReplicaBucketKeyArn encrypts the replicas at rest in the standby bucket; default the backup
	// key's multi-Region replica. Give the standby's own key when the replica bucket must exist
	// before this stack (S3 refuses a replication rule without its destination), which is before
	// the multi-Region replica can be made. The backup payload stays wrapped by the multi-Region key.
	ReplicaBucketKeyArn string
	// RetentionYears keeps each backup locked (Object Lock COMPLIANCE) and then expires it.
	RetentionYears int
	// KeyArn, when set, is an existing multi-Region backup key (NewKey in an earlier stack, so
	// the standby stack can create its replica before this bucket starts replicating); otherwise
	// New creates the key.
	KeyArn *string
	// UserPoolID and UserPoolArn, when set, make the backup function write the encrypted identity
	// export of that user pool beside each backup (cognito-idp:ListUsers on that pool only).
	UserPoolID  string
	UserPoolArn string
	// BackupSchedule defaults to daily at 02:15 UTC; VerifySchedule to Sundays at 04:30 UTC.
	BackupSchedule awsevents.Schedule
	// ScheduledByEngine leaves the backups to the backup engine (constructs/backupengine: its
	// schedule, workers and alarms): no daily rule or backup alarms here, and BackupFunction only
	// runs the weekly verification, with read access.
	ScheduledByEngine bool
	VerifySchedule    awsevents.Schedule
}

// Backup is the declared infrastructure.
type Backup struct {
	// Key is the multi-Region primary key when New created it (nil with Props.KeyArn).
	Key awskms.CfnKey
	// KeyArn is the backup key's ARN (created or given).
	KeyArn *string
	// KeyRef is Key as an IKey, for grants.
	KeyRef awskms.IKey
	// ReplicaKeyArn is the ARN the key's replica has in the standby region (same key ID).
	ReplicaKeyArn *string
	Bucket        awss3.Bucket
	BackupRule    awsevents.Rule
	VerifyRule    awsevents.Rule
	// BackupFailed fires when a daily backup errors or did not run; VerifyFailed when the weekly
	// restore test fails or did not run.
	BackupFailed, BackupMissing, VerifyFailed awscloudwatch.Alarm
}

// keyPolicy is the key policy of the backup key: the account administers it through IAM (the
// functions get scoped IAM grants); nothing else.
func keyPolicy(stack awscdk.Stack) awsiam.PolicyDocument {
	return awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{Statements: &[]awsiam.PolicyStatement{
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("AccountAdministersThroughIAM"),
			Principals: &[]awsiam.IPrincipal{awsiam.NewAccountRootPrincipal()},
			Actions:    jsii.Strings("kms:*"),
			Resources:  jsii.Strings("*"),
		}),
	}})
}

// New declares the backup infrastructure in the primary region.
func New(scope constructs.Construct, id string, props *Props) *Backup {
	switch {
	case props == nil || props.BackupFunction == nil:
		panic("backup.New: Props.BackupFunction is required")
	case props.AccessLogs == nil || props.AlarmTopic == nil:
		panic("backup.New: Props.AccessLogs and Props.AlarmTopic are required")
	case props.StandbyRegion == "" || props.ReplicaBucketArn == "":
		panic("backup.New: Props.StandbyRegion and Props.ReplicaBucketArn are required (backups must survive the primary region)")
	}
	years := props.RetentionYears
	if years == 0 {
		years = DefaultRetentionYears
	}
	if years < 1 || years > 30 {
		panic(fmt.Sprintf("backup.New: RetentionYears %d: give 1 to 30", years))
	}
	verifyFn := props.VerifyFunction
	if verifyFn == nil {
		verifyFn = props.BackupFunction
	}
	c := constructs.NewConstruct(scope, jsii.String(id))
	stack := awscdk.Stack_Of(c)
	b := &Backup{}

	keyArn, keyID := props.KeyArn, (*string)(nil)
	if keyArn == nil {
		b.Key = NewKey(c, "Key")
		keyArn, keyID = b.Key.AttrArn(), b.Key.AttrKeyId()
	} else {
		keyID = awscdk.Fn_Select(jsii.Number(1), awscdk.Fn_Split(jsii.String("/"), keyArn, nil))
	}
	b.KeyArn = keyArn
	// FromKeyArn, not FromCfnKey: the policy holds CloudFormation functions (account ARN), and grants
	// go to IAM policies anyway (the key policy delegates to IAM).
	b.KeyRef = awskms.Key_FromKeyArn(c, jsii.String("KeyRef"), keyArn)
	b.ReplicaKeyArn = awscdk.Fn_Join(jsii.String(""), &[]*string{
		jsii.String("arn:"), stack.Partition(), jsii.String(":kms:" + props.StandbyRegion + ":"), stack.Account(), jsii.String(":key/"), keyID,
	})

	replicaKeyArn := b.ReplicaKeyArn
	if props.ReplicaBucketKeyArn != "" {
		replicaKeyArn = jsii.String(props.ReplicaBucketKeyArn)
	}
	b.Bucket = replication.NewLockedBucket(c, "Bucket", &replication.LockedBucketProps{
		Key: b.KeyRef, AccessLogs: props.AccessLogs, LogPrefix: "backups/", RetentionYears: years,
		Holds: replication.HoldsBackups,
		Replica: &replication.Destination{
			BucketArn: props.ReplicaBucketArn, KeyArn: replicaKeyArn, Region: props.StandbyRegion, RuleID: "backups-to-standby",
		},
	})

	b.grant(c, "BackupPolicy", props.BackupFunction, !props.ScheduledByEngine)
	if props.UserPoolID != "" && props.UserPoolArn != "" && !props.ScheduledByEngine {
		awsiam.NewManagedPolicy(c, jsii.String("IdentityExportPolicy"), &awsiam.ManagedPolicyProps{
			Description: jsii.String("Caro backup function: list the user pool for the encrypted identity export"),
			Roles:       &[]awsiam.IRole{props.BackupFunction.Role()},
			Statements: &[]awsiam.PolicyStatement{awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid: jsii.String("ListUsers"), Actions: jsii.Strings("cognito-idp:ListUsers"), Resources: jsii.Strings(props.UserPoolArn),
			})},
		})
		props.BackupFunction.AddEnvironment(jsii.String("CARO_USER_POOL_ID"), jsii.String(props.UserPoolID), nil)
	}
	if verifyFn != props.BackupFunction {
		b.grant(c, "VerifyPolicy", verifyFn, false)
	}
	for _, fn := range []awslambda.Function{props.BackupFunction, verifyFn} {
		fn.AddEnvironment(jsii.String(EnvBucket), b.Bucket.BucketName(), nil)
		fn.AddEnvironment(jsii.String(EnvKeyID), b.KeyArn, nil)
	}

	backupSchedule := props.BackupSchedule
	if backupSchedule == nil {
		backupSchedule = awsevents.Schedule_Cron(&awsevents.CronOptions{Minute: jsii.String("15"), Hour: jsii.String("2")})
	}
	verifySchedule := props.VerifySchedule
	if verifySchedule == nil {
		verifySchedule = awsevents.Schedule_Cron(&awsevents.CronOptions{Minute: jsii.String("30"), Hour: jsii.String("4"), WeekDay: jsii.String("SUN")})
	}
	if !props.ScheduledByEngine {
		b.BackupRule = awsevents.NewRule(c, jsii.String("DailyBackup"), &awsevents.RuleProps{
			Description: jsii.String("Daily encrypted logical backup of the application database"),
			Schedule:    backupSchedule,
			Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(props.BackupFunction, &awseventstargets.LambdaFunctionProps{
				Event:         awsevents.RuleTargetInput_FromObject(map[string]interface{}{"mode": "backup"}),
				RetryAttempts: jsii.Number(2),
				MaxEventAge:   awscdk.Duration_Hours(jsii.Number(6)),
			})},
		})
	}
	b.VerifyRule = awsevents.NewRule(c, jsii.String("WeeklyVerify"), &awsevents.RuleProps{
		Description: jsii.String("Weekly restore test: the newest backup restored into a scratch database and checked against its manifest"),
		Schedule:    verifySchedule,
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(verifyFn, &awseventstargets.LambdaFunctionProps{
			Event:         awsevents.RuleTargetInput_FromObject(map[string]interface{}{"mode": "verify"}),
			RetryAttempts: jsii.Number(1),
			MaxEventAge:   awscdk.Duration_Hours(jsii.Number(6)),
		})},
	})

	day := awscdk.Duration_Days(jsii.Number(1))
	alarm := func(id, description string, metric awscloudwatch.IMetric, op awscloudwatch.ComparisonOperator, periods float64, missing awscloudwatch.TreatMissingData) awscloudwatch.Alarm {
		return monitoring.OnCallAlarm(c, id, props.AlarmTopic, description, metric, op, 1, periods, missing)
	}
	if !props.ScheduledByEngine {
		b.BackupFailed = alarm("BackupFailed", "Daily backup failed: see the backup function's logs; until fixed, the newest restorable backup is getting older (caro backup list)",
			props.BackupFunction.MetricErrors(&awscloudwatch.MetricOptions{Period: day, Statistic: jsii.String("Sum")}),
			awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD, 1, awscloudwatch.TreatMissingData_NOT_BREACHING)
		b.BackupMissing = alarm("BackupMissing", "No backup ran for two days: check the DailyBackup rule and the backup function",
			props.BackupFunction.MetricInvocations(&awscloudwatch.MetricOptions{Period: day, Statistic: jsii.String("Sum")}),
			awscloudwatch.ComparisonOperator_LESS_THAN_THRESHOLD, 2, awscloudwatch.TreatMissingData_BREACHING)
	}
	b.VerifyFailed = alarm("VerifyFailed", "Weekly restore test failed: the newest backup could not be restored and checked (caro backup verify <id> shows why); treat backups as unproven until it passes",
		verifyFn.MetricErrors(&awscloudwatch.MetricOptions{Period: day, Statistic: jsii.String("Sum")}),
		awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD, 1, awscloudwatch.TreatMissingData_NOT_BREACHING)
	return b
}

// grant attaches the backup (write) or verify (read) policy to fn's role.
func (b *Backup) grant(c constructs.Construct, id string, fn awslambda.Function, write bool) {
	role := fn.Role()
	if role == nil {
		panic("backup.New: the functions need a known role")
	}
	region := awscdk.Stack_Of(c).Region()
	objects := b.Bucket.ArnForObjects(jsii.String("backups/*"))
	s3Actions := jsii.Strings("s3:GetObject")
	kmsActions := jsii.Strings("kms:Decrypt")
	if write {
		s3Actions = jsii.Strings("s3:GetObject", "s3:PutObject")
		kmsActions = jsii.Strings("kms:Decrypt", "kms:GenerateDataKey")
	}
	p := awsiam.NewManagedPolicy(c, jsii.String(id), &awsiam.ManagedPolicyProps{
		Description: jsii.String("Caro backup function: backup objects and the backup key, scoped by prefix and encryption context"),
		Roles:       &[]awsiam.IRole{role},
		Statements: &[]awsiam.PolicyStatement{
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Sid: jsii.String("ListBackups"),
				Actions: jsii.Strings("s3:ListBucket"), Resources: &[]*string{b.Bucket.BucketArn()},
				Conditions: &map[string]interface{}{"StringLike": map[string]interface{}{"s3:prefix": "backups/*"}}}),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Sid: jsii.String("BackupObjects"),
				Actions: s3Actions, Resources: &[]*string{objects}}),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Sid: jsii.String("BackupDataKeys"),
				Actions: kmsActions, Resources: &[]*string{b.KeyArn},
				Conditions: &map[string]interface{}{"StringEquals": map[string]interface{}{"kms:EncryptionContext:caro:purpose": []string{"backup", "identity-export"}}}}),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Sid: jsii.String("BucketEncryptionViaS3"),
				Actions: jsii.Strings("kms:Decrypt", "kms:GenerateDataKey"), Resources: &[]*string{b.KeyArn},
				Conditions: &map[string]interface{}{"StringEquals": map[string]interface{}{"kms:ViaService": fmt.Sprintf("s3.%s.amazonaws.com", *region)}}}),
		},
	})
	nagcheck.Suppress(p, "AwsSolutions-IAM5",
		"Resource backups/* is the backup prefix of the one backup bucket (one folder per backup ID); actions are listed, and Object Lock COMPLIANCE keeps written backups immutable")
}

// GrantErasureRecord lets fn (the API function) record GDPR erasures in the erasure register:
// s3:PutObject under erasures/ of the backup bucket and the bucket key's data keys through S3
// only, nothing else (no read, list or delete; Object Lock keeps every version), and sets
// CARO_ERASURE_BUCKET. The bucket replicates erasures/ to the standby with the backups, where a
// restore re-applies them.
func (b *Backup) GrantErasureRecord(c constructs.Construct, id string, fn awslambda.Function) {
	role := fn.Role()
	if role == nil {
		panic("backup.GrantErasureRecord: the function needs a known role")
	}
	region := awscdk.Stack_Of(c).Region()
	p := awsiam.NewManagedPolicy(c, jsii.String(id), &awsiam.ManagedPolicyProps{
		Description: jsii.String("Caro API function: write erasure register objects (erasures/ of the backup bucket), nothing else"),
		Roles:       &[]awsiam.IRole{role},
		Statements: &[]awsiam.PolicyStatement{
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Sid: jsii.String("RecordErasures"),
				Actions: jsii.Strings("s3:PutObject"), Resources: &[]*string{b.Bucket.ArnForObjects(jsii.String(ErasurePrefix + "*"))}}),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Sid: jsii.String("BucketEncryptionViaS3"),
				Actions: jsii.Strings("kms:GenerateDataKey"), Resources: &[]*string{b.KeyArn},
				Conditions: &map[string]interface{}{"StringEquals": map[string]interface{}{"kms:ViaService": fmt.Sprintf("s3.%s.amazonaws.com", *region)}}}),
		},
	})
	nagcheck.Suppress(p, "AwsSolutions-IAM5",
		"Resource erasures/* is the erasure register prefix of the one backup bucket (one object per erased patient, IDs only); the only action is PutObject, and Object Lock COMPLIANCE keeps every written version")
	fn.AddEnvironment(jsii.String(EnvErasureBucket), b.Bucket.BucketName(), nil)
}

// NewKey declares the multi-Region backup key (rotation on, retained, alias alias/caro/backup). The
// L2 Key has no MultiRegion property, hence the L1.
func NewKey(scope constructs.Construct, id string) awskms.CfnKey {
	k := awskms.NewCfnKey(scope, jsii.String(id), &awskms.CfnKeyProps{
		Description:         jsii.String("Caro backups: wraps the per-backup data keys (multi-Region; replica in the standby region decrypts after a region loss)"),
		MultiRegion:         jsii.Bool(true),
		EnableKeyRotation:   jsii.Bool(true),
		KeySpec:             jsii.String("SYMMETRIC_DEFAULT"),
		KeyUsage:            jsii.String("ENCRYPT_DECRYPT"),
		PendingWindowInDays: jsii.Number(30),
		KeyPolicy:           keyPolicy(awscdk.Stack_Of(scope)),
	})
	k.ApplyRemovalPolicy(awscdk.RemovalPolicy_RETAIN, nil)
	awskms.NewCfnAlias(scope, jsii.String(id+"Alias"), &awskms.CfnAliasProps{AliasName: jsii.String("alias/caro/backup"), TargetKeyId: k.AttrKeyId()})
	return k
}

// NewReplicaKey declares, in the standby region's stack, the replica of the backup key (same key
// ID, usable while the primary region is down). primaryKeyArn is Backup.Key's ARN.
func NewReplicaKey(scope constructs.Construct, id string, primaryKeyArn string) awskms.CfnReplicaKey {
	k := awskms.NewCfnReplicaKey(scope, jsii.String(id), &awskms.CfnReplicaKeyProps{
		PrimaryKeyArn:       jsii.String(primaryKeyArn),
		Description:         jsii.String("Caro backups: replica of the multi-Region backup key for restores in the standby region"),
		PendingWindowInDays: jsii.Number(30),
		KeyPolicy:           keyPolicy(awscdk.Stack_Of(scope)),
	})
	k.ApplyRemovalPolicy(awscdk.RemovalPolicy_RETAIN, nil)
	return k
}

// ReplicaBucketProps configure the standby region's backup bucket.
type ReplicaBucketProps struct {
	// Key is the replica key (NewReplicaKey), as an IKey (awskms.Key_FromKeyArn).
	Key            awskms.IKey
	AccessLogs     awss3.IBucket
	RetentionYears int
	// BucketName lets the primary stack name it in Props.ReplicaBucketArn.
	BucketName string
}

// NewReplicaBucket declares the standby region's backup bucket: the replication destination,
// locked and encrypted like the primary.
func NewReplicaBucket(scope constructs.Construct, id string, props *ReplicaBucketProps) awss3.Bucket {
	if props == nil || props.Key == nil || props.AccessLogs == nil {
		panic("backup.NewReplicaBucket: Key and AccessLogs are required")
	}
	years := props.RetentionYears
	if years == 0 {
		years = DefaultRetentionYears
	}
	return replication.NewLockedBucket(scope, id, &replication.LockedBucketProps{
		BucketName: props.BucketName, Key: props.Key, AccessLogs: props.AccessLogs, LogPrefix: "backups-replica/",
		RetentionYears: years, Holds: replication.HoldsBackups,
		NotReplicatedBecause: "This bucket is itself the cross-region replica of the primary backup bucket; replicating it back would loop",
	})
}
