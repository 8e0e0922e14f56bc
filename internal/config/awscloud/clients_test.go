package awscloud_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/carohealth/platform/internal/config/awscloud"
)

func TestCallerARNAsksSTS(t *testing.T) {
	// GIVEN credentials STS knows (the fake answers for the on-call role)
	c := newCloud(t, &fakeAWS{})
	// WHEN the CLI asks who runs it THEN the caller's ARN comes back
	if arn, err := c.CallerARN(context.Background(), "eu-west-1"); err != nil || arn != "arn:aws:sts::123456789012:assumed-role/OnCall/alice" {
		t.Fatalf("caller = %q, %v", arn, err)
	}
}

func TestCallerARNFailsWithoutCredentials(t *testing.T) {
	for name, creds := range map[string]aws.CredentialsProvider{
		"none":    nil,
		"refused": aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return aws.Credentials{}, errors.New("no SSO session") }),
	} {
		// GIVEN a machine without usable AWS credentials
		c := &awscloud.Cloud{Endpoint: "http://127.0.0.1:1", Load: func(_ context.Context, region string) (aws.Config, error) {
			return aws.Config{Region: region, Credentials: creds}, nil
		}}
		// WHEN the CLI asks who runs it THEN it is an error (the caller falls back to the OS login), STS never asked
		if arn, err := c.CallerARN(context.Background(), "eu-west-1"); err == nil || arn != "" {
			t.Errorf("%s: caller = %q, %v; want an error", name, arn, err)
		} else if name == "refused" && !strings.Contains(err.Error(), "no SSO session") {
			t.Errorf("%s: err = %v, want the credentials' refusal", name, err)
		}
	}
}

func TestClientsAreBuiltForTheirRegion(t *testing.T) {
	ctx := context.Background()
	c := newCloud(t, &fakeAWS{})
	k, err := c.KMS(ctx, "eu-central-1")
	if err != nil || k.Options().Region != "eu-central-1" {
		t.Fatalf("KMS client: %v", err)
	}
	s, err := c.SNS(ctx, "eu-west-1")
	if err != nil || s.Options().Region != "eu-west-1" {
		t.Fatalf("SNS client: %v", err)
	}
	// GIVEN configuration that cannot load THEN every client says which region and why
	bad := &awscloud.Cloud{Load: func(context.Context, string) (aws.Config, error) {
		return aws.Config{}, errors.New("profile oncall not found")
	}}
	if _, err := bad.KMS(ctx, "eu-west-1"); err == nil || !strings.Contains(err.Error(), "AWS configuration for eu-west-1: profile oncall not found") {
		t.Errorf("KMS: %v", err)
	}
	if _, err := bad.SNS(ctx, "eu-west-1"); err == nil || !strings.Contains(err.Error(), "profile oncall not found") {
		t.Errorf("SNS: %v", err)
	}
}
