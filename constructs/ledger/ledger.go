// Package ledger provides the infrastructure of the audit ledger (internal/ledger): the checkpoint
// bucket with S3 Object Lock in COMPLIANCE mode, replicated to the standby region; the asymmetric
// KMS key that signs checkpoints; least-privilege grants for the audit writer function; and an alarm
// on the writer's dead-letter queue, so a poison audit message is never lost silently.
package ledger

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
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/carohealth/platform/constructs/nagcheck"
	"github.com/carohealth/platform/constructs/replication"
)

// DefaultRetentionYears is the Object Lock retention when Props.RetentionYears is 0 (the region
// definition's default).
const DefaultRetentionYears = 9

// Environment variable names the writer function reads (set by AddWriterEnvironment).
const (
	EnvBucket         = "CARO_LEDGER_BUCKET"
	EnvSigningKey     = "CARO_LEDGER_SIGNING_KEY_ARN"
	EnvRetentionYears = "CARO_LEDGER_RETENTION_YEARS"
)

// Props configures the ledger infrastructure.
type Props struct {
	// Writer is the audit writer function (lambdas/auditwriter). It gets exactly: put/get of
	// checkpoint objects with their retention, Sign and GetPublicKey on the signing key, and data-key
	// use of the bucket key. Its role must be known (Writer.Role() not nil).
	Writer awslambda.IFunction
	// BucketName, when set, names the checkpoint bucket, so the other region's ledger can name it as
	// its replica (for example "caro-ledger-<account>-<region>"); empty lets CloudFormation choose.
	BucketName string
	// RetentionYears is the Object Lock retention of checkpoints (default 9, from the region definition).
	RetentionYears int
	// Key encrypts the checkpoint bucket (SSE-KMS). Required.
	Key awskms.IKey
	// ReplicaBucketArn is the checkpoint bucket in the standby region (it must have Object Lock and
	// versioning enabled, as replication of locked objects requires). Required.
	ReplicaBucketArn string
	// ReplicaKeyArn is the KMS key in the standby region that encrypts replicas. Required.
	ReplicaKeyArn string
	// AccessLogs receives the bucket's server access logs. Required: the platform's access-log bucket.
	AccessLogs awss3.IBucket
	// VerifySchedule is when the writer recomputes the whole chain and every checkpoint ("reviewed
	// regularly"); a failure dead-letters the invocation and alarms. Default: Mondays 03:00 UTC.
	VerifySchedule awsevents.Schedule
	// CheckpointSchedule is how often an EventBridge rule invokes the writer to cut time-based
	// checkpoints when no events arrive (default 5 minutes, the writer's default max age). Zero
	// duration is the default; there is no way to turn it off, on purpose.
	CheckpointSchedule awscdk.Duration
	// WriterDeadLetters and AlarmTopic, when set, add an alarm that fires as soon as one audit
	// message lands in the writer's dead-letter queue.
	WriterDeadLetters awssqs.IQueue
	AlarmTopic        awssns.ITopic
}

// Ledger is the created infrastructure.
type Ledger struct {
	// Bucket holds the checkpoints (Object Lock COMPLIANCE, versioned, SSE-KMS, TLS only, logged,
	// replicated).
	Bucket awss3.Bucket
	// SigningKey is the ECC_NIST_P256 SIGN_VERIFY key.
	SigningKey awskms.Key
	// WriterPolicy is the writer's least-privilege policy.
	WriterPolicy awsiam.ManagedPolicy
	// Schedule invokes the writer periodically (time-based checkpoints).
	Schedule awsevents.Rule
	// Verification invokes the writer with {"mode":"verify"} on VerifySchedule.
	Verification awsevents.Rule
	// DeadLetterAlarm is set when Props.WriterDeadLetters is.
	DeadLetterAlarm awscloudwatch.Alarm
	retentionYears  int
	key             awskms.IKey
	scope           constructs.Construct
}

