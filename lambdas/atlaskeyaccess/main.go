// Command atlaskeyaccess is the CloudFormation custom-resource function that authorizes the Atlas
// key role before encryption at rest is configured and switches the primary cluster to the
// customer key (internal/atlaskeyaccess). CARO_ATLAS_CREDENTIALS_SECRET names the secret with the
// Atlas API key (the one MongoDB's CloudFormation extensions read), read through the Parameters and
// Secrets extension.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/carohealth/platform/internal/atlaskeyaccess"
	"github.com/carohealth/platform/internal/lambdasecrets"
)

// extensionSecrets reads secrets through the Parameters and Secrets extension.
type extensionSecrets struct{ token string }

func (s extensionSecrets) SecretString(ctx context.Context, name string) (string, error) {
	return lambdasecrets.Get(ctx, name, s.token)
}

func main() {
	secret := os.Getenv("CARO_ATLAS_CREDENTIALS_SECRET")
	if secret == "" {
		slog.Error("CARO_ATLAS_CREDENTIALS_SECRET is not set: constructs/atlas sets it to the Atlas credentials secret")
		os.Exit(1)
	}
	h := &atlaskeyaccess.Handler{Secrets: extensionSecrets{token: os.Getenv("AWS_SESSION_TOKEN")}, CredentialsSecret: secret}
	lambda.Start(cfn.LambdaWrap(h.Handle))
}
