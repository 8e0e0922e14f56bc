package api_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
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

// resourcePaths maps each API Gateway resource's logical ID to its full path ("/auth/config").
func resourcePaths(tpl assertions.Template) map[string]string {
	type res struct{ parent, part string }
	all := map[string]res{}
	for id, r := range *tpl.FindResources(jsii.String("AWS::ApiGateway::Resource"), nil) {
		props := (*r)["Properties"].(map[string]interface{})
		all[id] = res{parent: ref(props["ParentId"]), part: fmt.Sprint(props["PathPart"])}
	}
	out := map[string]string{}
	for id := range all {
		path := ""
		for cur, ok := all[id]; ok; cur, ok = all[cur.parent] {
			path = "/" + cur.part + path
		}
		out[id] = path
	}
	return out
}

// ref returns the logical ID a {"Ref": id} points to ("" for anything else, such as the root
// resource's GetAtt).
func ref(v interface{}) string {
	m, _ := v.(map[string]interface{})
	s, _ := m["Ref"].(string)
	return s
}

func keys(m map[string]bool) []string {
	out := slices.Collect(maps.Keys(m))
	slices.Sort(out)
	return out
}

func TestAPIAuthorizesEveryMethodButTheTwoPublicOnes(t *testing.T) {
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
	// THEN exactly GET /health and GET /auth/config are unauthenticated, both served by the health
	// function, and every other method uses the Cognito authorizer
	paths := resourcePaths(tpl)
	authorizers := tpl.FindResources(jsii.String("AWS::ApiGateway::Authorizer"), nil)
	if len(*authorizers) != 1 {
		t.Fatalf("%d authorizers, want the one Cognito authorizer", len(*authorizers))
	}
	var authorizerID string
	for id := range *authorizers {
		authorizerID = id
	}
	open, authorized := map[string]bool{}, map[string]bool{}
	for _, m := range *tpl.FindResources(jsii.String("AWS::ApiGateway::Method"), nil) {
		props := (*m)["Properties"].(map[string]interface{})
		method := fmt.Sprint(props["HttpMethod"])
		if method == "OPTIONS" {
			continue
		}
		path, ok := paths[ref(props["ResourceId"])]
		if !ok {
			t.Fatalf("method %s on unknown resource %v", method, props["ResourceId"])
		}
		route := method + " " + path
		if props["RequestValidatorId"] == nil {
			t.Errorf("%s is not validated", route)
		}
		integration, _ := json.Marshal(props["Integration"])
		switch props["AuthorizationType"] {
		case "COGNITO_USER_POOLS":
			if ref(props["AuthorizerId"]) != authorizerID {
				t.Errorf("%s uses authorizer %v", route, props["AuthorizerId"])
			}
			if !strings.Contains(string(integration), "function:api") {
				t.Errorf("%s is not served by the API function: %s", route, integration)
			}
			authorized[route] = true
		case "NONE":
			if !strings.Contains(string(integration), "function:health") {
				t.Errorf("public %s is not served by the health function: %s", route, integration)
			}
			open[route] = true
		default:
			t.Errorf("%s with authorization %v", route, props["AuthorizationType"])
		}
	}
	wantOpen := map[string]bool{"GET /health": true, "GET /auth/config": true}
	wantAuthorized := map[string]bool{}
	for _, r := range api.Routes {
		for _, m := range r.Methods {
			wantAuthorized[m+" "+r.Path] = true
		}
	}
	if !maps.Equal(open, wantOpen) {
		t.Errorf("unauthenticated methods %v, want exactly %v", keys(open), keys(wantOpen))
	}
	if !maps.Equal(authorized, wantAuthorized) || len(authorized) != 12 {
		t.Errorf("authorized methods %v, want the 12 of api.Routes %v", keys(authorized), keys(wantAuthorized))
	}
	// AND each function has exactly one invoke permission, for this API's deployed stage only: no
	// per-method copies and no console test invocation (which would run without the authorizer)
	perms := tpl.FindResources(jsii.String("AWS::Lambda::Permission"), nil)
	invoked := map[string]int{}
	for id, p := range *perms {
		props := (*p)["Properties"].(map[string]interface{})
		arn, _ := json.Marshal(props["SourceArn"])
		if props["Principal"] != "apigateway.amazonaws.com" || !strings.Contains(string(arn), `"/",{"Ref":"ApiDeploymentStagelive`) ||
			!strings.Contains(string(arn), `"/*/*"`) {
			t.Errorf("permission %s: principal %v, source %s; want API Gateway on this API's live stage", id, props["Principal"], arn)
		}
		invoked[fmt.Sprint(props["FunctionName"])]++
	}
	if len(invoked) != 2 || len(*perms) != 2 {
		t.Errorf("invoke permissions %v, want one for each of the two functions", invoked)
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
	// AND the rate rule counts the requests that reach the API directly (only the health check may)
	// per source IP, and nothing is keyed on X-Forwarded-For, whose first address a viewer sets
	// (CloudFront appends the real one): CloudFront's traffic is limited per viewer IP at the edge
	tpl.HasResourceProperties(jsii.String("AWS::WAFv2::WebACL"), map[string]interface{}{
		"Rules": assertions.Match_ArrayWith(&[]interface{}{assertions.Match_ObjectLike(&map[string]interface{}{
			"Name": "RateLimitDirectRequestsPerIP",
			"Statement": map[string]interface{}{"RateBasedStatement": assertions.Match_ObjectLike(&map[string]interface{}{
				"AggregateKeyType": "IP",
				"ScopeDownStatement": map[string]interface{}{"NotStatement": map[string]interface{}{"Statement": map[string]interface{}{
					"ByteMatchStatement": assertions.Match_ObjectLike(&map[string]interface{}{
						"FieldToMatch": map[string]interface{}{"SingleHeader": map[string]interface{}{"Name": "x-caro-origin-verify"}},
					}),
				}}},
			})},
		})}),
	})
	if body, _ := json.Marshal(tpl.ToJSON()); strings.Contains(string(body), "FORWARDED_IP") || strings.Contains(string(body), "ForwardedIPConfig") {
		t.Error("a WAF rule keys on a forwarded-IP header, which viewers set")
	}
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
