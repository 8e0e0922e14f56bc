// Package ledger provides the infrastructure of the audit ledger (internal/ledger): the checkpoint
// bucket with S3 Object Lock in COMPLIANCE mode, replicated to the standby region; the asymmetric
// KMS key that signs checkpoints; least-privilege grants for the audit writer function; and an alarm
// on the writer's dead-letter queue, so a poison audit message is never lost silently.
package ledger

import (
	"crypto/x509"
	"fmt"
	"regexp"
	"strings"

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
	"github.com/carohealth/platform/internal/ledger/pinnedkeys"
)

// DefaultRetentionYears is the Object Lock retention when Props.RetentionYears is 0 (the region
// definition's default).
const DefaultRetentionYears = 9

// Environment variable names the writer function reads (set by AddWriterEnvironment).
const (
	EnvBucket         = "CARO_LEDGER_BUCKET"
	EnvSigningKey     = "CARO_LEDGER_SIGNING_KEY_ARN"
	EnvRetentionYears = "CARO_LEDGER_RETENTION_YEARS"
	// EnvReplicaBucket and EnvPeerPublicKeys are set with Props.PeerVerification: the writer's
	// scheduled verify then reads this region's replica of the peer's checkpoints with its own
	// bucket as one series, each checkpoint checked with the key it names (internal/ledger/writer).
	EnvReplicaBucket  = "CARO_LEDGER_REPLICA_BUCKET"
	EnvPeerPublicKeys = "CARO_LEDGER_PEER_PUBLIC_KEYS"
	// EnvPeerPublicKeysParameter names, instead of EnvPeerPublicKeys, the SSM parameter of this
	// region that holds the peer's keys in the same format (written there by the peer's stack,
	// constructs/peershare), read at run time.
	EnvPeerPublicKeysParameter = "CARO_LEDGER_PEER_PUBLIC_KEYS_PARAMETER"
)

// checkpointPrefix is where internal/ledger keeps checkpoint objects (constructs may not import it).
const checkpointPrefix = "checkpoints/"

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
	// ReplicaRegion is the standby region holding ReplicaBucketArn. Required.
	ReplicaRegion string
	// AccessLogs receives the bucket's server access logs. Required: the platform's access-log bucket.
	AccessLogs awss3.IBucket
	// RetireSchedule is when the writer retires the ledger's yearly segments whose retention has
	// ended (default daily at 04:15 UTC; a run with nothing to retire reads the seals only).
	RetireSchedule awsevents.Schedule
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
	// PeerVerification, when set, has the writer's weekly verify read this region's replica of the
	// peer region's checkpoints too (after a failover the ledger's checkpoints are split across
	// both), and grants the writer exactly the reads that takes. Nil: the own bucket only.
	PeerVerification *PeerVerification
}

// PeerVerification is what the writer needs to verify the peer's checkpoints beside its own.
type PeerVerification struct {
	// ReplicaBucketName is this region's replica of the peer's checkpoint bucket
	// (caro-ledger-replica-<account>-<this region>, the replica stack's), in the stack's account and
	// region.
	ReplicaBucketName string
	// ReplicaKeyAlias is the alias (without "alias/") of the KMS key that encrypts that bucket
	// (SSE-KMS, the replica stack's key, whose ID is generated there).
	ReplicaKeyAlias string
	// PeerPublicKeys are the peer writer's signing keys, pinned: the peer may be the region that is
	// down, so they are never fetched from it (ParsePublicKeys).
	PeerPublicKeys []PublicKey
	// PeerPublicKeysParameter, when PeerPublicKeys is empty, is the SSM parameter of this region
	// holding them (constructs/peershare's, written by the peer's stack), read at run time.
	PeerPublicKeysParameter string
}

// PublicKey is a ledger signing key's public half, named by the key ARN checkpoints carry.
type PublicKey = pinnedkeys.Key

