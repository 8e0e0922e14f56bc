// Package backupengine declares the backup engine of one region: two Step Functions state machines
// whose Distributed Maps fan the work out to Lambda workers (lambdas/backupengine), so neither a
// backup nor a restore of tens of gigabytes is bound by one Lambda's 15 minutes or by anybody's
// laptop.
//
//   - Backup (every Interval, default 6 hours): Plan -> SealParts (one worker per _id range) ->
//     Finalize (the manifest, written last, and the identity export). Replicated to the peer by
//     the backup bucket.
//   - Prestage (when a backup's manifest arrives in this region, and hourly to catch up; only where
//     the peer's backups arrive): PrestageBegin -> LoadParts (one worker per part) ->
//     PrestageComplete: the standby restores every backup into its own database with the one
//     post-restore protocol, verified, and records the result (internal/prestage). A failure aborts
//     the run (the database keeps its previous copy) and records it.
//
// Every task retries (Lambda's own errors, a worker that failed or was killed), has a timeout, and
// a failed, timed-out, aborted, missing (backups) or slow (pre-stages) execution alarms on-call. The
// states' payloads are the ops of internal/backupengine.
package backupengine

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	sfn "github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctionstasks"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/carohealth/platform/constructs/monitoring"
	"github.com/carohealth/platform/constructs/nagcheck"
)

// Defaults.
const (
	// DefaultIntervalHours is the backup schedule: the RPO of a failover from a logical backup is at
	// most this plus the backup's duration.
	DefaultIntervalHours = 6
	// DefaultMaxConcurrency is how many workers a Map runs at a time.
	DefaultMaxConcurrency = 8
	// DefaultPrestageMaxRunMinutes: a pre-stage slower than this alarms.
	DefaultPrestageMaxRunMinutes = 60
	// WorkerTimeoutMinutes is a worker's Lambda timeout (the Lambda limit).
	WorkerTimeoutMinutes = 15
)

// Environment variables of the worker this construct sets (internal/backupengine reads them).
const (
	EnvBucket        = "CARO_BACKUP_BUCKET"
	EnvKeyID         = "CARO_BACKUP_KEY_ID"
	EnvStandbyBucket = "CARO_STANDBY_BUCKET"
	EnvPeerKeyID     = "CARO_PEER_BACKUP_KEY_ID"
	// EnvPeerKeyParameter names the SSM parameter holding the peer key's replica ARN.
	EnvPeerKeyParameter = "CARO_PEER_BACKUP_KEY_PARAMETER"
	EnvPeerRegion       = "CARO_PEER_REGION"
	EnvUserPoolID       = "CARO_USER_POOL_ID"
)

// Props configure the engine.
type Props struct {
	// Worker is the engine's Lambda worker (lambdas/backupengine), with its database access. Required.
	Worker awslambda.Function
	// Key encrypts the state machines' logs (the region's platform key). Required.
	Key awskms.IKey
	// AlarmTopic receives the alarms (on-call). Required.
	AlarmTopic awssns.ITopic
	// Bucket and KeyArn are the region's own backup bucket and multi-Region backup key (what the
	// backups are written to and under). Required.
	Bucket awss3.IBucket
	KeyArn *string
	// IntervalHours is the backup schedule (default DefaultIntervalHours).
	IntervalHours float64
	// MaxConcurrency bounds the workers of a Map (default DefaultMaxConcurrency); keep it at most
	// the worker's reserved concurrency.
	MaxConcurrency float64
	// UserPoolID and UserPoolArn, when set, make Finalize write the pool's identity export.
	UserPoolID, UserPoolArn string
	// Standby, when set, declares the pre-stage of the peer's backups that arrive in this region.
	Standby *Standby
}

