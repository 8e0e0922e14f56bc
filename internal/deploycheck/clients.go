package deploycheck

import (
	"context"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/carohealth/platform/internal/atlas"
)

// The calls each check makes, as the SDK v2 clients have them.

// LambdaAPI reads the account's concurrency quota of a region.
type LambdaAPI interface {
	GetAccountSettings(context.Context, *lambda.GetAccountSettingsInput, ...func(*lambda.Options)) (*lambda.GetAccountSettingsOutput, error)
}

// SNSAPI reads the SMS settings Cognito's text messages depend on.
type SNSAPI interface {
	GetSMSSandboxAccountStatus(context.Context, *sns.GetSMSSandboxAccountStatusInput, ...func(*sns.Options)) (*sns.GetSMSSandboxAccountStatusOutput, error)
	GetSMSAttributes(context.Context, *sns.GetSMSAttributesInput, ...func(*sns.Options)) (*sns.GetSMSAttributesOutput, error)
}

// SSMAPI reads the CDK bootstrap version parameter.
type SSMAPI interface {
	GetParameter(context.Context, *ssm.GetParameterInput, ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// CloudFormationAPI reads activated extensions and the edge stack's OIDC provider.
type CloudFormationAPI interface {
	DescribeType(context.Context, *cloudformation.DescribeTypeInput, ...func(*cloudformation.Options)) (*cloudformation.DescribeTypeOutput, error)
	DescribeStackResource(context.Context, *cloudformation.DescribeStackResourceInput, ...func(*cloudformation.Options)) (*cloudformation.DescribeStackResourceOutput, error)
}

// SecretsAPI reads the Atlas credentials secret of MongoDB's extensions.
type SecretsAPI interface {
	GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// IAMAPI lists the account's OIDC providers.
type IAMAPI interface {
	ListOpenIDConnectProviders(context.Context, *iam.ListOpenIDConnectProvidersInput, ...func(*iam.Options)) (*iam.ListOpenIDConnectProvidersOutput, error)
}

// Route53API reads the hosted zone.
type Route53API interface {
	GetHostedZone(context.Context, *route53.GetHostedZoneInput, ...func(*route53.Options)) (*route53.GetHostedZoneOutput, error)
}

// AtlasAPI lists a project's cloud-provider access roles (Admin API
// GET /api/atlas/v2/groups/{groupId}/cloudProviderAccess).
type AtlasAPI interface {
	AWSRoles(ctx context.Context, projectID string) ([]AtlasAWSRole, error)
}

// AtlasAWSRole is one AWS IAM role a project's cloud-provider access knows.
type AtlasAWSRole struct {
	RoleID, AtlasAWSAccountARN, ExternalID string
	// IAMRoleARN is the role authorized for it ("" until authorized).
	IAMRoleARN string
}

// Clients gives the checks their API clients.
type Clients interface {
	Lambda(region string) LambdaAPI
	SNS(region string) SNSAPI
	SSM(region string) SSMAPI
	CloudFormation(region string) CloudFormationAPI
	Secrets(region string) SecretsAPI
	IAM() IAMAPI
	Route53() Route53API
	Atlas(creds atlas.Credentials) (AtlasAPI, error)
}

// SDKClients are Clients over the AWS SDK v2 and the Atlas Admin API.
type SDKClients struct {
	Config aws.Config
	// AtlasBaseURL is the Admin API ("https://cloud.mongodb.com"); HTTPClient defaults to
	// http.DefaultClient.
	AtlasBaseURL string
	HTTPClient   *http.Client
}

// NewSDKClients are SDKClients with the default credential chain (the platform engineer's
// credentials) and the Atlas Admin API at atlasURL.
func NewSDKClients(ctx context.Context, atlasURL string) (SDKClients, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return SDKClients{}, fmt.Errorf("loading AWS credentials: %w: sign in as the platform engineer (aws sso login, or AWS_PROFILE)", err)
	}
	return SDKClients{Config: cfg, AtlasBaseURL: atlasURL}, nil
}

func (c SDKClients) regional(region string) aws.Config {
	cfg := c.Config.Copy()
	cfg.Region = region
	return cfg
}

// Lambda is the region's Lambda client.
func (c SDKClients) Lambda(region string) LambdaAPI { return lambda.NewFromConfig(c.regional(region)) }

// SNS is the region's SNS client.
func (c SDKClients) SNS(region string) SNSAPI { return sns.NewFromConfig(c.regional(region)) }

// SSM is the region's SSM client.
func (c SDKClients) SSM(region string) SSMAPI { return ssm.NewFromConfig(c.regional(region)) }

// CloudFormation is the region's CloudFormation client.
func (c SDKClients) CloudFormation(region string) CloudFormationAPI {
	return cloudformation.NewFromConfig(c.regional(region))
}

// Secrets is the region's Secrets Manager client.
func (c SDKClients) Secrets(region string) SecretsAPI {
	return secretsmanager.NewFromConfig(c.regional(region))
}

// IAM is the (global) IAM client.
func (c SDKClients) IAM() IAMAPI { return iam.NewFromConfig(c.regional("us-east-1")) }

// Route53 is the (global) Route 53 client.
func (c SDKClients) Route53() Route53API { return route53.NewFromConfig(c.regional("us-east-1")) }

// Atlas is an Admin API client with creds.
func (c SDKClients) Atlas(creds atlas.Credentials) (AtlasAPI, error) {
	base := c.AtlasBaseURL
	if base == "" {
		base = "https://cloud.mongodb.com"
	}
	client, err := atlas.NewClient(context.Background(), creds, base, c.HTTPClient)
	if err != nil {
		return nil, err
	}
	return atlasRoles{client: client}, nil
}
