package backupengine_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/jsii-runtime-go"

	"github.com/carohealth/platform/constructs/backupengine"
	"github.com/carohealth/platform/constructs/nagcheck"
)

func TestMain(m *testing.M) {
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

// engineStack declares the engine in a test stack: a worker, the region's backup bucket and key,
// the on-call topic, and the standby side.
func engineStack(t *testing.T, mod func(*backupengine.Props)) (awscdk.Stack, assertions.Template) {
	t.Helper()
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Test"), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String("eu-central-1")},
	})
	nagcheck.Apply(stack)
	worker := awslambda.NewFunction(stack, jsii.String("Worker"), &awslambda.FunctionProps{
		Runtime: awslambda.Runtime_NODEJS_20_X(), Handler: jsii.String("index.handler"), Code: awslambda.Code_FromInline(jsii.String("stub")),
	})
	key := awskms.NewKey(stack, jsii.String("Key"), &awskms.KeyProps{EnableKeyRotation: jsii.Bool(true)})
	bucket := awss3.Bucket_FromBucketName(stack, jsii.String("Bucket"), jsii.String("caro-backups-own"))
	topic := awssns.Topic_FromTopicArn(stack, jsii.String("OnCall"), jsii.String("arn:aws:sns:eu-central-1:123456789012:oncall"))
	props := &backupengine.Props{Worker: worker, Key: key, AlarmTopic: topic, Bucket: bucket,
		KeyArn:     jsii.String("arn:aws:kms:eu-central-1:123456789012:key/mrk-own"),
		UserPoolID: "eu-central-1_pool", UserPoolArn: "arn:aws:cognito-idp:eu-central-1:123456789012:userpool/eu-central-1_pool",
		Standby: &backupengine.Standby{PeerRegion: "eu-west-1", BucketName: "caro-backup-replica-123456789012-eu-central-1",
			BucketKeyArns: []string{"arn:aws:kms:eu-central-1:123456789012:key/*"}, BucketKeyAliases: []string{"alias/caro/replica"},
			PeerKeyArn: jsii.String("arn:aws:kms:eu-central-1:123456789012:key/mrk-peer")}}
	if mod != nil {
		mod(props)
	}
	backupengine.New(stack, "Engine", props)
	return stack, assertions.Template_FromStack(stack, nil)
}

// definitions returns each state machine's definition (Lambda ARNs and other tokens as "TOKEN"),
// by its logical ID's prefix.
func definitions(t *testing.T, tpl assertions.Template) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for id, r := range *tpl.FindResources(jsii.String("AWS::StepFunctions::StateMachine"), nil) {
		def := (*r)["Properties"].(map[string]any)["DefinitionString"]
		var sb strings.Builder
		switch d := def.(type) {
		case string:
			sb.WriteString(d)
		case map[string]any:
			for _, part := range d["Fn::Join"].([]any)[1].([]any) {
				if s, ok := part.(string); ok {
					sb.WriteString(s)
				} else {
					sb.WriteString("TOKEN")
				}
			}
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(sb.String()), &m); err != nil {
			t.Fatalf("definition of %s: %v\n%s", id, err, sb.String())
		}
		for _, name := range []string{"Backup", "Prestage"} {
			if strings.HasPrefix(id, "Engine"+name) && !strings.Contains(id, "Logs") {
				out[name] = m
			}
		}
	}
	return out
}

// state finds a state by name, in the definition or a Map's item processor.
func state(def map[string]any, name string) map[string]any {
	states, _ := def["States"].(map[string]any)
	for n, s := range states {
		sm := s.(map[string]any)
		if n == name {
			return sm
		}
		if p, ok := sm["ItemProcessor"].(map[string]any); ok {
			if found := state(p, name); found != nil {
				return found
			}
		}
	}
	return nil
}