// SigningKeySpec is the key spec of the ledger's signing key; readers of its public key (the ops
// role's `caro audit verify`) are granted on keys of this spec and SIGN_VERIFY usage.
const SigningKeySpec = awskms.KeySpec_ECC_NIST_P256

// keyArnPattern is an exact KMS key ARN (key ID or multi-Region key ID, no alias, no wildcard).
var keyArnPattern = regexp.MustCompile(`^arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):key/[A-Za-z0-9-]+$`)

// ParsePublicKeys reads "<key ARN>=<base64 DER>[,...]", the items `caro audit public-key` prints
// for a region's writer (the writer's CARO_LEDGER_PEER_PUBLIC_KEYS format, internal/ledger/pinnedkeys).
// Beyond that format, every key must be an exact KMS key ARN in region (and in account, unless
// account is empty); at least one is required.
func ParsePublicKeys(value, region, account string) ([]PublicKey, error) {
	keys, err := pinnedkeys.Parse(value)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		m := keyArnPattern.FindStringSubmatch(k.KeyArn)
		switch {
		case m == nil:
			return nil, fmt.Errorf("%q is not a KMS key ARN (arn:aws:kms:%s:<account>:key/<id>)", short(k.KeyArn), region)
		case m[1] != region:
			return nil, fmt.Errorf("key %s is in %s, not in %s: give the signing key of the %s writer", k.KeyArn, m[1], region, region)
		case account != "" && m[2] != account:
			return nil, fmt.Errorf("key %s is in account %s, not in %s", k.KeyArn, m[2], account)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no key given: give <key ARN>=<base64 DER public key>[,...]")
	}
	return keys, nil
}

// FormatPublicKeys is the writer's CARO_LEDGER_PEER_PUBLIC_KEYS value of keys.
func FormatPublicKeys(keys []PublicKey) string { return pinnedkeys.Format(keys) }

