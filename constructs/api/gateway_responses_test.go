package api_test

import (
	"fmt"
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
	"github.com/carohealth/platform/internal/headers/headerstest"
)

// apiTemplate synthesizes a stack holding only the API.
func apiTemplate(t *testing.T) assertions.Template {
	t.Helper()
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Test"), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String("eu-west-1")},
	})
	key := encryption.NewKey(stack, "Key", &encryption.KeyProps{Alias: "test/key", Description: "test", LogsService: true})
	fn := func(id string) awslambda.IFunction {
		return awslambda.Function_FromFunctionArn(stack, jsii.String(id), jsii.String("arn:aws:lambda:eu-west-1:123456789012:function:"+id))
	}
	pool := awscognito.UserPool_FromUserPoolArn(stack, jsii.String("Pool"), jsii.String("arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_abc"))
	zone := awsroute53.HostedZone_FromHostedZoneAttributes(stack, jsii.String("Zone"), &awsroute53.HostedZoneAttributes{
		HostedZoneId: jsii.String("Z123"), ZoneName: jsii.String("caro.health"),
	})
	api.New(stack, "Api", &api.Props{Handler: fn("api"), Health: fn("health"), UserPool: pool, Key: key, Zone: zone,
		OriginDomain: "api-origin.caro.health", RegionalDomain: "api-eu-west-1.caro.health",
		OriginSecrets: []string{"{{resolve:secretsmanager:caro/origin-verify:SecretString}}"}})
	return assertions.Template_FromStack(stack, nil)
}

// TestGatewayResponsesCarryTheSecurityHeaders: what API Gateway answers itself on the regional
// domains, without reaching a function (the authorizer's 401 and 403, throttling's 429, the WAF's
// block, an unknown path, a timeout's 504, any 5xx), carries every security header of the platform
// with exactly its value (headerstest.Want, an independent oracle). DEFAULT_4XX and DEFAULT_5XX are
// the fallbacks of every response type not configured on its own, and every response type that is
// configured carries the same set. A static value of a gateway response is the header's value in
// single quotes.
func TestGatewayResponsesCarryTheSecurityHeaders(t *testing.T) {
	// GIVEN the API WHEN synthesized
	tpl := apiTemplate(t)
	// THEN both fallbacks exist and every gateway response sends every header, exactly
	seen := map[string]bool{}
	for id, r := range *tpl.FindResources(jsii.String("AWS::ApiGateway::GatewayResponse"), nil) {
		props := (*r)["Properties"].(map[string]interface{})
		seen[fmt.Sprint(props["ResponseType"])] = true
		params, _ := props["ResponseParameters"].(map[string]interface{})
		headerstest.Check(t, "gateway response "+id, func(name string) string {
			v, _ := params["gatewayresponse.header."+name].(string)
			if len(v) < 2 || !strings.HasPrefix(v, "'") || !strings.HasSuffix(v, "'") {
				return "(not a static value: " + v + ")"
			}
			return v[1 : len(v)-1]
		})
		if len(params) != len(headerstest.Want) {
			t.Errorf("gateway response %s maps %d headers, want the %d security headers only: %v", id, len(params), len(headerstest.Want), params)
		}
	}
	for _, want := range []string{"DEFAULT_4XX", "DEFAULT_5XX"} {
		if !seen[want] {
			t.Errorf("no %s gateway response: API Gateway's own %s answers go out without the security headers", want, want[len("DEFAULT_"):])
		}
	}
	// AND no WAF block answers by itself: a custom response would take precedence over the gateway
	// response (WAF_FILTERED, which falls back to DEFAULT_4XX), and a WAF header value is at most 255
	// characters, shorter than the Content-Security-Policy
	for _, acl := range *tpl.FindResources(jsii.String("AWS::WAFv2::WebACL"), nil) {
		props := (*acl)["Properties"].(map[string]interface{})
		rules, _ := props["Rules"].([]interface{})
		for _, r := range rules {
			rule := r.(map[string]interface{})
			if s := fmt.Sprint(rule["Action"]); strings.Contains(s, "CustomResponse") {
				t.Errorf("WAF rule %v answers with its own response %s, without the gateway response's headers", rule["Name"], s)
			}
		}
		if s := fmt.Sprint(props["DefaultAction"]); strings.Contains(s, "CustomResponse") || !strings.Contains(s, "Allow") {
			t.Errorf("the WAF's default action %s", s)
		}
	}
}