// Standby is where the peer's backups arrive in this region and how they are read.
type Standby struct {
	// PeerRegion is the region whose backups arrive here.
	PeerRegion string
	// BucketName is this region's replica of the peer's backup bucket (its pre-stage records go
	// there too).
	BucketName string
	// BucketKeyArns and BucketKeyAliases are the KMS key the replica bucket is encrypted with (its
	// ID is generated in another stack: a pattern, narrowed by the alias, e.g. "alias/caro/replica").
	BucketKeyArns    []string
	BucketKeyAliases []string
	// PeerKeyArn is this region's replica of the peer's multi-Region backup key (it unwraps the
	// backups' data keys) when this stack knows it; otherwise PeerKeyParameter names the SSM
	// parameter the peer writes its ARN into (constructs/peershare), read by the worker at start,
	// and the key is found by its tag (PeerKeyTag: key=value).
	PeerKeyArn       *string
	PeerKeyParameter string
	PeerKeyTag       [2]string
	// MaxRunMinutes: a slower pre-stage alarms (default DefaultPrestageMaxRunMinutes).
	MaxRunMinutes float64
}

// Engine is the declared engine.
type Engine struct {
	Backup   sfn.StateMachine
	Prestage sfn.StateMachine // nil without Props.Standby
	// BackupSchedule starts a backup every interval; BackupArrived and PrestageCatchUp start a
	// pre-stage.
	BackupSchedule, BackupArrived, PrestageCatchUp awsevents.Rule
	// BackupFailed (failed, timed out or aborted), BackupMissing (none succeeded in two intervals),
	// PrestageFailed and PrestageSlow notify on-call.
	BackupFailed, BackupMissing, PrestageFailed, PrestageSlow awscloudwatch.Alarm
}

// New declares the engine.
func New(scope constructs.Construct, id string, props *Props) *Engine {
	switch {
	case props == nil || props.Worker == nil || props.Key == nil || props.AlarmTopic == nil:
		panic("backupengine.New: Worker, Key and AlarmTopic are required")
	case props.Bucket == nil || props.KeyArn == nil:
		panic("backupengine.New: Bucket and KeyArn (the region's backup bucket and key) are required")
	}
	hours := props.IntervalHours
	if hours == 0 {
		hours = DefaultIntervalHours
	}
	if hours < 1 || hours > 24 {
		panic(fmt.Sprintf("backupengine.New: IntervalHours %v: give 1 to 24 hours (the RPO of a failover from a logical backup)", hours))
	}
	conc := props.MaxConcurrency
	if conc == 0 {
		conc = DefaultMaxConcurrency
	}
	c := constructs.NewConstruct(scope, jsii.String(id))
	e := &Engine{}
	w := props.Worker
	w.AddEnvironment(jsii.String(EnvBucket), props.Bucket.BucketName(), nil)
	w.AddEnvironment(jsii.String(EnvKeyID), props.KeyArn, nil)
	grantBackup(c, w, props)
	interval := awscdk.Duration_Hours(jsii.Number(hours))

	// The backup: plan, seal every part, write the manifest.
	failed := sfn.NewFail(c, jsii.String("BackupFailed"), &sfn.FailProps{Comment: jsii.String("A step failed after its retries: no manifest was written, so the backup is never listed or restored")})
	plan := task(c, "Plan", w, map[string]interface{}{"op": "plan", "execution.$": "$$.Execution.Name"}, 2)
	seal := sfn.NewDistributedMap(c, jsii.String("SealParts"), &sfn.DistributedMapProps{
		Comment: jsii.String("One worker per _id range: each seals its part into its own object"), ItemsPath: jsii.String("$.parts"),
		ItemSelector:   &map[string]interface{}{"op": "part", "backupId.$": "$.backupId", "part.$": "$$.Map.Item.Value.part"},
		MaxConcurrency: jsii.Number(conc), ToleratedFailurePercentage: jsii.Number(0), ResultPath: sfn.JsonPath_DISCARD(),
	})
	seal.ItemProcessor(task(c, "SealPart", w, sfn.JsonPath_EntirePayload(), 3), nil)
	finalize := task(c, "Finalize", w, map[string]interface{}{"op": "finalize", "backupId.$": "$.backupId"}, 3)
	for _, s := range []sfn.TaskStateBase{plan, finalize} {
		s.AddCatch(failed, &sfn.CatchProps{ResultPath: jsii.String("$.error")})
	}
	seal.AddCatch(failed, &sfn.CatchProps{ResultPath: jsii.String("$.error")})
	backupDef := plan.Next(sfn.NewChoice(c, jsii.String("AnythingToBackUp"), nil).
		When(sfn.Condition_BooleanEquals(jsii.String("$.skip"), jsii.Bool(true)), sfn.NewSucceed(c, jsii.String("NothingToBackUp"), &sfn.SucceedProps{
			Comment: jsii.String("This region's database holds the standby's staged copy, not live data")}), nil).
		Otherwise(seal.Next(finalize).Next(sfn.NewSucceed(c, jsii.String("BackupWritten"), nil))))
	// A backup must end before the next one starts.
	e.Backup = stateMachine(c, "Backup", "", backupDef, interval, props.Key)
	e.BackupSchedule = awsevents.NewRule(c, jsii.String("BackupSchedule"), &awsevents.RuleProps{
		Description: jsii.String(fmt.Sprintf("An encrypted logical backup of the application database every %v hours (the RPO of a failover from a backup)", hours)),
		Schedule:    awsevents.Schedule_Rate(interval),
		Targets:     &[]awsevents.IRuleTarget{awseventstargets.NewSfnStateMachine(e.Backup, &awseventstargets.SfnStateMachineProps{Input: awsevents.RuleTargetInput_FromObject(map[string]interface{}{})})},
	})
	e.BackupFailed = monitoring.OnCallAlarm(c, "BackupFailedAlarm", props.AlarmTopic,
		"A backup failed, timed out or was aborted: see the Backup state machine's execution; until fixed, the newest restorable backup is getting older (caro backup list)",
		failures(e.Backup, awscdk.Duration_Minutes(jsii.Number(5))), awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD, 1, 1, awscloudwatch.TreatMissingData_NOT_BREACHING)
	e.BackupMissing = monitoring.OnCallAlarm(c, "BackupMissingAlarm", props.AlarmTopic,
		fmt.Sprintf("No backup succeeded in %v hours (two intervals): check the BackupSchedule rule and the Backup state machine", 2*hours),
		e.Backup.MetricSucceeded(&awscloudwatch.MetricOptions{Period: interval, Statistic: jsii.String("Sum")}),
		awscloudwatch.ComparisonOperator_LESS_THAN_THRESHOLD, 1, 2, awscloudwatch.TreatMissingData_BREACHING)

	if props.Standby != nil {
		e.prestage(c, props)
	}
	for _, sm := range []sfn.StateMachine{e.Backup, e.Prestage} {
		if sm != nil {
			suppressGenerated(sm)
		}
	}
	return e
}