func TestTheBackupStateMachineFansOutOverPartsWithRetriesAndTimeouts(t *testing.T) {
	// GIVEN the engine of a region
	_, tpl := engineStack(t, nil)
	defs := definitions(t, tpl)
	backup := defs["Backup"]
	if backup == nil {
		t.Fatal("no Backup state machine")
	}
	// THEN Plan, a Distributed Map over the parts and Finalize run in that order
	if backup["StartAt"] != "Plan" || state(backup, "Plan")["Next"] != "AnythingToBackUp" || state(backup, "SealParts")["Next"] != "Finalize" {
		t.Fatalf("backup flow: %v", backup["States"])
	}
	seal := state(backup, "SealParts")
	if seal["Type"] != "Map" || seal["ItemsPath"] != "$.parts" || seal["MaxConcurrency"] != float64(backupengine.DefaultMaxConcurrency) || (seal["ToleratedFailurePercentage"] != nil && seal["ToleratedFailurePercentage"] != float64(0)) {
		t.Fatalf("SealParts: %v", seal)
	}
	if mode := seal["ItemProcessor"].(map[string]any)["ProcessorConfig"].(map[string]any)["Mode"]; mode != "DISTRIBUTED" {
		t.Fatalf("SealParts runs %v, want a Distributed Map", mode)
	}
	// AND every worker task times out after the Lambda limit and retries a worker that failed,
	// timed out or was killed
	for _, name := range []string{"Plan", "SealPart", "Finalize"} {
		s := state(backup, name)
		if s["TimeoutSeconds"] != float64(60*(backupengine.WorkerTimeoutMinutes+1)) {
			t.Errorf("%s times out after %v s", name, s["TimeoutSeconds"])
		}
		found := false
		for _, r := range s["Retry"].([]any) {
			rm := r.(map[string]any)
			if fmt.Sprint(rm["ErrorEquals"]) == "[States.TaskFailed States.Timeout Lambda.Unknown]" && rm["MaxAttempts"].(float64) >= 2 && rm["BackoffRate"] == float64(2) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s does not retry failed or killed workers: %v", name, s["Retry"])
		}
		if name != "SealPart" && len(s["Catch"].([]any)) == 0 {
			t.Errorf("%s has no Catch", name)
		}
	}
	// AND the whole backup must end within the interval, logged and traced
	tpl.HasResourceProperties(jsii.String("AWS::StepFunctions::StateMachine"), map[string]any{
		"TracingConfiguration": map[string]any{"Enabled": true},
		"LoggingConfiguration": assertions.Match_ObjectLike(&map[string]any{"Level": "ALL"}),
	})
	// AND it runs every 6 hours
	tpl.HasResourceProperties(jsii.String("AWS::Events::Rule"), map[string]any{
		"ScheduleExpression": "rate(6 hours)",
		"Targets":            assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{"Arn": map[string]any{"Ref": assertions.Match_StringLikeRegexp(jsii.String("EngineBackup"))}})}),
	})
	if to := backup["TimeoutSeconds"]; to != float64(6*3600) {
		t.Errorf("the backup may run %v s, want the 6-hour interval", to)
	}
}

func TestTheEngineAlarmsOnCall(t *testing.T) {
	_, tpl := engineStack(t, nil)
	// THEN a failed, timed-out or aborted execution of either state machine alarms on-call
	for _, sm := range []string{"EngineBackup", "EnginePrestage"} {
		tpl.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]any{
			"AlarmActions":       []any{"arn:aws:sns:eu-central-1:123456789012:oncall"},
			"ComparisonOperator": "GreaterThanOrEqualToThreshold", "Threshold": 1,
			"Metrics": assertions.Match_ArrayWith(&[]any{
				assertions.Match_ObjectLike(&map[string]any{"Expression": "FILL(f, 0) + FILL(t, 0) + FILL(a, 0)"}),
				assertions.Match_ObjectLike(&map[string]any{"Id": "f", "MetricStat": assertions.Match_ObjectLike(&map[string]any{
					"Metric": assertions.Match_ObjectLike(&map[string]any{"MetricName": "ExecutionsFailed",
						"Dimensions": []any{map[string]any{"Name": "StateMachineArn", "Value": map[string]any{"Ref": assertions.Match_StringLikeRegexp(jsii.String(sm))}}}}),
				})}),
			}),
		})
	}
	// AND no successful backup in two intervals alarms (missing data counts)
	tpl.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]any{
		"MetricName": "ExecutionsSucceeded", "Period": 6 * 3600, "EvaluationPeriods": 2, "ComparisonOperator": "LessThanThreshold",
		"TreatMissingData": "breaching", "AlarmActions": []any{"arn:aws:sns:eu-central-1:123456789012:oncall"},
	})
	// AND a pre-stage slower than an hour alarms
	tpl.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]any{
		"MetricName": "ExecutionTime", "Statistic": "Maximum", "Threshold": 3600000, "ComparisonOperator": "GreaterThanThreshold",
		"AlarmActions": []any{"arn:aws:sns:eu-central-1:123456789012:oncall"},
	})
}