// New creates the ledger infrastructure. It panics on missing props (a synth-time error).
func New(scope constructs.Construct, id string, props *Props) *Ledger {
	switch {
	case props == nil || props.Writer == nil || props.Writer.Role() == nil:
		panic("ledger.New: Props.Writer with a known role is required")
	case props.Key == nil || props.AccessLogs == nil:
		panic("ledger.New: Props.Key and Props.AccessLogs are required")
	case props.ReplicaBucketArn == "" || props.ReplicaKeyArn == "":
		panic("ledger.New: Props.ReplicaBucketArn and Props.ReplicaKeyArn are required (standby-region copy of the checkpoints)")
	}
	years := props.RetentionYears
	if years == 0 {
		years = DefaultRetentionYears
	}
	if years < 1 || years > 100 {
		panic(fmt.Sprintf("ledger.New: RetentionYears %d: give 1 to 100", years))
	}
	c := constructs.NewConstruct(scope, jsii.String(id))
	l := &Ledger{retentionYears: years, key: props.Key, scope: c}

	l.SigningKey = awskms.NewKey(c, jsii.String("SigningKey"), &awskms.KeyProps{
		Description:   jsii.String("Signs audit ledger checkpoints (caro audit verify checks them offline with the public key)"),
		KeySpec:       awskms.KeySpec_ECC_NIST_P256,
		KeyUsage:      awskms.KeyUsage_SIGN_VERIFY,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
		PendingWindow: awscdk.Duration_Days(jsii.Number(30)),
	})
	nagcheck.Suppress(l.SigningKey, "AwsSolutions-KMS5",
		"Asymmetric SIGN_VERIFY keys cannot rotate in KMS; checkpoints name the key ARN, so a new key can be introduced by a new checkpoint series")

	// The default retention only guards objects put without a date; the writer always sends an
	// explicit retain-until date.
	l.Bucket = replication.NewLockedBucket(c, "Checkpoints", &replication.LockedBucketProps{
		BucketName: props.BucketName, Key: props.Key, AccessLogs: props.AccessLogs, LogPrefix: "ledger-checkpoints/",
		RetentionYears: years,
		Replica: &replication.Destination{
			BucketArn: props.ReplicaBucketArn, KeyArn: jsii.String(props.ReplicaKeyArn), RuleID: "checkpoints-to-standby",
		},
	})

	objects := l.Bucket.ArnForObjects(jsii.String("checkpoints/*"))
	// A managed policy (not an inline one): versioned, reviewable on its own (HIPAA.Security-IAMNoInlinePolicy).
	l.WriterPolicy = awsiam.NewManagedPolicy(c, jsii.String("WriterPolicy"), &awsiam.ManagedPolicyProps{
		Description: jsii.String("Audit ledger writer: write checkpoints with Object Lock, sign them"),
		Roles:       &[]awsiam.IRole{props.Writer.Role()},
		Statements: &[]awsiam.PolicyStatement{
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:       jsii.String("WriteAndReReadCheckpoints"),
				Actions:   jsii.Strings("s3:PutObject", "s3:PutObjectRetention", "s3:GetObject"),
				Resources: &[]*string{objects},
			}),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:       jsii.String("SignCheckpoints"),
				Actions:   jsii.Strings("kms:Sign", "kms:GetPublicKey"),
				Resources: &[]*string{l.SigningKey.KeyArn()},
			}),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:       jsii.String("EncryptCheckpoints"),
				Actions:   jsii.Strings("kms:GenerateDataKey", "kms:Decrypt"),
				Resources: &[]*string{props.Key.KeyArn()},
			}),
		},
	})
	nagcheck.Suppress(l.WriterPolicy, "AwsSolutions-IAM5",
		"Resource checkpoints/* is the writer's own key prefix in the ledger bucket (one object per checkpoint number); actions are listed, no action wildcards, and Object Lock COMPLIANCE makes every written object immutable")

	every := props.CheckpointSchedule
	if every == nil {
		every = awscdk.Duration_Minutes(jsii.Number(5))
	}
	l.Schedule = awsevents.NewRule(c, jsii.String("CheckpointSchedule"), &awsevents.RuleProps{
		Description: jsii.String("Invokes the audit writer so entries are anchored by a checkpoint even when no events arrive"),
		Schedule:    awsevents.Schedule_Rate(every),
		Targets:     &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(props.Writer, &awseventstargets.LambdaFunctionProps{RetryAttempts: jsii.Number(2)})},
	})

	verifyAt := props.VerifySchedule
	if verifyAt == nil {
		verifyAt = awsevents.Schedule_Cron(&awsevents.CronOptions{WeekDay: jsii.String("MON"), Hour: jsii.String("3"), Minute: jsii.String("0")})
	}
	l.Verification = awsevents.NewRule(c, jsii.String("VerifySchedule"), &awsevents.RuleProps{
		Description: jsii.String("Has the audit writer verify the whole ledger (chain, checkpoints, signatures, Object Lock)"),
		Schedule:    verifyAt,
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(props.Writer, &awseventstargets.LambdaFunctionProps{
			Event:         awsevents.RuleTargetInput_FromObject(map[string]string{"mode": "verify"}),
			RetryAttempts: jsii.Number(2),
		})},
	})

	if props.WriterDeadLetters != nil && props.AlarmTopic != nil {
		l.DeadLetterAlarm = awscloudwatch.NewAlarm(c, jsii.String("WriterDeadLetters"), &awscloudwatch.AlarmProps{
			AlarmDescription: jsii.String("auditwriter: an audit event could not be written to the ledger and is in the dead-letter queue; fix the cause and redrive it (nothing is dropped)"),
			Metric: props.WriterDeadLetters.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
				Period: awscdk.Duration_Minutes(jsii.Number(1)), Statistic: jsii.String("Maximum"),
			}),
			Threshold:          jsii.Number(1),
			EvaluationPeriods:  jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		l.DeadLetterAlarm.AddAlarmAction(awscloudwatchactions.NewSnsAction(props.AlarmTopic))
	}
	return l
}