// suppressGenerated records why the policies CDK generates for a state machine (its role, its
// Distributed Map's and its schedule's) are as they are; call it once the state machine's targets
// exist (the suppressions reach the children present at the call).
func suppressGenerated(sm sfn.StateMachine) {
	nagcheck.SuppressWithChildren(sm, "AwsSolutions-IAM5",
		"Generated by CDK from exact grants: lambda:InvokeFunction on the one worker and its versions (<arn>:*), the Distributed Map's own child executions (execution:<name>/*), "+
			"and Resource::* only for X-Ray (no resource-level permissions) and CloudWatch Logs' log delivery APIs (which take no resource)")
	nagcheck.SuppressWithChildren(sm, "HIPAA.Security-IAMNoInlinePolicy",
		"One role per state machine and per schedule; the policies are generated from grants on exact ARNs, reviewed in git and deployed only by the pipeline, so CloudFormation history versions them")
}

// prestage declares the standby's pre-stage of the peer's arriving backups.
func (e *Engine) prestage(c constructs.Construct, props *Props) {
	s := props.Standby
	if s.PeerRegion == "" || s.BucketName == "" || len(s.BucketKeyArns) == 0 || len(s.BucketKeyAliases) == 0 ||
		(s.PeerKeyArn == nil && (s.PeerKeyParameter == "" || s.PeerKeyTag[0] == "")) {
		panic("backupengine.New: Standby needs PeerRegion, BucketName, BucketKeyArns, BucketKeyAliases, and PeerKeyArn or PeerKeyParameter with PeerKeyTag")
	}
	maxRun := s.MaxRunMinutes
	if maxRun == 0 {
		maxRun = DefaultPrestageMaxRunMinutes
	}
	w := props.Worker
	w.AddEnvironment(jsii.String(EnvStandbyBucket), jsii.String(s.BucketName), nil)
	if s.PeerKeyArn != nil {
		w.AddEnvironment(jsii.String(EnvPeerKeyID), s.PeerKeyArn, nil)
	} else {
		w.AddEnvironment(jsii.String(EnvPeerKeyParameter), jsii.String(s.PeerKeyParameter), nil)
	}
	w.AddEnvironment(jsii.String(EnvPeerRegion), jsii.String(s.PeerRegion), nil)
	grantStandby(c, w, props)
	conc := props.MaxConcurrency
	if conc == 0 {
		conc = DefaultMaxConcurrency
	}
	failed := sfn.NewFail(c, jsii.String("PrestageFailed"), &sfn.FailProps{Comment: jsii.String("The pre-stage failed; the standby keeps the copy it held (see prestage/latest.json)")})
	begin := task(c, "PrestageBegin", w, map[string]interface{}{"op": "prestage-begin", "execution.$": "$$.Execution.Name", "key.$": "$.key"}, 2)
	begin.AddCatch(failed, &sfn.CatchProps{ResultPath: jsii.String("$.error")})
	load := sfn.NewDistributedMap(c, jsii.String("LoadParts"), &sfn.DistributedMapProps{
		Comment: jsii.String("One worker per part: each loads its part into the staging, authenticated and counted"), ItemsPath: jsii.String("$.parts"),
		ItemSelector:   &map[string]interface{}{"op": "prestage-load", "backupId.$": "$.backupId", "run.$": "$.run", "startedAt.$": "$.startedAt", "part.$": "$$.Map.Item.Value.part"},
		MaxConcurrency: jsii.Number(conc), ToleratedFailurePercentage: jsii.Number(0), ResultPath: sfn.JsonPath_DISCARD(),
	})
	load.ItemProcessor(task(c, "LoadPart", w, sfn.JsonPath_EntirePayload(), 3), nil)
	complete := task(c, "PrestageComplete", w, map[string]interface{}{"op": "prestage-complete", "execution.$": "$$.Execution.Name",
		"backupId.$": "$.backupId", "run.$": "$.run", "startedAt.$": "$.startedAt"}, 2)
	abort := task(c, "PrestageAbort", w, map[string]interface{}{"op": "prestage-abort", "execution.$": "$$.Execution.Name",
		"backupId.$": "$.backupId", "run.$": "$.run", "startedAt.$": "$.startedAt", "error.$": "$.error"}, 3)
	abort.Next(failed)
	load.AddCatch(abort, &sfn.CatchProps{ResultPath: jsii.String("$.error")})
	complete.AddCatch(abort, &sfn.CatchProps{ResultPath: jsii.String("$.error")})
	def := begin.Next(sfn.NewChoice(c, jsii.String("AnythingToStage"), nil).
		When(sfn.Condition_BooleanEquals(jsii.String("$.skip"), jsii.Bool(true)), sfn.NewSucceed(c, jsii.String("NothingToStage"), &sfn.SucceedProps{
			Comment: jsii.String("Staged already, another pre-stage runs, or this region's database is live")}), nil).
		Otherwise(load.Next(complete).Next(sfn.NewSucceed(c, jsii.String("Staged"), nil))))
	e.Prestage = stateMachine(c, "Prestage", PrestageStateMachineName, def, awscdk.Duration_Minutes(jsii.Number(4*maxRun)), props.Key)
	input := func(key interface{}) awsevents.RuleTargetInput {
		return awsevents.RuleTargetInput_FromObject(map[string]interface{}{"key": key})
	}
	// S3 sends "Object Created" to EventBridge once the replica bucket has EventBridge notifications
	// on (cdk/replica_stack.go); the hourly catch-up stages whatever an event missed.
	e.BackupArrived = awsevents.NewRule(c, jsii.String("BackupArrived"), &awsevents.RuleProps{
		Description: jsii.String("A backup's manifest arrived in the standby region: pre-stage it"),
		EventPattern: &awsevents.EventPattern{Source: jsii.Strings("aws.s3"), DetailType: jsii.Strings("Object Created"),
			Detail: &map[string]interface{}{"bucket": map[string]interface{}{"name": []string{s.BucketName}},
				"object": map[string]interface{}{"key": []interface{}{map[string]string{"wildcard": "backups/*/manifest.json"}}}}},
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewSfnStateMachine(e.Prestage, &awseventstargets.SfnStateMachineProps{
			Input: input(awsevents.EventField_FromPath(jsii.String("$.detail.object.key")))})},
	})
	e.PrestageCatchUp = awsevents.NewRule(c, jsii.String("PrestageCatchUp"), &awsevents.RuleProps{
		Description: jsii.String("Hourly: pre-stage the newest backup if no event did (nothing happens when it is staged)"),
		Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Hours(jsii.Number(1))),
		Targets:     &[]awsevents.IRuleTarget{awseventstargets.NewSfnStateMachine(e.Prestage, &awseventstargets.SfnStateMachineProps{Input: input("")})},
	})
	e.PrestageFailed = monitoring.OnCallAlarm(c, "PrestageFailedAlarm", props.AlarmTopic,
		"A pre-stage failed, timed out or was aborted: the standby is behind (caro failover readiness); a failover now loads the backup (the cold path); see prestage/latest.json and the Prestage execution",
		failures(e.Prestage, awscdk.Duration_Minutes(jsii.Number(5))), awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD, 1, 1, awscloudwatch.TreatMissingData_NOT_BREACHING)
	e.PrestageSlow = monitoring.OnCallAlarm(c, "PrestageSlowAlarm", props.AlarmTopic,
		fmt.Sprintf("A pre-stage took more than %v minutes: a cold failover would take as long; check the database's load and the engine's concurrency", maxRun),
		e.Prestage.Metric(jsii.String("ExecutionTime"), &awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5)), Statistic: jsii.String("Maximum")}),
		awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD, maxRun*60*1000, 1, awscloudwatch.TreatMissingData_NOT_BREACHING)
}