func TestThePrestageRunsWhenABackupArrivesAndAbortsOnFailure(t *testing.T) {
	_, tpl := engineStack(t, nil)
	pre := definitions(t, tpl)["Prestage"]
	if pre == nil {
		t.Fatal("no Prestage state machine")
	}
	// THEN begin, a Distributed Map loading the parts, complete; a failure of the load or the
	// completion aborts the run (rolled back, recorded) and fails the execution
	load := state(pre, "LoadParts")
	if load["Type"] != "Map" || load["Next"] != "PrestageComplete" || load["Catch"].([]any)[0].(map[string]any)["Next"] != "PrestageAbort" {
		t.Fatalf("LoadParts: %v", load)
	}
	if state(pre, "PrestageComplete")["Catch"].([]any)[0].(map[string]any)["Next"] != "PrestageAbort" || state(pre, "PrestageAbort")["Next"] != "PrestageFailed" {
		t.Fatal("a failed completion is not aborted and failed")
	}
	// AND the arriving manifest starts it, and an hourly catch-up
	tpl.HasResourceProperties(jsii.String("AWS::Events::Rule"), map[string]any{
		"EventPattern": map[string]any{"source": []any{"aws.s3"}, "detail-type": []any{"Object Created"},
			"detail": map[string]any{"bucket": map[string]any{"name": []any{"caro-backup-replica-123456789012-eu-central-1"}},
				"object": map[string]any{"key": []any{map[string]any{"wildcard": "backups/*/manifest.json"}}}}},
	})
	tpl.HasResourceProperties(jsii.String("AWS::Events::Rule"), map[string]any{"ScheduleExpression": "rate(1 hour)"})
	// AND the worker reads the replica only where it must and writes only its records
	tpl.HasResourceProperties(jsii.String("AWS::IAM::ManagedPolicy"), map[string]any{
		"PolicyDocument": map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{
			assertions.Match_ObjectLike(&map[string]any{"Sid": "RecordPrestages", "Action": "s3:PutObject",
				"Resource": assertions.Match_AnyValue()}),
			assertions.Match_ObjectLike(&map[string]any{"Sid": "PeerBackupDataKeys", "Action": "kms:Decrypt",
				"Condition": map[string]any{"StringEquals": map[string]any{"kms:EncryptionContext:caro:purpose": "backup"}}}),
		})},
	})
}

func TestTheEngineIsNagClean(t *testing.T) {
	stack, _ := engineStack(t, nil)
	// The test's stand-ins (worker, key) are gofunction's and encryption's concern.
	var mine []string
	for _, f := range nagcheck.Findings(stack) {
		if strings.HasPrefix(f, "/Test/Engine/") {
			mine = append(mine, f)
		}
	}
	if len(mine) > 0 {
		t.Fatalf("nag findings:\n%s", strings.Join(mine, "\n"))
	}
}

func TestWithoutAStandbyThereIsNoPrestage(t *testing.T) {
	_, tpl := engineStack(t, func(p *backupengine.Props) { p.Standby = nil; p.IntervalHours = 4 })
	if defs := definitions(t, tpl); defs["Prestage"] != nil || defs["Backup"] == nil {
		t.Fatalf("state machines: %v", defs)
	}
	tpl.HasResourceProperties(jsii.String("AWS::Events::Rule"), map[string]any{"ScheduleExpression": "rate(4 hours)"})
}
