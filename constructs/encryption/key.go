// Package encryption provides the customer-managed KMS keys of the platform: rotation on, deletion
// retained, and a key policy that lets only the named AWS services use the key in this account.
package encryption

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// KeyProps configures a platform key.
type KeyProps struct {
	// Alias is the key alias without the "alias/" prefix, for example "caro/platform".
	Alias string
	// Description says what the key protects.
	Description string
	// LogsService lets CloudWatch Logs in this region encrypt log groups of this account with the key.
	LogsService bool
	// ServicePrincipals may use the key for envelope encryption (GenerateDataKey*, Decrypt), for
	// example "cloudwatch.amazonaws.com" publishing alarms to an encrypted SNS topic.
	ServicePrincipals []string
}

// NewKey creates a symmetric customer-managed key with yearly rotation. The key is retained when the
// stack is deleted: destroying it would make every log, message and backup under it unreadable.
func NewKey(scope constructs.Construct, id string, props *KeyProps) awskms.Key {
	key := awskms.NewKey(scope, jsii.String(id), &awskms.KeyProps{
		Alias:             jsii.String(props.Alias),
		Description:       jsii.String(props.Description),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
		PendingWindow:     awscdk.Duration_Days(jsii.Number(30)),
	})
	stack := awscdk.Stack_Of(scope)
	if props.LogsService {
		key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("AllowCloudWatchLogs"),
			Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String(fmt.Sprintf("logs.%s.amazonaws.com", *stack.Region())), nil)},
			Actions: jsii.Strings("kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*",
				"kms:Describe*"),
			Resources: jsii.Strings("*"),
			Conditions: &map[string]interface{}{
				"ArnLike": map[string]interface{}{
					"kms:EncryptionContext:aws:logs:arn": fmt.Sprintf("arn:%s:logs:%s:%s:log-group:*", *stack.Partition(), *stack.Region(), *stack.Account()),
				},
			},
		}), jsii.Bool(true))
	}
	for _, service := range props.ServicePrincipals {
		key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String(service), nil)},
			Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*"),
			Resources:  jsii.Strings("*"),
			Conditions: &map[string]interface{}{
				"StringEquals": map[string]interface{}{"aws:SourceAccount": stack.Account()},
			},
		}), jsii.Bool(true))
	}
	return key
}
