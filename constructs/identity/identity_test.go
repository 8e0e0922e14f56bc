package identity_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/jsii-runtime-go"

	"github.com/carohealth/platform/constructs/identity"
	"github.com/carohealth/platform/constructs/nagcheck"
)

func TestMain(m *testing.M) {
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

// synth builds a stack holding one user pool, with the nag packs applied.
func synth(t *testing.T, props *identity.Props) (awscdk.Stack, assertions.Template, *identity.UserPool) {
	t.Helper()
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("IdentityTest"), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String("111111111111"), Region: jsii.String("eu-west-1")},
	})
	up := identity.NewUserPool(stack, "Identity", props)
	nagcheck.Apply(stack)
	return stack, assertions.Template_FromStack(stack, nil), up
}

func TestUserPool(t *testing.T) {
	// GIVEN a stack WHEN the identity construct is added with default props
	stack, tmpl, up := synth(t, &identity.Props{UserPoolName: "caro-eu-west-1"})
	if up.Pool == nil || up.WebClient == nil {
		t.Fatal("GIVEN default props THEN pool and web client are exposed")
	}

	t.Run("THEN users sign in with phone number, admins create them, recovery is by phone", func(t *testing.T) {
		tmpl.HasResourceProperties(jsii.String("AWS::Cognito::UserPool"), map[string]any{
			"UserPoolName":           "caro-eu-west-1",
			"UsernameAttributes":     []any{"phone_number"},
			"AutoVerifiedAttributes": []any{"phone_number"},
			"AdminCreateUserConfig":  map[string]any{"AllowAdminCreateUserOnly": true},
			"AccountRecoverySetting": map[string]any{"RecoveryMechanisms": []any{
				map[string]any{"Name": "verified_phone_number", "Priority": 1},
			}},
			"DeletionProtection": "ACTIVE",
		})
		tmpl.HasResource(jsii.String("AWS::Cognito::UserPool"), map[string]any{
			"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
		})
	})

	t.Run("THEN the pool is created only after its SMS role may publish (Cognito checks it at creation)", func(t *testing.T) {
		tmpl.HasResource(jsii.String("AWS::Cognito::UserPool"), map[string]any{
			"DependsOn": assertions.Match_ArrayWith(&[]any{assertions.Match_StringLikeRegexp(jsii.String("^IdentitySmsPolicy"))}),
		})
	})

	t.Run("THEN the pool carries the platform tag the on-call role's Cognito statement is conditioned on", func(t *testing.T) {
		tmpl.HasResourceProperties(jsii.String("AWS::Cognito::UserPool"), map[string]any{
			"UserPoolTags": map[string]any{identity.PoolTagKey: identity.PoolTagValue},
		})
	})

	t.Run("THEN the password policy needs 12 characters of all four classes", func(t *testing.T) {
		tmpl.HasResourceProperties(jsii.String("AWS::Cognito::UserPool"), map[string]any{
			"Policies": map[string]any{"PasswordPolicy": assertions.Match_ObjectLike(&map[string]any{
				"MinimumLength": 12, "RequireLowercase": true, "RequireUppercase": true,
				"RequireNumbers": true, "RequireSymbols": true,
			})},
		})
	})

	t.Run("THEN MFA is required with SMS and TOTP through an SMS role bound by external ID", func(t *testing.T) {
		tmpl.HasResourceProperties(jsii.String("AWS::Cognito::UserPool"), map[string]any{
			"MfaConfiguration": "ON",
			"EnabledMfas":      assertions.Match_ArrayWith(&[]any{"SMS_MFA", "SOFTWARE_TOKEN_MFA"}),
			"SmsConfiguration": assertions.Match_ObjectLike(&map[string]any{"SnsCallerArn": assertions.Match_AnyValue()}),
		})
		tmpl.HasResourceProperties(jsii.String("AWS::IAM::Role"), map[string]any{
			"AssumeRolePolicyDocument": assertions.Match_ObjectLike(&map[string]any{
				"Statement": []any{assertions.Match_ObjectLike(&map[string]any{
					"Principal": map[string]any{"Service": "cognito-idp.amazonaws.com"},
					"Condition": map[string]any{"StringEquals": map[string]any{
						"sts:ExternalId": assertions.Match_AnyValue(), "aws:SourceAccount": "111111111111",
					}},
				})},
			}),
		})
		tmpl.HasResourceProperties(jsii.String("AWS::IAM::ManagedPolicy"), map[string]any{
			"PolicyDocument": assertions.Match_ObjectLike(&map[string]any{"Statement": []any{
				map[string]any{"Action": "sns:Publish", "Effect": "Allow", "Resource": "*"},
			}}),
		})
	})

	t.Run("THEN threat protection is enforced on the Plus plan", func(t *testing.T) {
		tmpl.HasResourceProperties(jsii.String("AWS::Cognito::UserPool"), map[string]any{
			"UserPoolTier":   "PLUS",
			"UserPoolAddOns": map[string]any{"AdvancedSecurityMode": "ENFORCED"},
		})
	})

	t.Run("THEN tenant_id, roles and legacy_sub exist and tenant_id is immutable", func(t *testing.T) {
		for _, attr := range []map[string]any{
			{"Name": "tenant_id", "Mutable": false, "AttributeDataType": "String"},
			{"Name": "roles", "Mutable": true, "AttributeDataType": "String"},
			{"Name": "legacy_sub", "Mutable": false, "AttributeDataType": "String"},
		} {
			tmpl.HasResourceProperties(jsii.String("AWS::Cognito::UserPool"), map[string]any{
				"Schema": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&attr)}),
			})
		}
	})

	t.Run("THEN the web client is secretless, SRP only, short-lived, hides user existence", func(t *testing.T) {
		tmpl.HasResourceProperties(jsii.String("AWS::Cognito::UserPoolClient"), map[string]any{
			"GenerateSecret":             false,
			"ExplicitAuthFlows":          []any{"ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"},
			"PreventUserExistenceErrors": "ENABLED",
			"EnableTokenRevocation":      true,
			"AccessTokenValidity":        30,
			"IdTokenValidity":            30,
			"RefreshTokenValidity":       720,
			"TokenValidityUnits": map[string]any{
				"AccessToken": "minutes", "IdToken": "minutes", "RefreshToken": "minutes",
			},
		})
	})

	t.Run("THEN clients cannot write tenant_id, roles or legacy_sub", func(t *testing.T) {
		clients := tmpl.FindResources(jsii.String("AWS::Cognito::UserPoolClient"), nil)
		if len(*clients) != 1 {
			t.Fatalf("want one client, got %d", len(*clients))
		}
		for _, c := range *clients {
			props := (*c)["Properties"].(map[string]any)
			write, ok := props["WriteAttributes"].([]any)
			if !ok || len(write) == 0 {
				t.Fatalf("WriteAttributes must be explicit (absent means all writable), got %v", props["WriteAttributes"])
			}
			for _, a := range write {
				if strings.HasPrefix(a.(string), "custom:") || a == "phone_number" {
					t.Errorf("client may write %q; only admins may set it", a)
				}
			}
			read := props["ReadAttributes"].([]any)
			for _, want := range []string{"custom:tenant_id", "custom:roles"} {
				found := false
				for _, a := range read {
					found = found || a == want
				}
				if !found {
					t.Errorf("client must read %s, reads %v", want, read)
				}
			}
		}
	})

	t.Run("THEN cdk-nag AwsSolutions and HIPAA.Security report nothing unsuppressed", func(t *testing.T) {
		if f := nagcheck.Findings(stack); len(f) != 0 {
			t.Fatalf("unsuppressed nag findings:\n%s", strings.Join(f, "\n"))
		}
	})
}

