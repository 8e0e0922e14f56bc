// Package awscloud reads the values internal/config looks up in AWS: the platform stacks'
// outputs (CloudFormation DescribeStacks), secrets (Secrets Manager GetSecretValue), SSM
// parameters (GetParameter) and the account (STS GetCallerIdentity), one client set per region.
// It also builds the SDK clients the CLI's commands inject into the packages they call (S3, KMS,
// SNS, the caller's identity), so that cmd/caro holds no AWS SDK code.
package awscloud

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	cfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/carohealth/platform/internal/config"
)

// Cloud implements config.Cloud with the AWS SDK and the default credential chain.
type Cloud struct {
	// Load returns the SDK configuration of a region (default: the default credential chain).
	Load func(ctx context.Context, region string) (aws.Config, error)
	// Endpoint, when set, sends every call there (tests: an httptest fake).
	Endpoint string
	// PathStyleS3 addresses S3 objects path-style, as S3-compatible local servers need (the
	// s3-endpoint setting is set).
	PathStyleS3 bool
	// RoleArn, when set, makes every call as that role (STS AssumeRole with the loaded
	// credentials): `caro release publish` in the pipeline writes as the CDK bootstrap
	// file-publishing role, the one role the deploy role may assume that can write the bucket.
	RoleArn string

	mu   sync.Mutex
	cfgs map[string]aws.Config
}

var _ config.Cloud = (*Cloud)(nil)

func (c *Cloud) config(ctx context.Context, region string) (aws.Config, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cfg, ok := c.cfgs[region]; ok {
		return cfg, nil
	}
	load := c.Load
	if load == nil {
		load = func(ctx context.Context, region string) (aws.Config, error) {
			return awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(region))
		}
	}
	cfg, err := load(ctx, region)
	if err != nil {
		return aws.Config{}, fmt.Errorf("AWS configuration for %s: %w", region, err)
	}
	if c.Endpoint != "" {
		cfg.BaseEndpoint = aws.String(c.Endpoint)
	}
	if c.RoleArn != "" {
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), c.RoleArn, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = "caro-" + region
		}))
	}
	if c.cfgs == nil {
		c.cfgs = map[string]aws.Config{}
	}
	c.cfgs[region] = cfg
	return cfg, nil
}

// S3 returns an S3 client for region.
func (c *Cloud) S3(ctx context.Context, region string) (*s3.Client, error) {
	cfg, err := c.config(ctx, region)
	if err != nil {
		return nil, err
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = c.PathStyleS3 }), nil
}

// StackOutputs implements config.Cloud.
func (c *Cloud) StackOutputs(ctx context.Context, region, stack string) (map[string]string, error) {
	cfg, err := c.config(ctx, region)
	if err != nil {
		return nil, err
	}
	out, err := cfn.NewFromConfig(cfg).DescribeStacks(ctx, &cfn.DescribeStacksInput{StackName: aws.String(stack)})
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "ValidationError" {
			return nil, fmt.Errorf("stack %s does not exist in %s: %w", stack, region, config.ErrNotFound)
		}
		return nil, fmt.Errorf("reading stack %s in %s: %w", stack, region, err)
	}
	m := map[string]string{}
	for _, s := range out.Stacks {
		for _, o := range s.Outputs {
			m[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
		}
	}
	return m, nil
}

// SecretString implements config.Cloud.
func (c *Cloud) SecretString(ctx context.Context, region, name string) (string, error) {
	cfg, err := c.config(ctx, region)
	if err != nil {
		return "", err
	}
	out, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
	var nf *smtypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		return "", fmt.Errorf("secret %s does not exist in %s: %w", name, region, config.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("reading secret %s in %s: %w", name, region, err)
	}
	return aws.ToString(out.SecretString), nil
}

// Parameter implements config.Cloud.
func (c *Cloud) Parameter(ctx context.Context, region, name string) (string, error) {
	cfg, err := c.config(ctx, region)
	if err != nil {
		return "", err
	}
	out, err := ssm.NewFromConfig(cfg).GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name)})
	var nf *ssmtypes.ParameterNotFound
	if errors.As(err, &nf) {
		return "", fmt.Errorf("parameter %s does not exist in %s: %w", name, region, config.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("reading parameter %s in %s: %w", name, region, err)
	}
	return aws.ToString(out.Parameter.Value), nil
}

// Account implements config.Cloud; STS is asked in us-east-1 (any region answers).
func (c *Cloud) Account(ctx context.Context) (string, error) {
	cfg, err := c.config(ctx, "us-east-1")
	if err != nil {
		return "", err
	}
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", fmt.Errorf("asking AWS who the credentials belong to: %w", err)
	}
	return aws.ToString(out.Account), nil
}
