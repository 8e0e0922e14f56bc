package deploycheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"
	"go.mongodb.org/atlas-sdk/v20250312012/admin"

	"github.com/carohealth/platform/internal/atlas"
)

// Names of the checks, as the report shows them.
const (
	CheckBootstrap   = "cdk-bootstrap"
	CheckConcurrency = "lambda-concurrency"
	CheckSMSSandbox  = "sns-sms-sandbox"
	CheckSMSSpend    = "sns-sms-spend-limit"
	CheckExtension   = "atlas-extension"
	CheckAtlasSecret = "atlas-credentials"
	CheckAtlasRole   = "atlas-key-role"
	CheckHostedZone  = "hosted-zone"
	CheckOIDC        = "gitlab-oidc-provider"
)

// lambdaUnreservedMinimum is what Lambda keeps unreserved of a region's quota: a function's
// reserved concurrency may not bring the unreserved pool below it.
const lambdaUnreservedMinimum = 100

// errorCode is the API error code of err ("" when it is none).
func errorCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

// checkBootstrap compares the region's CDK bootstrap version with what its stacks need.
func checkBootstrap(ctx context.Context, o Options, region string) Finding {
	need, param := 0, ""
	for _, s := range o.stacksIn(region) {
		if s.BootstrapVersion > need {
			need, param = s.BootstrapVersion, s.BootstrapParameter
		}
	}
	if param == "" {
		param = "/cdk-bootstrap/hnb659fds/version"
	}
	fix := fmt.Sprintf("npx cdk bootstrap aws://<account>/%s (docs/deploy.md, step 1)", region)
	out, err := o.Clients.SSM(region).GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(param)})
	if errorCode(err) == "ParameterNotFound" {
		return Finding{Check: CheckBootstrap, Region: region, Status: Blocker,
			Detail: fmt.Sprintf("the region is not bootstrapped for CDK (no %s): cdk deploy cannot publish assets or assume its roles", param), Fix: fix}
	}
	if err != nil {
		return unknown(CheckBootstrap, region, "read "+param, err)
	}
	have, convErr := strconv.Atoi(aws.ToString(out.Parameter.Value))
	if convErr != nil || have < need {
		return Finding{Check: CheckBootstrap, Region: region, Status: Blocker,
			Detail: fmt.Sprintf("bootstrap version %s, the stacks need at least %d", aws.ToString(out.Parameter.Value), need), Fix: fix}
	}
	return Finding{Check: CheckBootstrap, Region: region, Status: OK, Detail: fmt.Sprintf("bootstrap version %d (at least %d needed)", have, need)}
}

// checkConcurrency compares the region's Lambda quota with what the platform stack reserves.
func checkConcurrency(ctx context.Context, o Options, region string) Finding {
	reserve := 0
	for _, s := range o.stacksIn(region) {
		reserve += s.ReservedConcurrency
	}
	out, err := o.Clients.Lambda(region).GetAccountSettings(ctx, &lambda.GetAccountSettingsInput{})
	if err != nil {
		return unknown(CheckConcurrency, region, "read the Lambda account settings", err)
	}
	limit := int(out.AccountLimit.ConcurrentExecutions)
	unreserved := int(aws.ToInt32(out.AccountLimit.UnreservedConcurrentExecutions))
	fix := fmt.Sprintf("ask for a higher \"Concurrent executions\" quota for Lambda in %s (Service Quotas) of at least %d, or lower the region's load in regions/%s.json (docs/deploy.md, sizing)",
		region, reserve+lambdaUnreservedMinimum, region)
	switch {
	case limit-reserve < lambdaUnreservedMinimum:
		return Finding{Check: CheckConcurrency, Region: region, Status: Blocker, Fix: fix,
			Detail: fmt.Sprintf("the account's quota is %d concurrent executions; the stacks reserve %d and Lambda keeps %d unreserved, so the deploy fails setting reserved concurrency", limit, reserve, lambdaUnreservedMinimum)}
	case unreserved-reserve < lambdaUnreservedMinimum:
		return Finding{Check: CheckConcurrency, Region: region, Status: Warning, Fix: fix + "; or free reservations of other functions",
			Detail: fmt.Sprintf("%d of the quota's %d executions are unreserved; the stacks reserve %d, which leaves fewer than %d on a first deploy (on a redeploy their current reservations are already counted)", unreserved, limit, reserve, lambdaUnreservedMinimum)}
	}
	return Finding{Check: CheckConcurrency, Region: region, Status: OK,
		Detail: fmt.Sprintf("quota %d, unreserved %d, the stacks reserve %d", limit, unreserved, reserve)}
}