func TestUserPoolTokenBounds(t *testing.T) {
	for name, props := range map[string]*identity.Props{
		"access token too long":      {TokenValidity: 2 * time.Hour},
		"access token too short":     {TokenValidity: 5 * time.Minute},
		"refresh longer than a day":  {RefreshTokenValidity: 48 * time.Hour},
		"refresh shorter than token": {TokenValidity: time.Hour, RefreshTokenValidity: 30 * time.Minute},
	} {
		t.Run("GIVEN "+name+" THEN NewUserPool panics naming the field", func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(strings.ToLower(r.(error).Error()), "validity") {
					t.Fatalf("want a panic naming the validity field, got %v", r)
				}
			}()
			app := awscdk.NewApp(nil)
			stack := awscdk.NewStack(app, jsii.String("Bounds"), nil)
			identity.NewUserPool(stack, "Identity", props)
		})
	}

	t.Run("GIVEN one-hour tokens and a one-day refresh WHEN synthesized THEN the client says so", func(t *testing.T) {
		_, tmpl, _ := synth(t, &identity.Props{TokenValidity: time.Hour, RefreshTokenValidity: 24 * time.Hour})
		tmpl.HasResourceProperties(jsii.String("AWS::Cognito::UserPoolClient"), map[string]any{
			"AccessTokenValidity": 60, "IdTokenValidity": 60, "RefreshTokenValidity": 1440,
		})
	})
}

func TestNewAPIAuthorizer(t *testing.T) {
	// GIVEN a user pool and a REST API in one stack
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("AuthorizerTest"), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String("111111111111"), Region: jsii.String("eu-west-1")},
	})
	up := identity.NewUserPool(stack, "Identity", nil)
	api := awsapigateway.NewRestApi(stack, jsii.String("Api"), nil)

	// WHEN a method uses the helper's authorizer
	api.Root().AddMethod(jsii.String("GET"), awsapigateway.NewMockIntegration(nil), &awsapigateway.MethodOptions{
		Authorizer:        up.NewAPIAuthorizer(stack, "Authorizer"),
		AuthorizationType: awsapigateway.AuthorizationType_COGNITO,
	})

	// THEN API Gateway checks the Authorization header against this pool
	tmpl := assertions.Template_FromStack(stack, nil)
	tmpl.HasResourceProperties(jsii.String("AWS::ApiGateway::Authorizer"), map[string]any{
		"Type":           "COGNITO_USER_POOLS",
		"IdentitySource": "method.request.header.Authorization",
		"ProviderARNs":   []any{map[string]any{"Fn::GetAtt": assertions.Match_ArrayWith(&[]any{"Arn"})}},
	})
	tmpl.HasResourceProperties(jsii.String("AWS::ApiGateway::Method"), map[string]any{
		"HttpMethod": "GET", "AuthorizationType": "COGNITO_USER_POOLS",
	})
}