// task invokes the worker with payload, retried attempts times on a worker that failed, timed out
// or was killed (Lambda's own service errors are retried too).
func task(c constructs.Construct, id string, worker awslambda.IFunction, payload interface{}, attempts float64) awsstepfunctionstasks.LambdaInvoke {
	var in sfn.TaskInput
	switch p := payload.(type) {
	case *string:
		in = sfn.TaskInput_FromJsonPathAt(p)
	case map[string]interface{}:
		in = sfn.TaskInput_FromObject(&p)
	default:
		panic(fmt.Sprintf("backupengine: payload %T", payload))
	}
	t := awsstepfunctionstasks.NewLambdaInvoke(c, jsii.String(id), &awsstepfunctionstasks.LambdaInvokeProps{
		LambdaFunction: worker, Payload: in, PayloadResponseOnly: jsii.Bool(true), RetryOnServiceExceptions: jsii.Bool(true),
		TaskTimeout: sfn.Timeout_Duration(awscdk.Duration_Minutes(jsii.Number(WorkerTimeoutMinutes + 1))),
	})
	t.AddRetry(&sfn.RetryProps{Errors: jsii.Strings("States.TaskFailed", "States.Timeout", "Lambda.Unknown"),
		MaxAttempts: jsii.Number(attempts), Interval: awscdk.Duration_Seconds(jsii.Number(10)), BackoffRate: jsii.Number(2)})
	return t
}

