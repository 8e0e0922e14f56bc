// Package messaging provides the platform's internal topics: SNS encrypted with a customer-managed
// KMS key, reachable only over TLS, with every subscription backed by an encrypted dead-letter queue,
// so a message that cannot be delivered is kept and alarmed rather than lost.
package messaging

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/carohealth/platform/constructs/nagcheck"
)

// TopicProps configures an internal topic.
type TopicProps struct {
	// Key encrypts the topic and its subscriptions' dead-letter queues. Its policy must let
	// sns.amazonaws.com (and any service that publishes, such as CloudWatch) use it.
	Key awskms.IKey
	// DisplayName is shown in notifications.
	DisplayName string
}

// Topic is an encrypted internal topic.
type Topic struct {
	// Topic is the SNS topic.
	Topic awssns.Topic
	// DeadLetterQueues are the DLQs of the subscriptions made with Subscribe.
	DeadLetterQueues []awssqs.Queue
	key              awskms.IKey
	scope            constructs.Construct
}

// NewTopic creates a KMS-encrypted topic whose policy refuses any request not made over TLS.
func NewTopic(scope constructs.Construct, id string, props *TopicProps) *Topic {
	c := constructs.NewConstruct(scope, jsii.String(id))
	// The topic carries the construct's id: a function subscribed to two topics gets one subscription
	// per topic id under its own scope, so the ids must differ.
	topic := awssns.NewTopic(c, jsii.String(id), &awssns.TopicProps{
		DisplayName: jsii.String(props.DisplayName),
		MasterKey:   props.Key,
		EnforceSSL:  jsii.Bool(true),
	})
	return &Topic{Topic: topic, key: props.Key, scope: c}
}

// AllowAlarms lets the CloudWatch alarms of topic's own account and region publish to it. CloudWatch
// publishes as its service principal, which no IAM policy of ours covers: once a topic has a policy
// of its own (EnforceSSL writes one, and it replaces SNS's default policy) every alarm action fails
// with "not authorized to perform: SNS:Publish ... because no resource-based policy allows" unless
// the policy allows it, and on-call is never paged. The conditions keep other accounts' alarms out
// (confused deputy). The topic's key must let cloudwatch.amazonaws.com use it as well
// (encryption.KeyProps.ServicePrincipals).
func AllowAlarms(topic awssns.ITopic) {
	stack := awscdk.Stack_Of(topic)
	topic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("AllowThisAccountsAlarms"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  &[]*string{topic.TopicArn()},
		Conditions: &map[string]interface{}{
			"StringEquals": map[string]interface{}{"aws:SourceAccount": stack.Account()},
			"ArnLike": map[string]interface{}{"aws:SourceArn": stack.FormatArn(&awscdk.ArnComponents{
				Service: jsii.String("cloudwatch"), Resource: jsii.String("alarm"), ResourceName: jsii.String("*"),
				ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
			})},
		},
	}))
}

// Subscribe delivers the topic to fn, with an encrypted dead-letter queue for messages SNS could not
// deliver. The queue is returned so monitoring can alarm on its depth.
func (t *Topic) Subscribe(id string, fn awslambda.IFunction) awssqs.Queue {
	dlq := awssqs.NewQueue(t.scope, jsii.String(id+"DeadLetters"), &awssqs.QueueProps{
		Encryption:          awssqs.QueueEncryption_KMS,
		EncryptionMasterKey: t.key,
		EnforceSSL:          jsii.Bool(true),
		RetentionPeriod:     awscdk.Duration_Days(jsii.Number(14)),
	})
	nagcheck.Suppress(dlq, "AwsSolutions-SQS3",
		"This queue is the dead-letter queue of an SNS subscription; its depth is alarmed and the traffic watcher reports every message.")
	t.Topic.AddSubscription(awssnssubscriptions.NewLambdaSubscription(fn, &awssnssubscriptions.LambdaSubscriptionProps{
		DeadLetterQueue: dlq,
	}))
	t.DeadLetterQueues = append(t.DeadLetterQueues, dlq)
	return dlq
}
