package edge

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awswafv2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// WebACLProps configures the CLOUDFRONT-scope web ACL.
type WebACLProps struct {
	// LogsKey encrypts the WAF log group.
	LogsKey awskms.IKey
	// RateLimitPer5Min is the per-IP limit (default 1000).
	RateLimitPer5Min int
	// LogRetention of the WAF logs (default one year).
	LogRetention awslogs.RetentionDays
}

// MaxBodyBytes is the largest request body the edge accepts (64 KB, the web ACL's inspection limit).
const MaxBodyBytes = 64 * 1024

// ManagedRuleGroups are the AWS managed rule groups the edge web ACL runs, in priority order after
// the rate limit and the body size limit.
var ManagedRuleGroups = []string{
	"AWSManagedRulesAmazonIpReputationList",
	"AWSManagedRulesCommonRuleSet",
	"AWSManagedRulesKnownBadInputsRuleSet",
	"AWSManagedRulesSQLiRuleSet",
}

// NewWebACL creates the web ACL (rate limit, body size limit, then the managed groups; default allow) and its
// logging to a KMS-encrypted log group, with the Authorization and Cookie headers redacted.
func NewWebACL(scope constructs.Construct, id string, props *WebACLProps) awswafv2.CfnWebACL {
	c := constructs.NewConstruct(scope, jsii.String(id))
	limit := props.RateLimitPer5Min
	if limit == 0 {
		limit = 1000
	}
	visibility := func(metric string) *awswafv2.CfnWebACL_VisibilityConfigProperty {
		return &awswafv2.CfnWebACL_VisibilityConfigProperty{
			CloudWatchMetricsEnabled: jsii.Bool(true),
			MetricName:               jsii.String(metric),
			SampledRequestsEnabled:   jsii.Bool(true),
		}
	}
	rules := []any{&awswafv2.CfnWebACL_RuleProperty{
		Name:     jsii.String("RateLimitPerIp"),
		Priority: jsii.Number(0),
		Action:   &awswafv2.CfnWebACL_RuleActionProperty{Block: map[string]any{}},
		Statement: &awswafv2.CfnWebACL_StatementProperty{
			RateBasedStatement: &awswafv2.CfnWebACL_RateBasedStatementProperty{
				Limit:               jsii.Number(float64(limit)),
				AggregateKeyType:    jsii.String("IP"),
				EvaluationWindowSec: jsii.Number(300),
			},
		},
		VisibilityConfig: visibility("RateLimitPerIp"),
	}}
	// Request bodies (API writes such as clinical notes) may be up to MaxBodyBytes and are inspected
	// whole; larger ones are refused here. This replaces the CommonRuleSet's 8 KB
	// SizeRestrictions_BODY block, which would refuse ordinary notes, by a counted label.
	rules = append(rules, &awswafv2.CfnWebACL_RuleProperty{
		Name:     jsii.String("BodySizeLimit"),
		Priority: jsii.Number(1),
		Action:   &awswafv2.CfnWebACL_RuleActionProperty{Block: map[string]any{}},
		Statement: &awswafv2.CfnWebACL_StatementProperty{
			SizeConstraintStatement: &awswafv2.CfnWebACL_SizeConstraintStatementProperty{
				FieldToMatch:        &awswafv2.CfnWebACL_FieldToMatchProperty{Body: &awswafv2.CfnWebACL_BodyProperty{OversizeHandling: jsii.String("MATCH")}},
				ComparisonOperator:  jsii.String("GT"),
				Size:                jsii.Number(MaxBodyBytes),
				TextTransformations: &[]any{&awswafv2.CfnWebACL_TextTransformationProperty{Priority: jsii.Number(0), Type: jsii.String("NONE")}},
			},
		},
		VisibilityConfig: visibility("BodySizeLimit"),
	})
	for i, group := range ManagedRuleGroups {
		statement := &awswafv2.CfnWebACL_ManagedRuleGroupStatementProperty{
			VendorName: jsii.String("AWS"),
			Name:       jsii.String(group),
		}
		if group == "AWSManagedRulesCommonRuleSet" {
			statement.RuleActionOverrides = &[]any{&awswafv2.CfnWebACL_RuleActionOverrideProperty{
				Name:        jsii.String("SizeRestrictions_BODY"),
				ActionToUse: &awswafv2.CfnWebACL_RuleActionProperty{Count: map[string]any{}},
			}}
		}
		rules = append(rules, &awswafv2.CfnWebACL_RuleProperty{
			Name:             jsii.String(group),
			Priority:         jsii.Number(float64(i + 2)),
			OverrideAction:   &awswafv2.CfnWebACL_OverrideActionProperty{None: map[string]any{}},
			Statement:        &awswafv2.CfnWebACL_StatementProperty{ManagedRuleGroupStatement: statement},
			VisibilityConfig: visibility(group),
		})
	}
	acl := awswafv2.NewCfnWebACL(c, jsii.String("Acl"), &awswafv2.CfnWebACLProps{
		Scope:            jsii.String("CLOUDFRONT"),
		Description:      jsii.String("Caro edge: per-IP rate limit and AWS managed rule groups"),
		DefaultAction:    &awswafv2.CfnWebACL_DefaultActionProperty{Allow: map[string]any{}},
		VisibilityConfig: visibility("CaroEdge"),
		Rules:            &rules,
		// Inspect bodies up to 64 KB (CloudFront's default is 16 KB), so MaxBodyBytes is inspected whole.
		AssociationConfig: &awswafv2.CfnWebACL_AssociationConfigProperty{RequestBody: map[string]any{
			"CLOUDFRONT": &awswafv2.CfnWebACL_RequestBodyAssociatedResourceTypeConfigProperty{
				DefaultSizeInspectionLimit: jsii.String("KB_64"),
			},
		}},
	})

	retention := props.LogRetention
	if retention == "" {
		retention = awslogs.RetentionDays_ONE_YEAR
	}
	// WAF requires the log group name to start with aws-waf-logs-.
	group := awslogs.NewLogGroup(c, jsii.String("Logs"), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String(fmt.Sprintf("aws-waf-logs-caro-edge-%s", *awscdk.Names_UniqueId(c))),
		EncryptionKey: props.LogsKey,
		Retention:     retention,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	// WAF wants the log group ARN without the ":*" suffix LogGroupArn carries.
	groupArn := awscdk.Stack_Of(c).FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("logs"),
		Resource:     jsii.String("log-group"),
		ResourceName: group.LogGroupName(),
		ArnFormat:    awscdk.ArnFormat_COLON_RESOURCE_NAME,
	})
	awswafv2.NewCfnLoggingConfiguration(c, jsii.String("Logging"), &awswafv2.CfnLoggingConfigurationProps{
		ResourceArn:           acl.AttrArn(),
		LogDestinationConfigs: &[]any{groupArn},
		// Bearer tokens and cookies must not end up in logs.
		RedactedFields: &[]any{
			&awswafv2.CfnLoggingConfiguration_FieldToMatchProperty{SingleHeader: map[string]any{"Name": "authorization"}},
			&awswafv2.CfnLoggingConfiguration_FieldToMatchProperty{SingleHeader: map[string]any{"Name": "cookie"}},
		},
	})
	return acl
}