// PrestageStateMachineName names the pre-stage state machine in every region (names are per
// account and region): the on-call role, defined in another stack and region, may start it by name
// for the failover's cold path (constructs/roles).
const PrestageStateMachineName = "caro-prestage"

// stateMachine builds a logged, traced state machine; name "" lets CloudFormation name it.
func stateMachine(c constructs.Construct, id, name string, def sfn.IChainable, timeout awscdk.Duration, key awskms.IKey) sfn.StateMachine {
	logs := awslogs.NewLogGroup(c, jsii.String(id+"Logs"), &awslogs.LogGroupProps{
		EncryptionKey: key, Retention: awslogs.RetentionDays_ONE_YEAR, RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	return sfn.NewStateMachine(c, jsii.String(id), &sfn.StateMachineProps{
		DefinitionBody: sfn.DefinitionBody_FromChainable(def), Timeout: timeout, TracingEnabled: jsii.Bool(true),
		StateMachineName: nameOrNil(name),
		Logs:             &sfn.LogOptions{Destination: logs, Level: sfn.LogLevel_ALL, IncludeExecutionData: jsii.Bool(false)},
	})
}

// failures is the number of an execution failed, timed out or aborted.
func failures(m sfn.StateMachine, period awscdk.Duration) awscloudwatch.IMetric {
	o := &awscloudwatch.MetricOptions{Period: period, Statistic: jsii.String("Sum")}
	return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String("FILL(f, 0) + FILL(t, 0) + FILL(a, 0)"), Period: period,
		UsingMetrics: &map[string]awscloudwatch.IMetric{"f": m.MetricFailed(o), "t": m.MetricTimedOut(o), "a": m.MetricAborted(o)},
	})
}