// checkSMS reads the SMS sandbox and spend limit: Cognito sends its MFA codes through SNS.
func checkSMS(ctx context.Context, o Options, region string) []Finding {
	client := o.Clients.SNS(region)
	var out []Finding
	sandbox, err := client.GetSMSSandboxAccountStatus(ctx, &sns.GetSMSSandboxAccountStatusInput{})
	switch {
	case err != nil:
		out = append(out, unknown(CheckSMSSandbox, region, "read the SMS sandbox status", err))
	case sandbox.IsInSandbox:
		out = append(out, Finding{Check: CheckSMSSandbox, Region: region, Status: Blocker,
			Detail: "the account's SMS is in the SNS sandbox: text messages reach only verified phone numbers, so users' MFA codes do not arrive",
			Fix:    "request production SMS access for " + region + " (SNS console, Text messaging, Exit SMS sandbox)"})
	default:
		out = append(out, Finding{Check: CheckSMSSandbox, Region: region, Status: OK, Detail: "out of the SMS sandbox"})
	}
	attrs, err := client.GetSMSAttributes(ctx, &sns.GetSMSAttributesInput{Attributes: []string{"MonthlySpendLimit"}})
	if err != nil {
		return append(out, unknown(CheckSMSSpend, region, "read the SMS attributes", err))
	}
	limit, _ := strconv.ParseFloat(attrs.Attributes["MonthlySpendLimit"], 64)
	if limit <= 1 {
		return append(out, Finding{Check: CheckSMSSpend, Region: region, Status: Blocker,
			Detail: fmt.Sprintf("the monthly SMS spend limit is %s USD (the default is 1): SNS stops sending when it is reached, and Cognito's MFA codes with it", orDefault(attrs.Attributes["MonthlySpendLimit"], "1")),
			Fix:    "raise the limit (Service Quotas, SNS \"Account spend threshold for SMS\", then aws sns set-sms-attributes --attributes MonthlySpendLimit=<USD> --region " + region + ")"})
	}
	return append(out, Finding{Check: CheckSMSSpend, Region: region, Status: OK, Detail: fmt.Sprintf("monthly SMS spend limit %v USD", limit)})
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// checkExtensions checks that every third-party type the region's stacks declare is activated,
// that the Atlas credentials the extensions read are there, and that the region's Atlas key role
// is known to the project.
func checkExtensions(ctx context.Context, o Options, region Region) []Finding {
	var types []string
	for _, s := range o.stacksIn(region.Name) {
		types = append(types, s.ExtensionTypes...)
	}
	if len(types) == 0 {
		return nil
	}
	var out []Finding
	cfn := o.Clients.CloudFormation(region.Name)
	for _, t := range types {
		d, err := cfn.DescribeType(ctx, &cloudformation.DescribeTypeInput{Type: cfntypes.RegistryTypeResource, TypeName: aws.String(t)})
		fix := fmt.Sprintf("activate the public extension %s (publisher MongoDB) in %s with an execution role (docs/deploy.md, step 2)", t, region.Name)
		switch {
		case errorCode(err) == "TypeNotFoundException":
			out = append(out, Finding{Check: CheckExtension, Region: region.Name, Status: Blocker, Fix: fix,
				Detail: t + " is not activated: CloudFormation refuses the stack's Atlas resources"})
		case err != nil:
			out = append(out, unknown(CheckExtension, region.Name, "describe "+t, err))
		case d.IsActivated != nil && !*d.IsActivated:
			out = append(out, Finding{Check: CheckExtension, Region: region.Name, Status: Blocker, Fix: fix, Detail: t + " is registered but not activated"})
		default:
			out = append(out, Finding{Check: CheckExtension, Region: region.Name, Status: OK, Detail: t + " is activated"})
		}
	}
	creds, f := atlasCredentials(ctx, o, region.Name)
	out = append(out, f)
	if creds != nil && region.Atlas != nil {
		out = append(out, checkAtlasRole(ctx, o, region, *creds))
	}
	return out
}

// atlasCredentials reads the secret MongoDB's extensions read (profile format: PublicKey,
// PrivateKey).
func atlasCredentials(ctx context.Context, o Options, region string) (*atlas.Credentials, Finding) {
	fix := fmt.Sprintf("put the Atlas API key into the secret %s in %s as {\"PublicKey\":\"...\",\"PrivateKey\":\"...\"} (docs/deploy.md, step 2)", o.AtlasCredentialsSecret, region)
	v, err := o.Clients.Secrets(region).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(o.AtlasCredentialsSecret)})
	if errorCode(err) == "ResourceNotFoundException" {
		return nil, Finding{Check: CheckAtlasSecret, Region: region, Status: Blocker, Fix: fix,
			Detail: "no secret " + o.AtlasCredentialsSecret + ": the Atlas extensions cannot call the Atlas Admin API"}
	}
	if err != nil {
		return nil, unknown(CheckAtlasSecret, region, "read the secret "+o.AtlasCredentialsSecret, err)
	}
	var profile struct{ PublicKey, PrivateKey string }
	if json.Unmarshal([]byte(aws.ToString(v.SecretString)), &profile) != nil || profile.PublicKey == "" || profile.PrivateKey == "" {
		return nil, Finding{Check: CheckAtlasSecret, Region: region, Status: Blocker, Fix: fix,
			Detail: "the secret " + o.AtlasCredentialsSecret + " is not a JSON object with PublicKey and PrivateKey"}
	}
	return &atlas.Credentials{PublicKey: profile.PublicKey, PrivateKey: profile.PrivateKey},
		Finding{Check: CheckAtlasSecret, Region: region, Status: OK, Detail: "the Atlas credentials secret is readable (API key " + profile.PublicKey + ")"}
}