// RetentionYears is the configured checkpoint retention.
func (l *Ledger) RetentionYears() int { return l.retentionYears }

// WriterEnvironment is what the writer function needs besides the common CARO_* variables.
func (l *Ledger) WriterEnvironment() map[string]*string {
	return map[string]*string{
		EnvBucket:         l.Bucket.BucketName(),
		EnvSigningKey:     l.SigningKey.KeyArn(),
		EnvRetentionYears: jsii.String(fmt.Sprint(l.retentionYears)),
	}
}

// AddWriterEnvironment sets WriterEnvironment on fn.
func (l *Ledger) AddWriterEnvironment(fn awslambda.Function) {
	for k, v := range l.WriterEnvironment() {
		fn.AddEnvironment(jsii.String(k), v, nil)
	}
}

// GrantVerify lets an auditor role run `caro audit verify` and `caro audit prove`: list checkpoints
// with their versions (a second version of a checkpoint is reported as tampering), read them with
// their retention, read the public key, and decrypt checkpoint objects. Listed
// actions only, in a managed policy of this construct.
func (l *Ledger) GrantVerify(id string, role awsiam.IRole) awsiam.ManagedPolicy {
	p := awsiam.NewManagedPolicy(l.scope, jsii.String(id), &awsiam.ManagedPolicyProps{
		Description: jsii.String("Audit ledger verification: read checkpoints, their Object Lock and the signing public key"),
		Roles:       &[]awsiam.IRole{role},
		Statements: &[]awsiam.PolicyStatement{
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Sid: jsii.String("ListCheckpoints"),
				Actions: jsii.Strings("s3:ListBucket", "s3:ListBucketVersions"), Resources: &[]*string{l.Bucket.BucketArn()}}),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Sid: jsii.String("ReadCheckpoints"),
				Actions: jsii.Strings("s3:GetObject", "s3:GetObjectRetention"), Resources: &[]*string{l.Bucket.ArnForObjects(jsii.String("checkpoints/*"))}}),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Sid: jsii.String("ReadPublicKey"),
				Actions: jsii.Strings("kms:GetPublicKey", "kms:Verify"), Resources: &[]*string{l.SigningKey.KeyArn()}}),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Sid: jsii.String("DecryptCheckpoints"),
				Actions: jsii.Strings("kms:Decrypt"), Resources: &[]*string{l.key.KeyArn()}}),
		},
	})
	nagcheck.Suppress(p, "AwsSolutions-IAM5",
		"Resource checkpoints/* is the ledger's checkpoint prefix, read-only; actions are listed, no action wildcards")
	return p
}
