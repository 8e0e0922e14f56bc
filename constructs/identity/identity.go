// Package identity is the Cognito user pool of one region: who may sign in to the Caro platform and
// with which tenant and roles. Users are created by administrators (no self sign-up), sign in with
// their phone number and a password, and always pass a second factor.
package identity

import (
	"fmt"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/carohealth/platform/constructs/nagcheck"
)

// Custom attribute names as the tokens carry them ("custom:" + name). Handlers read the tenant and the
// roles from the ID token claims custom:tenant_id and custom:roles.
const (
	// AttrTenantID is the tenant a user belongs to. Immutable: moving a user between tenants means a
	// new user, so no token can ever name two tenants for one identity.
	AttrTenantID = "tenant_id"
	// AttrRoles is the comma-separated role list; administrators change it with AdminUpdateUserAttributes.
	AttrRoles = "roles"
	// AttrLegacySub is the sub a user had in the pool of the other region. When a region is rebuilt
	// and users are re-provisioned there, records keyed by the old sub stay reachable through it.
	AttrLegacySub = "legacy_sub"
)

// PoolTagKey and PoolTagValue tag every platform user pool. Pool IDs are generated, and no value
// crosses stacks, so IAM policies elsewhere (the on-call failover role in the edge stack, see
// constructs/roles) name the platform's pools by this tag (aws:ResourceTag) instead of by ID.
const (
	PoolTagKey   = "caro:user-pool"
	PoolTagValue = "platform"
)

// Token lifetime bounds the platform allows; NewUserPool panics outside them.
const (
	MinTokenValidity      = 15 * time.Minute
	MaxTokenValidity      = 60 * time.Minute
	MaxRefreshValidity    = 24 * time.Hour
	defaultTokenValidity  = 30 * time.Minute
	defaultRefreshTimeout = 12 * time.Hour
)

// Props configures the user pool. The zero value is valid: every security setting is fixed, only names
// and token lifetimes within the platform's bounds can be chosen.
type Props struct {
	// UserPoolName names the pool, e.g. "caro-eu-west-1". Empty lets CloudFormation choose.
	UserPoolName string
	// TokenValidity is the lifetime of access and ID tokens, 15 to 60 minutes (default 30).
	TokenValidity time.Duration
	// RefreshTokenValidity is the refresh token lifetime, up to 24 hours (default 12).
	RefreshTokenValidity time.Duration
}

// UserPool is the region's user pool and the web app client the front end signs in with.
type UserPool struct {
	// Pool is the Cognito user pool; the api construct builds its CognitoUserPoolsAuthorizer from it.
	Pool awscognito.UserPool
	// WebClient is the public (secretless, SRP-only) client of the single-page front end.
	WebClient awscognito.UserPoolClient
}