// short keeps an error message readable when a whole public key was pasted in the wrong place.
func short(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

// validate panics (a synth-time error) on an unusable PeerVerification.
func (p *PeerVerification) validate() {
	switch {
	case p.ReplicaBucketName == "" || strings.ContainsAny(p.ReplicaBucketName, "*?/:"):
		panic(fmt.Sprintf("ledger.New: PeerVerification.ReplicaBucketName %q: give the exact name of this region's checkpoint replica bucket", p.ReplicaBucketName))
	case p.ReplicaKeyAlias == "" || strings.HasPrefix(p.ReplicaKeyAlias, "alias/") || strings.ContainsAny(p.ReplicaKeyAlias, "*?"):
		panic(fmt.Sprintf("ledger.New: PeerVerification.ReplicaKeyAlias %q: give the exact alias of the replica bucket's key, without \"alias/\"", p.ReplicaKeyAlias))
	case len(p.PeerPublicKeys) == 0 && p.PeerPublicKeysParameter == "":
		panic("ledger.New: PeerVerification needs PeerPublicKeys (pinned, ParsePublicKeys) or PeerPublicKeysParameter")
	}
	for _, k := range p.PeerPublicKeys {
		if !keyArnPattern.MatchString(k.KeyArn) {
			panic(fmt.Sprintf("ledger.New: PeerVerification.PeerPublicKeys: %q is not an exact KMS key ARN", k.KeyArn))
		}
		if _, err := x509.ParsePKIXPublicKey(k.DER); err != nil {
			panic(fmt.Sprintf("ledger.New: PeerVerification.PeerPublicKeys: key %s: %v", k.KeyArn, err))
		}
	}
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
	// Retirement invokes the writer with {"mode":"retire"} on RetireSchedule: it deletes the yearly
	// segments whose retention has ended (internal/ledger Retire).
	Retirement awsevents.Rule
	// OwnBucketPolicy lets the writer list and read its own bucket as its verify, its sealing and
	// its retirement do (versions under checkpoints/, Object Lock retention), and delete the
	// versions of retired checkpoints (Object Lock refuses any version still locked).
	OwnBucketPolicy awsiam.ManagedPolicy
	// DeadLetterAlarm is set when Props.WriterDeadLetters is.
	DeadLetterAlarm awscloudwatch.Alarm
	// PeerVerifyPolicy is the writer's read of the peer's checkpoint replica (set with
	// Props.PeerVerification).
	PeerVerifyPolicy awsiam.ManagedPolicy
	peer             *PeerVerification
	retentionYears   int
	key              awskms.IKey
	scope            constructs.Construct
}

// New creates the ledger infrastructure. It panics on missing props (a synth-time error).
func New(scope constructs.Construct, id string, props *Props) *Ledger {
	switch {
	case props == nil || props.Writer == nil || props.Writer.Role() == nil:
		panic("ledger.New: Props.Writer with a known role is required")
	case props.Key == nil || props.AccessLogs == nil:
		panic("ledger.New: Props.Key and Props.AccessLogs are required")
	case props.ReplicaBucketArn == "" || props.ReplicaKeyArn == "" || props.ReplicaRegion == "":
		panic("ledger.New: Props.ReplicaBucketArn, Props.ReplicaKeyArn and Props.ReplicaRegion are required (standby-region copy of the checkpoints)")
	}
	years := props.RetentionYears
	if years == 0 {
		years = DefaultRetentionYears
	}
	if years < 1 || years > 100 {
		panic(fmt.Sprintf("ledger.New: RetentionYears %d: give 1 to 100", years))
	}
	if props.PeerVerification != nil {
		props.PeerVerification.validate()
	}
	c := constructs.NewConstruct(scope, jsii.String(id))
	l := &Ledger{retentionYears: years, key: props.Key, scope: c, peer: props.PeerVerification}

	l.SigningKey = awskms.NewKey(c, jsii.String("SigningKey"), &awskms.KeyProps{
		Description:   jsii.String("Signs audit ledger checkpoints (caro audit verify checks them offline with the public key)"),
		KeySpec:       SigningKeySpec,
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
		RetentionYears: years, Holds: replication.HoldsAuditCheckpoints,
		Replica: &replication.Destination{
			BucketArn: props.ReplicaBucketArn, KeyArn: jsii.String(props.ReplicaKeyArn), Region: props.ReplicaRegion, RuleID: "checkpoints-to-standby",
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

	l.OwnBucketPolicy = awsiam.NewManagedPolicy(c, jsii.String("WriterOwnBucketPolicy"), &awsiam.ManagedPolicyProps{
		Description: jsii.String("Audit ledger writer: list and read its own checkpoints (verify, seal), delete retired ones"),
		Roles:       &[]awsiam.IRole{props.Writer.Role()},
		Statements: &[]awsiam.PolicyStatement{
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid: jsii.String("ListOwnCheckpoints"), Actions: jsii.Strings("s3:ListBucketVersions"), Resources: &[]*string{l.Bucket.BucketArn()},
				Conditions: &map[string]interface{}{"StringLike": map[string]interface{}{"s3:prefix": []string{checkpointPrefix, checkpointPrefix + "*"}}},
			}),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid: jsii.String("ReadOwnCheckpointLocks"), Actions: jsii.Strings("s3:GetObjectRetention"), Resources: &[]*string{objects},
			}),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid: jsii.String("RetireExpiredCheckpoints"), Actions: jsii.Strings("s3:DeleteObjectVersion"), Resources: &[]*string{objects},
			}),
		},
	})
	nagcheck.Suppress(l.OwnBucketPolicy, "AwsSolutions-IAM5",
		"Resource checkpoints/* is the writer's own key prefix in the ledger bucket, listing only under it; s3:DeleteObjectVersion succeeds only on versions whose Object Lock COMPLIANCE retention has ended (the retired segments'); actions are listed, no action wildcards")

	if l.peer != nil {
		l.PeerVerifyPolicy = l.grantPeerVerify(c, props.Writer.Role())
	}

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

	retireAt := props.RetireSchedule
	if retireAt == nil {
		retireAt = awsevents.Schedule_Cron(&awsevents.CronOptions{Hour: jsii.String("4"), Minute: jsii.String("15")})
	}
	l.Retirement = awsevents.NewRule(c, jsii.String("RetireSchedule"), &awsevents.RuleProps{
		Description: jsii.String("Has the audit writer retire the ledger's yearly segments whose retention has ended"),
		Schedule:    retireAt,
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(props.Writer, &awseventstargets.LambdaFunctionProps{
			Event:         awsevents.RuleTargetInput_FromObject(map[string]string{"mode": "retire"}),
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

// grantPeerVerify lets the writer read this region's replica of the peer's checkpoints exactly as
// its verify does (CheckpointReadStatements). It writes nothing there.
func (l *Ledger) grantPeerVerify(scope constructs.Construct, role awsiam.IRole) awsiam.ManagedPolicy {
	stack := awscdk.Stack_Of(scope)
	statements := CheckpointReadStatements(CheckpointRead{
		ListSid: "ListPeerCheckpoints", ReadSid: "ReadPeerCheckpoints", DecryptSid: "PeerCheckpointDecryptionViaS3",
		BucketArns:  []string{"arn:aws:s3:::" + l.peer.ReplicaBucketName},
		KeyArns:     []string{fmt.Sprintf("arn:aws:kms:%s:%s:key/*", *stack.Region(), *stack.Account())},
		KeyAliases:  []string{"alias/" + l.peer.ReplicaKeyAlias},
		ViaServices: []string{fmt.Sprintf("s3.%s.amazonaws.com", *stack.Region())},
	})
	if name := l.peer.PeerPublicKeysParameter; name != "" && len(l.peer.PeerPublicKeys) == 0 {
		statements = append(statements, awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Sid: jsii.String("ReadPeerPublicKeys"),
			Actions: jsii.Strings("ssm:GetParameter"), Resources: jsii.Strings(fmt.Sprintf("arn:aws:ssm:%s:%s:parameter%s", *stack.Region(), *stack.Account(), name))}))
	}
	p := awsiam.NewManagedPolicy(scope, jsii.String("WriterPeerVerifyPolicy"), &awsiam.ManagedPolicyProps{
		Description: jsii.String("Audit ledger writer's weekly verify: read the peer region's checkpoints in this region's replica"),
		Roles:       &[]awsiam.IRole{role},
		Statements:  &statements,
	})
	nagcheck.Suppress(p, "AwsSolutions-IAM5",
		"Read-only: checkpoints/* of the one named replica bucket (one object per checkpoint number), listing only under that prefix; "+
			"the replica key (generated ID in the replica stack) only through S3 in this region, only with its alias and only for that bucket's objects; "+
			"actions are listed, no action wildcards")
	return p
}

// RetentionYears is the configured checkpoint retention.
func (l *Ledger) RetentionYears() int { return l.retentionYears }

// WriterEnvironment is what the writer function needs besides the common CARO_* variables.
// With Props.PeerVerification it includes the replica bucket and the pinned peer keys.
func (l *Ledger) WriterEnvironment() map[string]*string {
	env := map[string]*string{
		EnvBucket:         l.Bucket.BucketName(),
		EnvSigningKey:     l.SigningKey.KeyArn(),
		EnvRetentionYears: jsii.String(fmt.Sprint(l.retentionYears)),
	}
	if l.peer != nil {
		env[EnvReplicaBucket] = jsii.String(l.peer.ReplicaBucketName)
		if len(l.peer.PeerPublicKeys) > 0 {
			env[EnvPeerPublicKeys] = jsii.String(FormatPublicKeys(l.peer.PeerPublicKeys))
		} else {
			env[EnvPeerPublicKeysParameter] = jsii.String(l.peer.PeerPublicKeysParameter)
		}
	}
	return env
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