// checkAtlasRole checks the project's cloud-provider access role the region definition names.
func checkAtlasRole(ctx context.Context, o Options, region Region, creds atlas.Credentials) Finding {
	a := region.Atlas
	client, err := o.Clients.Atlas(creds)
	if err != nil {
		return unknown(CheckAtlasRole, region.Name, "reach the Atlas Admin API", err)
	}
	roles, err := client.AWSRoles(ctx, a.ProjectID)
	if err != nil {
		return unknown(CheckAtlasRole, region.Name, "list the cloud provider access roles of project "+a.ProjectID, err)
	}
	fix := fmt.Sprintf("create it (atlas cloudProviders accessRoles aws create --projectId %s) and copy atlasAwsAccountArn, externalId and roleId into regions/%s.json (atlas.keyAccess)", a.ProjectID, region.Name)
	for _, r := range roles {
		if r.RoleID != a.RoleID {
			continue
		}
		if r.ExternalID != a.ExternalID || r.AtlasAWSAccountARN != a.AtlasAWSAccountARN {
			return Finding{Check: CheckAtlasRole, Region: region.Name, Status: Blocker, Fix: fix,
				Detail: fmt.Sprintf("role %s has external ID %s and principal %s, the region definition %s and %s: the key role's trust would not let Atlas in", r.RoleID, r.ExternalID, r.AtlasAWSAccountARN, a.ExternalID, a.AtlasAWSAccountARN)}
		}
		// The platform stack authorizes its fixed-name key role itself (Custom::AtlasKeyRoleAuthorization).
		want := ":role/" + KeyRoleName(region.Name)
		switch {
		case r.IAMRoleARN == "":
			return Finding{Check: CheckAtlasRole, Region: region.Name, Status: OK,
				Detail: "role " + r.RoleID + " is not authorized yet: the deploy authorizes it for the stack's role " + KeyRoleName(region.Name)}
		case !strings.HasSuffix(r.IAMRoleARN, want):
			return Finding{Check: CheckAtlasRole, Region: region.Name, Status: Warning,
				Detail: "role " + r.RoleID + " is authorized for " + r.IAMRoleARN + ", not the stack's role " + KeyRoleName(region.Name) + ": the deploy re-authorizes it, and whatever used the old role loses Atlas's access",
				Fix:    "make sure nothing else in project " + a.ProjectID + " relies on " + r.IAMRoleARN + " before deploying"}
		}
		return Finding{Check: CheckAtlasRole, Region: region.Name, Status: OK, Detail: "role " + r.RoleID + " is authorized for " + r.IAMRoleARN}
	}
	return Finding{Check: CheckAtlasRole, Region: region.Name, Status: Blocker, Fix: fix,
		Detail: fmt.Sprintf("project %s has no cloud provider access role %s", a.ProjectID, a.RoleID)}
}

// KeyRoleName is the fixed name of the IAM role Atlas assumes in region (constructs/atlas
// KeyRoleName, which this package may not import).
func KeyRoleName(region string) string { return "caro-atlas-kms-" + region }

