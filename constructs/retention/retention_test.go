package retention_test

import (
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/jsii-runtime-go"

	"github.com/carohealth/platform/constructs/nagcheck"
	"github.com/carohealth/platform/constructs/retention"
)

func TestMain(m *testing.M) {
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

func newStack() (awscdk.Stack, awslambda.Function, awssns.ITopic) {
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Test"), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String("eu-west-1")},
	})
	nagcheck.Apply(stack)
	fn := awslambda.NewFunction(stack, jsii.String("RetentionFn"), &awslambda.FunctionProps{
		Runtime: awslambda.Runtime_NODEJS_20_X(), Handler: jsii.String("index.handler"),
		Code: awslambda.Code_FromInline(jsii.String("stub")),
	})
	alarms := awssns.Topic_FromTopicArn(stack, jsii.String("Alarms"), jsii.String("arn:aws:sns:eu-west-1:123456789012:oncall"))
	return stack, fn, alarms
}

func TestRetentionJob(t *testing.T) {
	// GIVEN a region stack with the retention function and the on-call topic
	stack, fn, alarms := newStack()
	// WHEN the retention job is declared with the region's 7-year retention
	r := retention.New(stack, "Retention", &retention.Props{Function: fn, RetentionYears: 7, AlarmTopic: alarms})
	tpl := assertions.Template_FromStack(stack, nil)

	// THEN the function gets the region's retention
	if r.Years != 7 {
		t.Fatalf("Years %d", r.Years)
	}
	tpl.HasResourceProperties(jsii.String("AWS::Lambda::Function"), map[string]interface{}{
		"Environment": map[string]interface{}{"Variables": map[string]interface{}{retention.EnvRetentionYears: "7"}},
	})
	// AND it runs daily at 03:30 UTC with {"mode":"expire"}, retried
	tpl.HasResourceProperties(jsii.String("AWS::Events::Rule"), map[string]interface{}{
		"ScheduleExpression": "cron(30 3 * * ? *)",
		"State":              "ENABLED",
		"Targets": []interface{}{assertions.Match_ObjectLike(&map[string]interface{}{
			"Input":       `{"mode":"expire"}`,
			"RetryPolicy": map[string]interface{}{"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 21600},
		})},
	})
	// AND a failed run and two days without a run page on-call
	tpl.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]interface{}{
		"MetricName": "Errors", "ComparisonOperator": "GreaterThanOrEqualToThreshold", "Threshold": 1, "TreatMissingData": "notBreaching",
		"AlarmActions": []interface{}{"arn:aws:sns:eu-west-1:123456789012:oncall"},
	})
	tpl.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]interface{}{
		"MetricName": "Invocations", "ComparisonOperator": "LessThanThreshold", "EvaluationPeriods": 2, "TreatMissingData": "breaching",
		"AlarmActions": []interface{}{"arn:aws:sns:eu-west-1:123456789012:oncall"},
	})
	// AND the construct is nag clean
	if f := nagcheck.FindingsUnder(stack, "/Test/Retention"); len(f) != 0 {
		t.Errorf("nag findings:\n%s", strings.Join(f, "\n"))
	}
}

func TestRetentionDefaultsAndRefusals(t *testing.T) {
	// GIVEN no retention years WHEN declared THEN the default of 9 applies
	stack, fn, alarms := newStack()
	if r := retention.New(stack, "Retention", &retention.Props{Function: fn, AlarmTopic: alarms}); r.Years != retention.DefaultYears {
		t.Fatalf("default years %d", r.Years)
	}
	// GIVEN a retention outside 1-100, or no function WHEN declared THEN it panics, naming the fix
	for name, props := range map[string]*retention.Props{
		"101 years":   {Function: fn, AlarmTopic: alarms, RetentionYears: 101},
		"no function": {AlarmTopic: alarms},
		"no topic":    {Function: fn},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s accepted", name)
				}
			}()
			s, _, _ := newStack()
			retention.New(s, "R", props)
		}()
	}
}
