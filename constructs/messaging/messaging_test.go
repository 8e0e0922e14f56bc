package messaging_test

import (
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"
	"github.com/carohealth/platform/constructs/encryption"
	"github.com/carohealth/platform/constructs/messaging"
	"github.com/carohealth/platform/constructs/nagcheck"
)

func TestMain(m *testing.M) {
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

func TestTopicIsEncryptedTLSOnlyAndSubscriptionsHaveDLQs(t *testing.T) {
	// GIVEN a stack with a platform key and a consumer function
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Test"), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String("eu-west-1")},
	})
	nagcheck.Apply(stack)
	key := encryption.NewKey(stack, "Key", &encryption.KeyProps{Alias: "test/key", Description: "test",
		ServicePrincipals: []string{"sns.amazonaws.com"}})
	consumer := awslambda.Function_FromFunctionArn(stack, jsii.String("Consumer"),
		jsii.String("arn:aws:lambda:eu-west-1:123456789012:function:consumer"))

	// WHEN an audit topic is created and subscribed
	topic := messaging.NewTopic(stack, "Audit", &messaging.TopicProps{Key: key, DisplayName: "audit"})
	topic.Subscribe("Writer", consumer)

	// THEN the topic uses the customer-managed key
	tpl := assertions.Template_FromStack(stack, nil)
	tpl.HasResourceProperties(jsii.String("AWS::SNS::Topic"), map[string]interface{}{
		"KmsMasterKeyId": assertions.Match_AnyValue(),
	})
	// AND the key rotates
	tpl.HasResourceProperties(jsii.String("AWS::KMS::Key"), map[string]interface{}{"EnableKeyRotation": true})
	// AND the topic policy denies non-TLS access
	tpl.HasResourceProperties(jsii.String("AWS::SNS::TopicPolicy"), map[string]interface{}{
		"PolicyDocument": assertions.Match_ObjectLike(&map[string]interface{}{
			"Statement": assertions.Match_ArrayWith(&[]interface{}{assertions.Match_ObjectLike(&map[string]interface{}{
				"Effect":    "Deny",
				"Condition": map[string]interface{}{"Bool": map[string]interface{}{"aws:SecureTransport": "false"}},
			})}),
		}),
	})
	// AND the subscription has an encrypted dead-letter queue
	tpl.HasResourceProperties(jsii.String("AWS::SNS::Subscription"), map[string]interface{}{
		"Protocol":      "lambda",
		"RedrivePolicy": map[string]interface{}{"deadLetterTargetArn": assertions.Match_AnyValue()},
	})
	tpl.HasResourceProperties(jsii.String("AWS::SQS::Queue"), map[string]interface{}{"KmsMasterKeyId": assertions.Match_AnyValue()})
	if len(topic.DeadLetterQueues) != 1 {
		t.Errorf("dead-letter queues = %d, want 1", len(topic.DeadLetterQueues))
	}
	// AND cdk-nag finds nothing unsuppressed
	if f := nagcheck.Findings(stack); len(f) > 0 {
		t.Errorf("unsuppressed cdk-nag findings:\n%s", strings.Join(f, "\n"))
	}
}
