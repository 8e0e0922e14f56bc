// Package api is the platform's regional REST API: API Gateway in front of the Go handlers, a Cognito
// authorizer on every method but the short list of PublicRoutes (GET /health, GET /auth/config),
// request validation, JSON access logs to an encrypted
// log group, execution logging without bodies, X-Ray, throttling, a regional WAF that also refuses
// requests that did not come through CloudFront, and the regional custom domain api-origin.<domain>.
package api

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscertificatemanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsroute53"
	"github.com/aws/aws-cdk-go/awscdk/v2/awswafv2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/carohealth/platform/constructs/nagcheck"
	"github.com/carohealth/platform/internal/accesslog"
	"github.com/carohealth/platform/internal/headers"
)

// OriginVerifyHeader is the header CloudFront adds with the origin secret; the regional WAF blocks
// requests without it, so the API cannot be reached around CloudFront.
const OriginVerifyHeader = "x-caro-origin-verify"

// BasePath is the path prefix under which CloudFront forwards API requests (/api/*); the handlers
// see paths without it.
const BasePath = "api"

// Route is one resource path and the methods the API handler serves on it.
type Route struct {
	Path    string
	Methods []string
}

// Routes are the authenticated routes of the platform API (see docs/api.md). Keeping them as data
// makes "every method has the authorizer" a loop, not a promise.
var Routes = []Route{
	{"/patients", []string{"GET", "POST"}},
	{"/patients/{id}", []string{"GET", "PUT", "DELETE"}},
	{"/patients/{id}/notes", []string{"GET", "POST"}},
	{"/notes/{id}", []string{"GET", "PUT", "DELETE"}},
	{"/subjects/{id}", []string{"DELETE"}},
	{"/subjects/{id}/export", []string{"GET"}},
}

// PublicRoute is a method API Gateway serves without the Cognito authorizer (through the Health
// function). Reason becomes its cdk-nag suppression, so it names the compensating controls.
type PublicRoute struct {
	Method, Path, Reason string
}

// PublicRoutes are the only unauthenticated methods, an explicit list: every other method of the API
// needs the Cognito authorizer. Both answer without reading patient data, and both sit behind the
// stage throttling, the request validator and the regional WAF (per-IP rate limit, managed rules).
var PublicRoutes = []PublicRoute{
	{"GET", "/health", "GET /health is deliberately unauthenticated for Route 53 health checks; it returns region, version and the " +
		"restore marker only, and the WAF rate-limits it per IP and the stage throttles it."},
	{"GET", "/auth/config", "GET /auth/config is what the front end reads before anyone is signed in: the region, user pool ID and " +
		"web client ID, which are public by design (the client is secretless and SRP-only, Cognito's sign-in API is public). " +
		"It does no I/O; the WAF requires the CloudFront origin secret and rate-limits it per IP, and the stage throttles it."},
}

// Props configures the API.
type Props struct {
	// Handler serves every authenticated route; Health serves the PublicRoutes.
	Handler, Health awslambda.IFunction
	// UserPool authenticates callers.
	UserPool awscognito.IUserPool
	// Key encrypts the access-log group.
	Key awskms.IKey
	// OriginDomain is api-origin.<domain> (the failover name); RegionalDomain is api-<region>.<domain>,
	// which always reaches this region so its health check measures this region alone. Zone is the
	// hosted zone that validates the certificate.
	OriginDomain   string
	RegionalDomain string
	Zone           awsroute53.IHostedZone
	// OriginSecrets are the values of OriginVerifyHeader the WAF accepts (Secrets Manager dynamic
	// references, so the secret never appears in the template): the current value, plus the previous
	// one while a rotation is under way.
	OriginSecrets []string
	// RateLimit and BurstLimit throttle the stage; defaults 100 and 200.
	RateLimit, BurstLimit float64
	// WAFRateLimit is the per-source-IP limit per 5 minutes of requests made around CloudFront
	// (the health check); default 2000.
	WAFRateLimit float64
}

// API is the deployed REST API and its custom domain.
type API struct {
	RestAPI awsapigateway.RestApi
	// Domain serves OriginDomain, RegionalDomainName serves RegionalDomain.
	Domain, RegionalDomainName awsapigateway.DomainName
	AccessLog                  awslogs.LogGroup
	WebACL                     awswafv2.CfnWebACL
}

