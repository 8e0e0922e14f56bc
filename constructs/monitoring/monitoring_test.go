package monitoring_test

import (
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"
	"github.com/carohealth/platform/constructs/encryption"
	"github.com/carohealth/platform/constructs/monitoring"
	"github.com/carohealth/platform/constructs/nagcheck"
)

func TestMain(m *testing.M) {
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

func TestAlarmsGoToEncryptedOnCallTopic(t *testing.T) {
	// GIVEN a stack with a key, a function, a queue and an API
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Test"), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String("eu-west-1")},
	})
	nagcheck.Apply(stack)
	key := encryption.NewKey(stack, "Key", &encryption.KeyProps{Alias: "test/key", Description: "test",
		ServicePrincipals: []string{"cloudwatch.amazonaws.com"}})
	fn := awslambda.Function_FromFunctionArn(stack, jsii.String("Fn"), jsii.String("arn:aws:lambda:eu-west-1:123456789012:function:f"))
	queue := awssqs.Queue_FromQueueArn(stack, jsii.String("Q"), jsii.String("arn:aws:sqs:eu-west-1:123456789012:dlq"))
	api := awsapigateway.RestApi_FromRestApiId(stack, jsii.String("Api"), jsii.String("abc123"))

	// WHEN monitoring watches them
	m := monitoring.New(stack, "Monitoring", &monitoring.Props{Key: key, AlertEmail: "oncall@example.org", DashboardName: "caro-test"})
	m.WatchFunction("api", fn)
	m.WatchQueue("ApiDeadLetters", queue)
	m.WatchAPI(api.(awsapigateway.RestApiBase))

	// THEN the on-call topic is KMS-encrypted and mails on-call
	tpl := assertions.Template_FromStack(stack, nil)
	tpl.HasResourceProperties(jsii.String("AWS::SNS::Topic"), map[string]interface{}{"KmsMasterKeyId": assertions.Match_AnyValue()})
	tpl.HasResourceProperties(jsii.String("AWS::SNS::Subscription"), map[string]interface{}{"Protocol": "email", "Endpoint": "oncall@example.org"})
	// AND a second encrypted topic carries the alarms to the traffic watcher
	tpl.ResourceCountIs(jsii.String("AWS::SNS::Topic"), jsii.Number(2))
	// AND DLQ depth, API 5xx rate and p99 latency alarm to both
	tpl.ResourceCountIs(jsii.String("AWS::CloudWatch::Alarm"), jsii.Number(3))
	tpl.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]interface{}{
		"MetricName": "ApproximateNumberOfMessagesVisible", "Threshold": 1,
		"AlarmActions": []interface{}{assertions.Match_AnyValue(), assertions.Match_AnyValue()},
	})
	tpl.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]interface{}{
		"MetricName": "Latency", "ExtendedStatistic": "p99",
	})
	tpl.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]interface{}{
		"Metrics": assertions.Match_ArrayWith(&[]interface{}{assertions.Match_ObjectLike(&map[string]interface{}{
			"Expression": "IF(requests > 0, errors / requests, 0)",
		})}),
	})
	// AND both topics' policies let this account's CloudWatch alarms publish (the TLS-only policy
	// replaces SNS's default one, without which CloudWatch may not publish at all)
	topics := tpl.FindResources(jsii.String("AWS::SNS::Topic"), nil)
	for id := range *topics {
		tpl.HasResourceProperties(jsii.String("AWS::SNS::TopicPolicy"), map[string]interface{}{
			"Topics": []interface{}{map[string]interface{}{"Ref": id}},
			"PolicyDocument": map[string]interface{}{"Statement": assertions.Match_ArrayWith(&[]interface{}{assertions.Match_ObjectLike(&map[string]interface{}{
				"Effect": "Allow", "Action": "sns:Publish",
				"Principal": map[string]interface{}{"Service": "cloudwatch.amazonaws.com"},
				"Resource":  map[string]interface{}{"Ref": id},
				"Condition": map[string]interface{}{
					"StringEquals": map[string]interface{}{"aws:SourceAccount": "123456789012"},
					"ArnLike": map[string]interface{}{"aws:SourceArn": map[string]interface{}{"Fn::Join": []interface{}{"", []interface{}{
						"arn:", map[string]interface{}{"Ref": "AWS::Partition"}, ":cloudwatch:eu-west-1:123456789012:alarm:*",
					}}}},
				},
			})})},
		})
	}
	// AND there is a dashboard
	tpl.ResourceCountIs(jsii.String("AWS::CloudWatch::Dashboard"), jsii.Number(1))
	if f := nagcheck.Findings(stack); len(f) > 0 {
		t.Errorf("unsuppressed cdk-nag findings:\n%s", strings.Join(f, "\n"))
	}
}
