package awscloud

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// The clients the CLI's commands hand to the packages that take injected clients (internal/ledger,
// internal/audit), built here so that cmd/caro holds no AWS SDK code.

// callerTimeout bounds how long CallerARN waits for credentials and STS: it names the operator of
// an audit event, and a machine without AWS access must not hang the command.
const callerTimeout = 5 * time.Second

// KMS returns a KMS client for region.
func (c *Cloud) KMS(ctx context.Context, region string) (*kms.Client, error) {
	cfg, err := c.config(ctx, region)
	if err != nil {
		return nil, err
	}
	return kms.NewFromConfig(cfg), nil
}

// SNS returns an SNS client for region.
func (c *Cloud) SNS(ctx context.Context, region string) (*sns.Client, error) {
	cfg, err := c.config(ctx, region)
	if err != nil {
		return nil, err
	}
	return sns.NewFromConfig(cfg), nil
}

// CallerARN is the ARN of the identity the credentials belong to (STS GetCallerIdentity in region;
// "" lets the shared configuration decide). It fails when no credentials are configured, or when
// they or STS do not answer within 5 seconds.
func (c *Cloud) CallerARN(ctx context.Context, region string) (string, error) {
	cfg, err := c.config(ctx, region)
	if err != nil {
		return "", err
	}
	if cfg.Credentials == nil {
		return "", errors.New("no AWS credentials configured")
	}
	cctx, cancel := context.WithTimeout(ctx, callerTimeout)
	defer cancel()
	if _, err := cfg.Credentials.Retrieve(cctx); err != nil {
		return "", fmt.Errorf("retrieving AWS credentials: %w", err)
	}
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(cctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", fmt.Errorf("asking AWS who the credentials belong to: %w", err)
	}
	if aws.ToString(out.Arn) == "" {
		return "", errors.New("asking AWS who the credentials belong to: STS answered without an ARN")
	}
	return aws.ToString(out.Arn), nil
}