// New creates the API.
func New(scope constructs.Construct, id string, props *Props) *API {
	c := constructs.NewConstruct(scope, jsii.String(id))
	rate, burst := props.RateLimit, props.BurstLimit
	if rate == 0 {
		rate = 100
	}
	if burst == 0 {
		burst = 200
	}
	accessLog := awslogs.NewLogGroup(c, jsii.String("AccessLogs"), &awslogs.LogGroupProps{
		EncryptionKey: props.Key,
		Retention:     awslogs.RetentionDays_ONE_YEAR,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	clientCert := awsapigateway.NewCfnClientCertificate(c, jsii.String("BackendCertificate"), &awsapigateway.CfnClientCertificateProps{
		Description: jsii.String("Lets integrations authenticate API Gateway"),
	})
	restAPI := awsapigateway.NewRestApi(c, jsii.String("Api"), &awsapigateway.RestApiProps{
		Description:               jsii.String("Caro platform API"),
		EndpointConfiguration:     &awsapigateway.EndpointConfiguration{Types: &[]awsapigateway.EndpointType{awsapigateway.EndpointType_REGIONAL}},
		DisableExecuteApiEndpoint: jsii.Bool(true), // only the custom domain, behind the WAF and CloudFront
		CloudWatchRole:            jsii.Bool(true),
		DeployOptions: &awsapigateway.StageOptions{
			StageName:            jsii.String("live"),
			AccessLogDestination: awsapigateway.NewLogGroupLogDestination(accessLog),
			AccessLogFormat:      awsapigateway.AccessLogFormat_Custom(jsii.String(accesslog.Format)),
			LoggingLevel:         awsapigateway.MethodLoggingLevel_INFO,
			DataTraceEnabled:     jsii.Bool(false), // bodies hold patient data: never log them
			MetricsEnabled:       jsii.Bool(true),
			TracingEnabled:       jsii.Bool(true),
			ThrottlingRateLimit:  jsii.Number(rate),
			ThrottlingBurstLimit: jsii.Number(burst),
			ClientCertificateId:  clientCert.Ref(),
		},
	})
	validator := restAPI.AddRequestValidator(jsii.String("Validator"), &awsapigateway.RequestValidatorOptions{
		ValidateRequestBody:       jsii.Bool(true),
		ValidateRequestParameters: jsii.Bool(true),
	})
	authorizer := awsapigateway.NewCognitoUserPoolsAuthorizer(c, jsii.String("Authorizer"), &awsapigateway.CognitoUserPoolsAuthorizerProps{
		CognitoUserPools: &[]awscognito.IUserPool{props.UserPool},
	})
	handler := lambdaProxy(c, restAPI, "Handler", props.Handler)
	for _, r := range Routes {
		res := restAPI.Root().ResourceForPath(jsii.String(r.Path))
		params := map[string]*bool{}
		if strings.Contains(r.Path, "{id}") {
			params["method.request.path.id"] = jsii.Bool(true)
		}
		for _, m := range r.Methods {
			res.AddMethod(jsii.String(m), handler, &awsapigateway.MethodOptions{
				AuthorizationType: awsapigateway.AuthorizationType_COGNITO,
				Authorizer:        authorizer,
				RequestValidator:  validator,
				RequestParameters: &params,
			})
		}
	}
	public := lambdaProxy(c, restAPI, "Health", props.Health)
	for _, r := range PublicRoutes {
		m := restAPI.Root().ResourceForPath(jsii.String(r.Path)).AddMethod(jsii.String(r.Method), public, &awsapigateway.MethodOptions{
			AuthorizationType: awsapigateway.AuthorizationType_NONE,
			RequestValidator:  validator,
		})
		for _, rule := range []string{"AwsSolutions-APIG4", "AwsSolutions-COG4"} {
			nagcheck.Suppress(m, rule, r.Reason)
		}
	}
	addSecurityHeadersToGatewayResponses(restAPI)
	nagcheck.SuppressWithChildren(restAPI, "AwsSolutions-IAM4",
		"The account-level API Gateway CloudWatch role uses the AWS-managed AmazonAPIGatewayPushToCloudWatchLogs policy, which only writes logs.")
	nagcheck.SuppressWithChildren(restAPI, "HIPAA.Security-APIGWCacheEnabledAndEncrypted",
		"Caching is off on purpose: responses hold patient data, which must not be kept in a shared cache.")

	cert := awscertificatemanager.NewCertificate(c, jsii.String("Certificate"), &awscertificatemanager.CertificateProps{
		DomainName:              jsii.String(props.OriginDomain),
		SubjectAlternativeNames: jsii.Strings(props.RegionalDomain),
		Validation:              awscertificatemanager.CertificateValidation_FromDns(props.Zone),
	})
	newDomain := func(id, name string) awsapigateway.DomainName {
		d := awsapigateway.NewDomainName(c, jsii.String(id), &awsapigateway.DomainNameProps{
			DomainName:     jsii.String(name),
			Certificate:    cert,
			EndpointType:   awsapigateway.EndpointType_REGIONAL,
			SecurityPolicy: awsapigateway.SecurityPolicy_TLS_1_2,
		})
		d.AddBasePathMapping(restAPI, &awsapigateway.BasePathMappingOptions{BasePath: jsii.String(BasePath)})
		return d
	}
	domain := newDomain("Domain", props.OriginDomain)
	regional := newDomain("RegionalDomain", props.RegionalDomain)

	acl := newRegionalWAF(c, props)
	// WAF requires the aws-waf-logs- prefix. Tokens and the origin secret are redacted from its logs.
	wafLogs := awslogs.NewLogGroup(c, jsii.String("WafLogs"), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String("aws-waf-logs-caro-api-" + *awscdk.Stack_Of(c).Region()),
		EncryptionKey: props.Key,
		Retention:     awslogs.RetentionDays_ONE_YEAR,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	awswafv2.NewCfnLoggingConfiguration(c, jsii.String("WafLogging"), &awswafv2.CfnLoggingConfigurationProps{
		ResourceArn: acl.AttrArn(),
		// WAF wants the log group ARN without the ":*" suffix CDK's LogGroupArn carries.
		LogDestinationConfigs: &[]interface{}{awscdk.Stack_Of(c).FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("logs"), Resource: jsii.String("log-group"), ResourceName: wafLogs.LogGroupName(),
			ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
		})},
		RedactedFields: &[]interface{}{
			&awswafv2.CfnLoggingConfiguration_FieldToMatchProperty{SingleHeader: map[string]interface{}{"Name": "authorization"}},
			&awswafv2.CfnLoggingConfiguration_FieldToMatchProperty{SingleHeader: map[string]interface{}{"Name": OriginVerifyHeader}},
		},
	})
	awswafv2.NewCfnWebACLAssociation(c, jsii.String("WafAssociation"), &awswafv2.CfnWebACLAssociationProps{
		ResourceArn: restAPI.DeploymentStage().StageArn(),
		WebAclArn:   acl.AttrArn(),
	})
	return &API{RestAPI: restAPI, Domain: domain, RegionalDomainName: regional, AccessLog: accessLog, WebACL: acl}
}

// addSecurityHeadersToGatewayResponses gives what API Gateway answers by itself on the regional
// domains (the authorizer's 401 and 403, throttling's 429, a WAF block, an unknown path, a 5xx) the
// platform's security headers (internal/headers), which the functions send on every answer of their
// own. DEFAULT_4XX and DEFAULT_5XX are the fallbacks of every response type not configured on its
// own. A WAF block is answered by the gateway response WAF_FILTERED (a 4xx): the WAF's rules have no
// custom response, which would take precedence, and could not carry the Content-Security-Policy (a
// WAF header value is at most 255 characters). A static value is the header's value in single quotes.
func addSecurityHeadersToGatewayResponses(restAPI awsapigateway.RestApi) {
	values := map[string]*string{}
	for name, value := range headers.Security().Map() {
		values[name] = jsii.String("'" + value + "'")
	}
	restAPI.AddGatewayResponse(jsii.String("Default4xx"), &awsapigateway.GatewayResponseOptions{
		Type: awsapigateway.ResponseType_DEFAULT_4XX(), ResponseHeaders: &values})
	restAPI.AddGatewayResponse(jsii.String("Default5xx"), &awsapigateway.GatewayResponseOptions{
		Type: awsapigateway.ResponseType_DEFAULT_5XX(), ResponseHeaders: &values})
}

func managedRule(name string, priority float64) *awswafv2.CfnWebACL_RuleProperty {
	statement := &awswafv2.CfnWebACL_ManagedRuleGroupStatementProperty{VendorName: jsii.String("AWS"), Name: jsii.String(name)}
	if name == "AWSManagedRulesCommonRuleSet" {
		// Its 8 KB body rule would refuse ordinary clinical notes; the edge WAF caps bodies at 64 KB
		// and the handler enforces its own limit, so here the rule only counts.
		statement.RuleActionOverrides = &[]interface{}{&awswafv2.CfnWebACL_RuleActionOverrideProperty{
			Name:        jsii.String("SizeRestrictions_BODY"),
			ActionToUse: &awswafv2.CfnWebACL_RuleActionProperty{Count: map[string]interface{}{}},
		}}
	}
	return &awswafv2.CfnWebACL_RuleProperty{
		Name:             jsii.String(name),
		Priority:         jsii.Number(priority),
		OverrideAction:   &awswafv2.CfnWebACL_OverrideActionProperty{None: map[string]interface{}{}},
		Statement:        &awswafv2.CfnWebACL_StatementProperty{ManagedRuleGroupStatement: statement},
		VisibilityConfig: visibility(name),
	}
}

func visibility(name string) *awswafv2.CfnWebACL_VisibilityConfigProperty {
	return &awswafv2.CfnWebACL_VisibilityConfigProperty{
		CloudWatchMetricsEnabled: jsii.Bool(true), MetricName: jsii.String(name), SampledRequestsEnabled: jsii.Bool(true),
	}
}

func pathIs(path string) *awswafv2.CfnWebACL_StatementProperty {
	return &awswafv2.CfnWebACL_StatementProperty{ByteMatchStatement: &awswafv2.CfnWebACL_ByteMatchStatementProperty{
		FieldToMatch:         &awswafv2.CfnWebACL_FieldToMatchProperty{UriPath: map[string]interface{}{}},
		PositionalConstraint: jsii.String("EXACTLY"),
		SearchString:         jsii.String(path),
		TextTransformations:  &[]*awswafv2.CfnWebACL_TextTransformationProperty{{Priority: jsii.Number(0), Type: jsii.String("NONE")}},
	}}
}

// newRegionalWAF blocks requests that lack the CloudFront origin secret (except the health check,
// which Route 53 makes directly), rate-limits those direct requests per source IP, and applies AWS
// managed rule groups.
func newRegionalWAF(scope constructs.Construct, props *Props) awswafv2.CfnWebACL {
	limit := props.WAFRateLimit
	if limit == 0 {
		limit = 2000
	}
	if len(props.OriginSecrets) == 0 {
		panic("api: OriginSecrets is empty: the WAF needs the CloudFront origin secret to refuse requests made around CloudFront")
	}
	var secretMatches []interface{}
	for _, secret := range props.OriginSecrets {
		secretMatches = append(secretMatches, &awswafv2.CfnWebACL_StatementProperty{ByteMatchStatement: &awswafv2.CfnWebACL_ByteMatchStatementProperty{
			FieldToMatch: &awswafv2.CfnWebACL_FieldToMatchProperty{
				SingleHeader: map[string]interface{}{"Name": OriginVerifyHeader},
			},
			PositionalConstraint: jsii.String("EXACTLY"),
			SearchString:         jsii.String(secret),
			TextTransformations:  &[]*awswafv2.CfnWebACL_TextTransformationProperty{{Priority: jsii.Number(0), Type: jsii.String("NONE")}},
		}})
	}
	fromCloudFront := secretMatches[0].(*awswafv2.CfnWebACL_StatementProperty)
	if len(secretMatches) > 1 {
		fromCloudFront = &awswafv2.CfnWebACL_StatementProperty{OrStatement: &awswafv2.CfnWebACL_OrStatementProperty{Statements: &secretMatches}}
	}
	healthCheck := &awswafv2.CfnWebACL_StatementProperty{AndStatement: &awswafv2.CfnWebACL_AndStatementProperty{
		Statements: &[]interface{}{
			&awswafv2.CfnWebACL_StatementProperty{OrStatement: &awswafv2.CfnWebACL_OrStatementProperty{
				Statements: &[]interface{}{pathIs("/" + BasePath + "/health"), pathIs("/health")},
			}},
			&awswafv2.CfnWebACL_StatementProperty{ByteMatchStatement: &awswafv2.CfnWebACL_ByteMatchStatementProperty{
				FieldToMatch:         &awswafv2.CfnWebACL_FieldToMatchProperty{Method: map[string]interface{}{}},
				PositionalConstraint: jsii.String("EXACTLY"),
				SearchString:         jsii.String("GET"),
				TextTransformations:  &[]*awswafv2.CfnWebACL_TextTransformationProperty{{Priority: jsii.Number(0), Type: jsii.String("NONE")}},
			}},
		},
	}}
	return awswafv2.NewCfnWebACL(scope, jsii.String("Waf"), &awswafv2.CfnWebACLProps{
		Scope:            jsii.String("REGIONAL"),
		DefaultAction:    &awswafv2.CfnWebACL_DefaultActionProperty{Allow: map[string]interface{}{}},
		VisibilityConfig: visibility("CaroRegionalApi"),
		Rules: &[]interface{}{
			&awswafv2.CfnWebACL_RuleProperty{
				Name:     jsii.String("RequireCloudFrontOrigin"),
				Priority: jsii.Number(0),
				Action:   &awswafv2.CfnWebACL_RuleActionProperty{Block: map[string]interface{}{}},
				Statement: &awswafv2.CfnWebACL_StatementProperty{AndStatement: &awswafv2.CfnWebACL_AndStatementProperty{
					Statements: &[]interface{}{
						&awswafv2.CfnWebACL_StatementProperty{NotStatement: &awswafv2.CfnWebACL_NotStatementProperty{Statement: fromCloudFront}},
						&awswafv2.CfnWebACL_StatementProperty{NotStatement: &awswafv2.CfnWebACL_NotStatementProperty{Statement: healthCheck}},
					},
				}},
				VisibilityConfig: visibility("RequireCloudFrontOrigin"),
			},
			// Requests through CloudFront come from CloudFront's addresses, many viewers each, and are
			// limited per viewer IP by the edge WAF. What reaches the API directly (the health check,
			// the only path the rule above lets through without the origin secret) is limited here by
			// its source IP. Not by X-Forwarded-For: its first address is whatever a viewer sent
			// (CloudFront appends the real one), so keying on it could be bypassed.
			&awswafv2.CfnWebACL_RuleProperty{
				Name:     jsii.String("RateLimitDirectRequestsPerIP"),
				Priority: jsii.Number(1),
				Action:   &awswafv2.CfnWebACL_RuleActionProperty{Block: map[string]interface{}{}},
				Statement: &awswafv2.CfnWebACL_StatementProperty{RateBasedStatement: &awswafv2.CfnWebACL_RateBasedStatementProperty{
					Limit: jsii.Number(limit), AggregateKeyType: jsii.String("IP"),
					ScopeDownStatement: &awswafv2.CfnWebACL_StatementProperty{NotStatement: &awswafv2.CfnWebACL_NotStatementProperty{Statement: fromCloudFront}},
				}},
				VisibilityConfig: visibility("RateLimitDirectRequestsPerIP"),
			},
			managedRule("AWSManagedRulesCommonRuleSet", 2),
			managedRule("AWSManagedRulesKnownBadInputsRuleSet", 3),
			managedRule("AWSManagedRulesSQLiRuleSet", 4),
			managedRule("AWSManagedRulesAmazonIpReputationList", 5),
		},
	})
}

// lambdaProxy is a Lambda proxy integration with ONE invoke permission for the function: API Gateway
// may invoke it for any method and path of this API's deployed stage. CDK's LambdaIntegration adds
// two permissions per method instead (the method, and the console's test invocation, which runs
// without the authorizer): 28 resource-policy statements for 14 methods, near Lambda's 20 KB policy
// limit as routes grow, and an invocation path that skips authentication. One function serves all
// its routes and routes by itself, so per-method scoping added no isolation.
func lambdaProxy(scope constructs.Construct, restAPI awsapigateway.RestApi, id string, fn awslambda.IFunction) awsapigateway.Integration {
	fn.AddPermission(jsii.String("InvokedBy"+id+"Api"), &awslambda.Permission{
		Principal: awsiam.NewServicePrincipal(jsii.String("apigateway.amazonaws.com"), nil),
		SourceArn: restAPI.ArnForExecuteApi(jsii.String("*"), jsii.String("/*"), restAPI.DeploymentStage().StageName()),
		Scope:     scope,
	})
	return awsapigateway.NewIntegration(&awsapigateway.IntegrationProps{
		Type:                  awsapigateway.IntegrationType_AWS_PROXY,
		IntegrationHttpMethod: jsii.String("POST"),
		Uri: awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("arn:"), awscdk.Aws_PARTITION(), jsii.String(":apigateway:"),
			awscdk.Aws_REGION(), jsii.String(":lambda:path/2015-03-31/functions/"), fn.FunctionArn(), jsii.String("/invocations")}),
	})
}