// grantBackup lets the worker write this region's backups: list and read/write under backups/ of
// its bucket, the backup key's data keys for backups and identity exports (encryption context),
// the bucket's encryption through S3, and the user pool's users for the identity export.
func grantBackup(c constructs.Construct, w awslambda.Function, props *Props) {
	region := awscdk.Stack_Of(c).Region()
	st := []awsiam.PolicyStatement{
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Sid: jsii.String("ListBackups"),
			Actions: jsii.Strings("s3:ListBucket"), Resources: &[]*string{props.Bucket.BucketArn()},
			Conditions: &map[string]interface{}{"StringLike": map[string]interface{}{"s3:prefix": []string{"backups/*", "erasures/*"}}}}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Sid: jsii.String("BackupObjects"),
			Actions: jsii.Strings("s3:GetObject", "s3:PutObject"), Resources: &[]*string{props.Bucket.ArnForObjects(jsii.String("backups/*"))}}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Sid: jsii.String("ReadErasureRegister"),
			Actions: jsii.Strings("s3:GetObject"), Resources: &[]*string{props.Bucket.ArnForObjects(jsii.String("erasures/*"))}}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Sid: jsii.String("BackupDataKeys"),
			Actions: jsii.Strings("kms:Decrypt", "kms:GenerateDataKey"), Resources: &[]*string{props.KeyArn},
			Conditions: &map[string]interface{}{"StringEquals": map[string]interface{}{"kms:EncryptionContext:caro:purpose": []string{"backup", "identity-export"}}}}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Sid: jsii.String("BucketEncryptionViaS3"),
			Actions: jsii.Strings("kms:Decrypt", "kms:GenerateDataKey"), Resources: &[]*string{props.KeyArn},
			Conditions: &map[string]interface{}{"StringEquals": map[string]interface{}{"kms:ViaService": fmt.Sprintf("s3.%s.amazonaws.com", *region)}}}),
	}
	if props.UserPoolID != "" && props.UserPoolArn != "" {
		st = append(st, awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Sid: jsii.String("ListUsers"),
			Actions: jsii.Strings("cognito-idp:ListUsers"), Resources: jsii.Strings(props.UserPoolArn)}))
		w.AddEnvironment(jsii.String(EnvUserPoolID), jsii.String(props.UserPoolID), nil)
	}
	p := awsiam.NewManagedPolicy(c, jsii.String("WorkerBackupPolicy"), &awsiam.ManagedPolicyProps{
		Description: jsii.String("Caro backup engine worker: this region's backups (backups/ of its bucket, the backup key by encryption context)"),
		Roles:       &[]awsiam.IRole{w.Role()}, Statements: &st,
	})
	nagcheck.Suppress(p, "AwsSolutions-IAM5",
		"Resources backups/* and erasures/* are prefixes of the one backup bucket (one folder per backup ID, one object per erasure); actions are listed, the key is named and bound to the backup purposes, and Object Lock COMPLIANCE keeps written backups immutable")
}

