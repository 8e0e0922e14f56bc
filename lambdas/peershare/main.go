// Command peershare is the CloudFormation custom-resource function with which a region's platform
// stack hands its peer region a replica of its backup key and the SSM parameters the peer reads at
// run time (internal/peershare).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/carohealth/platform/internal/peershare"
)

func main() {
	cfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		slog.Error("peershare cannot start", "error", err.Error())
		os.Exit(1)
	}
	h := &peershare.Handler{
		KMS: func(region string) peershare.KMS {
			return kms.NewFromConfig(cfg, func(o *kms.Options) { o.Region = region })
		},
		SSM: func(region string) peershare.SSM {
			return ssm.NewFromConfig(cfg, func(o *ssm.Options) { o.Region = region })
		},
	}
	lambda.Start(cfn.LambdaWrap(h.Handle))
}