// NewUserPool creates the user pool and its web client under scope. It panics when props break the
// platform's bounds, as CDK constructs do, so a bad value fails at synth, not at deploy.
func NewUserPool(scope constructs.Construct, id string, props *Props) *UserPool {
	if props == nil {
		props = &Props{}
	}
	tokenValidity, refreshValidity, err := props.lifetimes()
	if err != nil {
		panic(err)
	}
	c := constructs.NewConstruct(scope, jsii.String(id))

	var poolName *string
	if props.UserPoolName != "" {
		poolName = jsii.String(props.UserPoolName)
	}
	sms := newSMSRole(c)
	pool := awscognito.NewUserPool(c, jsii.String("Pool"), &awscognito.UserPoolProps{
		UserPoolName: poolName,
		// Administrators create users (AdminCreateUser) with their tenant and roles set.
		SelfSignUpEnabled: jsii.Bool(false),
		SignInAliases:     &awscognito.SignInAliases{Phone: jsii.Bool(true)},
		AutoVerify:        &awscognito.AutoVerifiedAttrs{Phone: jsii.Bool(true)},
		StandardAttributes: &awscognito.StandardAttributes{
			PhoneNumber: &awscognito.StandardAttribute{Required: jsii.Bool(true), Mutable: jsii.Bool(true)},
		},
		CustomAttributes: &map[string]awscognito.ICustomAttribute{
			AttrTenantID: awscognito.NewStringAttribute(&awscognito.StringAttributeProps{
				MinLen: jsii.Number(1), MaxLen: jsii.Number(64), Mutable: jsii.Bool(false),
			}),
			AttrRoles: awscognito.NewStringAttribute(&awscognito.StringAttributeProps{
				MinLen: jsii.Number(0), MaxLen: jsii.Number(512), Mutable: jsii.Bool(true),
			}),
			AttrLegacySub: awscognito.NewStringAttribute(&awscognito.StringAttributeProps{
				MinLen: jsii.Number(0), MaxLen: jsii.Number(64), Mutable: jsii.Bool(false),
			}),
		},
		PasswordPolicy: &awscognito.PasswordPolicy{
			MinLength:            jsii.Number(12),
			RequireLowercase:     jsii.Bool(true),
			RequireUppercase:     jsii.Bool(true),
			RequireDigits:        jsii.Bool(true),
			RequireSymbols:       jsii.Bool(true),
			PasswordHistorySize:  jsii.Number(24),
			TempPasswordValidity: awscdk.Duration_Days(jsii.Number(3)),
		},
		Mfa:             awscognito.Mfa_REQUIRED,
		MfaSecondFactor: &awscognito.MfaSecondFactor{Sms: jsii.Bool(true), Otp: jsii.Bool(true)},
		// Cognito assumes this role to send SMS codes.
		SmsRole:           sms.role,
		SmsRoleExternalId: jsii.String(sms.externalID),
		// Phone only: the platform holds no e-mail addresses (data minimisation). Cognito does not let
		// SMS be both second factor and recovery channel: a user whose MFA is SMS cannot reset the
		// password by SMS and is reset by an administrator (AdminResetUserPassword) instead; TOTP users
		// recover by SMS.
		AccountRecovery: awscognito.AccountRecovery_PHONE_ONLY_WITHOUT_MFA,
		// Threat protection (compromised credentials, adaptive authentication) needs the Plus plan and
		// renders as UserPoolAddOns.AdvancedSecurityMode ENFORCED.
		FeaturePlan:                  awscognito.FeaturePlan_PLUS,
		StandardThreatProtectionMode: awscognito.StandardThreatProtectionMode_FULL_FUNCTION,
		DeletionProtection:           jsii.Bool(true),
		RemovalPolicy:                awscdk.RemovalPolicy_RETAIN,
	})

	// Cognito checks at creation that the SMS role may publish (InvalidSmsRoleAccessPolicyException);
	// the permission is a managed policy of its own, so the pool waits for it.
	pool.Node().AddDependency(sms.policy)

	// The failover role may create and look up users only in pools carrying this tag.
	awscdk.Tags_Of(pool).Add(jsii.String(PoolTagKey), jsii.String(PoolTagValue), nil)

	// Clients may write only harmless profile fields: tenant, roles and legacy sub are set by
	// administrators through the admin APIs (IAM-authorised), never by a token holder.
	writable := awscognito.NewClientAttributes().WithStandardAttributes(&awscognito.StandardAttributesMask{
		Fullname: jsii.Bool(true), Locale: jsii.Bool(true), Timezone: jsii.Bool(true),
	})
	readable := awscognito.NewClientAttributes().WithStandardAttributes(&awscognito.StandardAttributesMask{
		Fullname: jsii.Bool(true), Locale: jsii.Bool(true), Timezone: jsii.Bool(true),
		PhoneNumber: jsii.Bool(true), PhoneNumberVerified: jsii.Bool(true),
	}).WithCustomAttributes(jsii.String(AttrTenantID), jsii.String(AttrRoles))

	client := pool.AddClient(jsii.String("WebClient"), &awscognito.UserPoolClientOptions{
		// A browser cannot keep a secret; SRP proves the password without sending it.
		GenerateSecret:             jsii.Bool(false),
		AuthFlows:                  &awscognito.AuthFlow{UserSrp: jsii.Bool(true)},
		DisableOAuth:               jsii.Bool(true),
		PreventUserExistenceErrors: jsii.Bool(true),
		EnableTokenRevocation:      jsii.Bool(true),
		AccessTokenValidity:        awscdk.Duration_Minutes(jsii.Number(tokenValidity.Minutes())),
		IdTokenValidity:            awscdk.Duration_Minutes(jsii.Number(tokenValidity.Minutes())),
		RefreshTokenValidity:       awscdk.Duration_Minutes(jsii.Number(refreshValidity.Minutes())),
		AuthSessionValidity:        awscdk.Duration_Minutes(jsii.Number(3)),
		ReadAttributes:             readable,
		WriteAttributes:            writable,
		SupportedIdentityProviders: &[]awscognito.UserPoolClientIdentityProvider{
			awscognito.UserPoolClientIdentityProvider_COGNITO(),
		},
	})

	return &UserPool{Pool: pool, WebClient: client}
}