// checkHostedZone checks that the region's hosted zone exists and serves its domain.
func checkHostedZone(ctx context.Context, o Options, region Region) Finding {
	out, err := o.Clients.Route53().GetHostedZone(ctx, &route53.GetHostedZoneInput{Id: aws.String(region.HostedZoneID)})
	fix := fmt.Sprintf("create the public hosted zone of %s, delegate the domain to it and put its ID into regions/%s.json (hostedZoneId)", region.Domain, region.Name)
	if errorCode(err) == "NoSuchHostedZone" {
		return Finding{Check: CheckHostedZone, Region: region.Name, Status: Blocker, Fix: fix,
			Detail: "hosted zone " + region.HostedZoneID + " does not exist: certificates cannot be validated and no record can be written"}
	}
	if err != nil {
		return unknown(CheckHostedZone, region.Name, "read hosted zone "+region.HostedZoneID, err)
	}
	name := strings.TrimSuffix(aws.ToString(out.HostedZone.Name), ".")
	if name != region.Domain {
		return Finding{Check: CheckHostedZone, Region: region.Name, Status: Blocker, Fix: fix,
			Detail: fmt.Sprintf("hosted zone %s serves %s, not %s", region.HostedZoneID, name, region.Domain)}
	}
	if out.HostedZone.Config != nil && out.HostedZone.Config.PrivateZone {
		return Finding{Check: CheckHostedZone, Region: region.Name, Status: Blocker, Fix: fix,
			Detail: "hosted zone " + region.HostedZoneID + " is private: viewers and Route 53 health checks cannot resolve it"}
	}
	return Finding{Check: CheckHostedZone, Region: region.Name, Status: OK, Detail: "hosted zone " + region.HostedZoneID + " serves " + name}
}

// checkOIDCProvider finds an OIDC provider for the GitLab URL that the edge stack would create
// again: IAM allows one per URL, so the deploy would fail.
func checkOIDCProvider(ctx context.Context, o Options) Finding {
	var creates []string
	for _, s := range o.Assembly.Stacks {
		if s.Name == o.EdgeStack {
			creates = s.OIDCProviders
		}
	}
	host := strings.TrimSuffix(strings.TrimPrefix(o.GitLabURL, "https://"), "/")
	list, err := o.Clients.IAM().ListOpenIDConnectProviders(ctx, &iam.ListOpenIDConnectProvidersInput{})
	if err != nil {
		return unknown(CheckOIDC, "global", "list the IAM OIDC providers", err)
	}
	existing := ""
	for _, p := range list.OpenIDConnectProviderList {
		if strings.HasSuffix(aws.ToString(p.Arn), ":oidc-provider/"+host) {
			existing = aws.ToString(p.Arn)
		}
	}
	switch {
	case existing == "" || len(creates) == 0:
		detail := "no provider for " + host + " yet: the edge stack creates it"
		if existing != "" {
			detail = "the edge stack uses the existing provider " + existing
		}
		return Finding{Check: CheckOIDC, Region: "global", Status: OK, Detail: detail}
	}
	// The provider may be the edge stack's own, from an earlier deploy.
	res, err := o.Clients.CloudFormation("us-east-1").DescribeStackResource(ctx, &cloudformation.DescribeStackResourceInput{
		StackName: aws.String(o.EdgeStack), LogicalResourceId: aws.String(creates[0]),
	})
	if err == nil && aws.ToString(res.StackResourceDetail.PhysicalResourceId) == existing {
		return Finding{Check: CheckOIDC, Region: "global", Status: OK, Detail: "the provider " + existing + " is the edge stack's own"}
	}
	if err != nil && errorCode(err) != "ValidationError" {
		return unknown(CheckOIDC, "global", "read the edge stack's provider", err)
	}
	return Finding{Check: CheckOIDC, Region: "global", Status: Blocker,
		Detail: "the account already has an OIDC provider for " + host + " (" + existing + "), which the edge stack would create again: IAM allows one per URL",
		Fix:    "deploy with -c gitlabOidcProviderArn=" + existing + " so the stack uses it (docs/deploy.md)"}
}

// atlasRoles is AtlasAPI over the Admin API SDK.
type atlasRoles struct{ client *admin.APIClient }

// AWSRoles lists the project's AWS cloud-provider access roles.
func (a atlasRoles) AWSRoles(ctx context.Context, projectID string) ([]AtlasAWSRole, error) {
	out, _, err := a.client.CloudProviderAccessApi.ListCloudProviderAccess(ctx, projectID).Execute()
	if err != nil {
		return nil, err
	}
	var roles []AtlasAWSRole
	for _, r := range out.GetAwsIamRoles() {
		roles = append(roles, AtlasAWSRole{RoleID: r.GetRoleId(), AtlasAWSAccountARN: r.GetAtlasAWSAccountArn(), ExternalID: r.GetAtlasAssumedRoleExternalId(), IAMRoleARN: r.GetIamAssumedRoleArn()})
	}
	return roles, nil
}
