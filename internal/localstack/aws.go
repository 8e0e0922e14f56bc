package localstack

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Dummy credentials AWSConfig signs with. The local servers check no signatures.
const (
	DummyAccessKeyID     = "AKIDLOCALSTACK"
	DummySecretAccessKey = "local-secret-not-a-real-key"
)

// AWSConfig returns an AWS SDK configuration that sends every client built from it to endpoint
// (e.g. KMS.Endpoint() or S3.Endpoint()), signed for region with static dummy credentials.
//
// It is built directly, not with config.LoadDefaultConfig, so nothing from the environment or
// ~/.aws (profiles, AWS_ENDPOINT_URL_*, real credentials) leaks into tests. Checksums are only sent
// and checked where an API requires them, since gofakes3 ignores them.
//
// S3 needs path-style addressing (bucket in the path, not the host name):
//
//	cfg := localstack.AWSConfig("eu-west-1", s3srv.Endpoint())
//	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
//
// KMS needs nothing more: kms.NewFromConfig(localstack.AWSConfig(region, kmsSrv.Endpoint())).
func AWSConfig(region, endpoint string) aws.Config {
	return aws.Config{
		Region:                     region,
		Credentials:                credentials.NewStaticCredentialsProvider(DummyAccessKeyID, DummySecretAccessKey, ""),
		BaseEndpoint:               aws.String(endpoint),
		RetryMaxAttempts:           2,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
}