// NewAPIAuthorizer returns a Cognito authorizer for a REST API in the same stack that accepts this
// pool's tokens. It is a convenience for the api construct; attach it to methods of one RestApi.
func (u *UserPool) NewAPIAuthorizer(scope constructs.Construct, id string) awsapigateway.CognitoUserPoolsAuthorizer {
	return awsapigateway.NewCognitoUserPoolsAuthorizer(scope, jsii.String(id), &awsapigateway.CognitoUserPoolsAuthorizerProps{
		CognitoUserPools: &[]awscognito.IUserPool{u.Pool},
		IdentitySource:   jsii.String("method.request.header.Authorization"),
	})
}

func (p *Props) lifetimes() (time.Duration, time.Duration, error) {
	token, refresh := p.TokenValidity, p.RefreshTokenValidity
	if token == 0 {
		token = defaultTokenValidity
	}
	if refresh == 0 {
		refresh = defaultRefreshTimeout
	}
	if token < MinTokenValidity || token > MaxTokenValidity || token%time.Minute != 0 {
		return 0, 0, fmt.Errorf("identity: TokenValidity %s is outside the allowed range: "+
			"set whole minutes between %s and %s", token, MinTokenValidity, MaxTokenValidity)
	}
	if refresh < token || refresh > MaxRefreshValidity || refresh%time.Minute != 0 {
		return 0, 0, fmt.Errorf("identity: RefreshTokenValidity %s is outside the allowed range: "+
			"set whole minutes between TokenValidity (%s) and %s", refresh, token, MaxRefreshValidity)
	}
	return token, refresh, nil
}

// smsRole is the role Cognito assumes to send SMS codes.
type smsRole struct {
	role       awsiam.IRole
	policy     awsiam.ManagedPolicy
	externalID string
}

// newSMSRole builds the SMS role with a customer-managed policy rather than the inline policy CDK's
// default role carries (HIPAA.Security-IAMNoInlinePolicy): same permission, but versioned and
// attachable policy, and a trust limited by external ID and source account.
func newSMSRole(scope constructs.Construct) smsRole {
	externalID := *awscdk.Names_UniqueId(scope)
	account := awscdk.Stack_Of(scope).Account()
	role := awsiam.NewRole(scope, jsii.String("SmsRole"), &awsiam.RoleProps{
		Description: jsii.String("Cognito sends MFA and verification SMS through SNS"),
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("cognito-idp.amazonaws.com"), &awsiam.ServicePrincipalOpts{
			Conditions: &map[string]any{
				"StringEquals": map[string]any{"sts:ExternalId": externalID, "aws:SourceAccount": account},
			},
		}),
	})
	policy := awsiam.NewManagedPolicy(scope, jsii.String("SmsPolicy"), &awsiam.ManagedPolicyProps{
		Description: jsii.String("Publish SMS messages (phone numbers have no ARN)"),
		Statements: &[]awsiam.PolicyStatement{awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings("sns:Publish"),
			Resources: jsii.Strings("*"),
		})},
		Roles: &[]awsiam.IRole{role},
	})
	nagcheck.Suppress(policy, "AwsSolutions-IAM5",
		"sns:Publish to a phone number has no resource ARN; the only role holding this policy is "+
			"assumable solely by cognito-idp with this pool's external ID in this account, and the "+
			"account's SNS SMS spend limit caps abuse")
	return smsRole{role: role, policy: policy, externalID: externalID}
}
