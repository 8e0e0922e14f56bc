package gofunction_test

import (
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/jsii-runtime-go"
	"github.com/carohealth/platform/constructs/encryption"
	"github.com/carohealth/platform/constructs/gofunction"
	"github.com/carohealth/platform/constructs/nagcheck"
)

func TestMain(m *testing.M) {
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

func TestGoFunctionDefaults(t *testing.T) {
	// GIVEN a stack with a platform key and an on-call topic
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Test"), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String("eu-west-1")},
	})
	nagcheck.Apply(stack)
	key := encryption.NewKey(stack, "Key", &encryption.KeyProps{Alias: "test/key", Description: "test", LogsService: true,
		ServicePrincipals: []string{"cloudwatch.amazonaws.com"}})
	topic := awssns.NewTopic(stack, jsii.String("OnCall"), &awssns.TopicProps{MasterKey: key, EnforceSSL: jsii.Bool(true)})

	// WHEN the health handler is added
	gofunction.New(stack, "Health", &gofunction.Props{Folder: "health", Description: "health", Key: key, AlarmTopic: topic,
		Environment: map[string]string{"CARO_REGION": "eu-west-1"}})

	// THEN it is an arm64 provided.al2023 function with tracing, reserved concurrency, DLQ and destination
	tpl := assertions.Template_FromStack(stack, nil)
	tpl.HasResourceProperties(jsii.String("AWS::Lambda::Function"), map[string]interface{}{
		"Runtime":                      "provided.al2023",
		"Handler":                      "bootstrap",
		"Architectures":                []string{"arm64"},
		"TracingConfig":                map[string]interface{}{"Mode": "Active"},
		"ReservedConcurrentExecutions": 5,
		"DeadLetterConfig":             assertions.Match_ObjectLike(&map[string]interface{}{"TargetArn": assertions.Match_AnyValue()}),
		"KmsKeyArn":                    assertions.Match_AnyValue(),
		"LoggingConfig":                assertions.Match_ObjectLike(&map[string]interface{}{"LogFormat": "JSON"}),
	})
	tpl.HasResourceProperties(jsii.String("AWS::Lambda::EventInvokeConfig"), map[string]interface{}{
		"DestinationConfig": map[string]interface{}{"OnFailure": map[string]interface{}{"Destination": assertions.Match_AnyValue()}},
	})
	// AND its log group and dead-letter queue are encrypted with the key
	tpl.HasResourceProperties(jsii.String("AWS::Logs::LogGroup"), map[string]interface{}{
		"KmsKeyId": assertions.Match_AnyValue(), "RetentionInDays": 365,
	})
	tpl.HasResourceProperties(jsii.String("AWS::SQS::Queue"), map[string]interface{}{"KmsMasterKeyId": assertions.Match_AnyValue()})
	// AND errors and throttles raise alarms
	tpl.ResourceCountIs(jsii.String("AWS::CloudWatch::Alarm"), jsii.Number(2))
	// AND the role has no wildcard actions and no managed policies
	for _, res := range *tpl.FindResources(jsii.String("AWS::IAM::Policy"), nil) {
		doc := (*res)["Properties"].(map[string]interface{})["PolicyDocument"].(map[string]interface{})
		for _, st := range doc["Statement"].([]interface{}) {
			actions := st.(map[string]interface{})["Action"]
			list, ok := actions.([]interface{})
			if !ok {
				list = []interface{}{actions}
			}
			for _, a := range list {
				if s, _ := a.(string); s == "*" || strings.HasSuffix(s, ":*") {
					t.Errorf("wildcard action %q in the function's policy", s)
				}
			}
		}
	}
	tpl.HasResourceProperties(jsii.String("AWS::IAM::Role"), map[string]interface{}{"ManagedPolicyArns": assertions.Match_Absent()})
	// AND cdk-nag finds nothing unsuppressed
	if f := nagcheck.Findings(stack); len(f) > 0 {
		t.Errorf("unsuppressed cdk-nag findings:\n%s", strings.Join(f, "\n"))
	}
}
