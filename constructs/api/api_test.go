package api_test

import (
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsroute53"
	"github.com/aws/jsii-runtime-go"
	"github.com/carohealth/platform/constructs/api"
	"github.com/carohealth/platform/constructs/encryption"
	"github.com/carohealth/platform/constructs/nagcheck"
)

func TestMain(m *testing.M) {
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

func TestAPIAuthorizesEveryMethodButHealth(t *testing.T) {
	// GIVEN a stack with handlers, a user pool, a key and a zone
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Test"), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String("eu-west-1")},
	})
	nagcheck.Apply(stack)
	key := encryption.NewKey(stack, "Key", &encryption.KeyProps{Alias: "test/key", Description: "test", LogsService: true})
	fn := func(id string) awslambda.IFunction {
		return awslambda.Function_FromFunctionArn(stack, jsii.String(id), jsii.String("arn:aws:lambda:eu-west-1:123456789012:function:"+id))
	}
	pool := awscognito.UserPool_FromUserPoolArn(stack, jsii.String("Pool"), jsii.String("arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_abc"))
	zone := awsroute53.HostedZone_FromHostedZoneAttributes(stack, jsii.String("Zone"), &awsroute53.HostedZoneAttributes{
		HostedZoneId: jsii.String("Z123"), ZoneName: jsii.String("caro.health"),
	})

	// WHEN the API is created
	api.New(stack, "Api", &api.Props{Handler: fn("api"), Health: fn("health"), UserPool: pool, Key: key, Zone: zone,
		OriginDomain: "api-origin.caro.health", RegionalDomain: "api-eu-west-1.caro.health",
		OriginSecrets: []string{"{{resolve:secretsmanager:caro/origin-verify:SecretString}}"}})

	tpl := assertions.Template_FromStack(stack, nil)
	// THEN every method but GET /health uses the Cognito authorizer
	methods := tpl.FindResources(jsii.String("AWS::ApiGateway::Method"), nil)
	var open, authorized int
	for _, m := range *methods {
		props := (*m)["Properties"].(map[string]interface{})
		if props["HttpMethod"] == "OPTIONS" {
			continue
		}
		switch props["AuthorizationType"] {
		case "COGNITO_USER_POOLS":
			authorized++
		case "NONE":
			open++
		default:
			t.Errorf("method with authorization %v", props["AuthorizationType"])
		}
	}
	if open != 1 || authorized != 12 {
		t.Errorf("open methods = %d (want 1: GET /health), authorized = %d (want 12)", open, authorized)
	}
	// AND the stage logs JSON access lines to an encrypted group, traces, throttles, and never logs bodies
	tpl.HasResourceProperties(jsii.String("AWS::ApiGateway::Stage"), map[string]interface{}{
		"TracingEnabled": true,
		"AccessLogSetting": assertions.Match_ObjectLike(&map[string]interface{}{
			"Format": assertions.Match_StringLikeRegexp(jsii.String(`"requestId":"\$context.requestId"`)),
		}),
		"MethodSettings": assertions.Match_ArrayWith(&[]interface{}{assertions.Match_ObjectLike(&map[string]interface{}{
			"LoggingLevel": "INFO", "DataTraceEnabled": false, "ThrottlingRateLimit": 100,
		})}),
	})
	tpl.HasResourceProperties(jsii.String("AWS::Logs::LogGroup"), map[string]interface{}{"KmsKeyId": assertions.Match_AnyValue()})
	// AND requests are validated
	tpl.HasResourceProperties(jsii.String("AWS::ApiGateway::RequestValidator"), map[string]interface{}{
		"ValidateRequestBody": true, "ValidateRequestParameters": true,
	})
	// AND only the custom domains serve it, with TLS 1.2, under the /api base path
	tpl.HasResourceProperties(jsii.String("AWS::ApiGateway::RestApi"), map[string]interface{}{"DisableExecuteApiEndpoint": true})
	tpl.HasResourceProperties(jsii.String("AWS::ApiGateway::DomainName"), map[string]interface{}{
		"DomainName": "api-origin.caro.health", "SecurityPolicy": "TLS_1_2",
		"EndpointConfiguration": map[string]interface{}{"Types": []string{"REGIONAL"}},
	})
	tpl.HasResourceProperties(jsii.String("AWS::ApiGateway::BasePathMapping"), map[string]interface{}{"BasePath": "api"})
	// AND a regional WAF blocks requests without the CloudFront origin secret
	tpl.HasResourceProperties(jsii.String("AWS::WAFv2::WebACL"), map[string]interface{}{
		"Scope": "REGIONAL",
		"Rules": assertions.Match_ArrayWith(&[]interface{}{assertions.Match_ObjectLike(&map[string]interface{}{
			"Name": "RequireCloudFrontOrigin", "Action": map[string]interface{}{"Block": map[string]interface{}{}},
		})}),
	})
	tpl.ResourceCountIs(jsii.String("AWS::WAFv2::WebACLAssociation"), jsii.Number(1))
	// AND the managed 8 KB body rule only counts, so notes up to the handler's limit pass
	tpl.HasResourceProperties(jsii.String("AWS::WAFv2::WebACL"), map[string]interface{}{
		"Rules": assertions.Match_ArrayWith(&[]interface{}{assertions.Match_ObjectLike(&map[string]interface{}{
			"Name": "AWSManagedRulesCommonRuleSet",
			"Statement": map[string]interface{}{"ManagedRuleGroupStatement": assertions.Match_ObjectLike(&map[string]interface{}{
				"RuleActionOverrides": []interface{}{map[string]interface{}{
					"Name": "SizeRestrictions_BODY", "ActionToUse": map[string]interface{}{"Count": map[string]interface{}{}},
				}},
			})},
		})}),
	})
	// AND the WAF logs to an encrypted group with credentials redacted
	tpl.HasResourceProperties(jsii.String("AWS::WAFv2::LoggingConfiguration"), map[string]interface{}{
		"RedactedFields": assertions.Match_ArrayWith(&[]interface{}{
			map[string]interface{}{"SingleHeader": map[string]interface{}{"Name": "authorization"}},
			map[string]interface{}{"SingleHeader": map[string]interface{}{"Name": "x-caro-origin-verify"}},
		}),
	})
	if f := nagcheck.Findings(stack); len(f) > 0 {
		t.Errorf("unsuppressed cdk-nag findings:\n%s", strings.Join(f, "\n"))
	}
}