// grantStandby lets the worker pre-stage the peer's backups here: read backups/ and erasures/ and
// write prestage/ in the replica bucket (its key only through S3, under its alias), unwrap the
// backups' data keys with the replica of the peer's key (backup purpose only).
func grantStandby(c constructs.Construct, w awslambda.Function, props *Props) {
	s := props.Standby
	region := awscdk.Stack_Of(c).Region()
	bucket := "arn:" + *awscdk.Stack_Of(c).Partition() + ":s3:::" + s.BucketName
	statements := []awsiam.PolicyStatement{}
	if s.PeerKeyArn == nil {
		statements = append(statements, awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Sid: jsii.String("ReadPeerKeyParameter"),
			Actions: jsii.Strings("ssm:GetParameter"), Resources: jsii.Strings(fmt.Sprintf("arn:%s:ssm:%s:%s:parameter%s",
				*awscdk.Stack_Of(c).Partition(), *region, *awscdk.Stack_Of(c).Account(), s.PeerKeyParameter))}))
	}
	p := awsiam.NewManagedPolicy(c, jsii.String("WorkerStandbyPolicy"), &awsiam.ManagedPolicyProps{
		Description: jsii.String("Caro backup engine worker: pre-stage the peer's backups (read backups/ and erasures/, record prestage/ in the replica bucket)"),
		Roles:       &[]awsiam.IRole{w.Role()},
		Statements: ptr(append([]awsiam.PolicyStatement{
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Sid: jsii.String("ListReplica"),
				Actions: jsii.Strings("s3:ListBucket"), Resources: jsii.Strings(bucket),
				Conditions: &map[string]interface{}{"StringLike": map[string]interface{}{"s3:prefix": []string{"backups/*", "erasures/*", "prestage/*"}}}}),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Sid: jsii.String("ReadReplica"),
				Actions: jsii.Strings("s3:GetObject"), Resources: jsii.Strings(bucket+"/backups/*", bucket+"/erasures/*", bucket+"/prestage/*")}),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Sid: jsii.String("RecordPrestages"),
				Actions: jsii.Strings("s3:PutObject"), Resources: jsii.Strings(bucket + "/prestage/*")}),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Sid: jsii.String("ReplicaEncryptionViaS3"),
				Actions: jsii.Strings("kms:Decrypt", "kms:GenerateDataKey"), Resources: jsii.Strings(s.BucketKeyArns...),
				Conditions: &map[string]interface{}{
					"StringEquals":             map[string]interface{}{"kms:ViaService": fmt.Sprintf("s3.%s.amazonaws.com", *region)},
					"ForAnyValue:StringEquals": map[string]interface{}{"kms:ResourceAliases": s.BucketKeyAliases},
				}}),
			peerKeyStatement(c, s),
		}, statements...)),
	})
	nagcheck.Suppress(p, "AwsSolutions-IAM5",
		"Resources are the backups/, erasures/ and prestage/ prefixes of the one replica bucket, and its key's ARN pattern (generated in the replica stack) narrowed by its alias and to S3; writes go to prestage/ only")
}

// peerKeyStatement lets the worker unwrap the backups' data keys (backup purpose only) with this
// region's replica of the peer's key: named, or by its tag when its ID is generated elsewhere.
func peerKeyStatement(c constructs.Construct, s *Standby) awsiam.PolicyStatement {
	cond := map[string]interface{}{"StringEquals": map[string]interface{}{"kms:EncryptionContext:caro:purpose": "backup"}}
	resource := s.PeerKeyArn
	if resource == nil {
		st := awscdk.Stack_Of(c)
		resource = jsii.String(fmt.Sprintf("arn:%s:kms:%s:%s:key/*", *st.Partition(), *st.Region(), *st.Account()))
		cond["StringEquals"].(map[string]interface{})["aws:ResourceTag/"+s.PeerKeyTag[0]] = s.PeerKeyTag[1]
	}
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Sid: jsii.String("PeerBackupDataKeys"),
		Actions: jsii.Strings("kms:Decrypt"), Resources: &[]*string{resource}, Conditions: &cond})
}

func ptr[T any](v T) *T { return &v }

func nameOrNil(name string) *string {
	if name == "" {
		return nil
	}
	return jsii.String(name)
}
