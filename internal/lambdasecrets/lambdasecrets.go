// Package lambdasecrets reads Secrets Manager secrets inside a Lambda function through the AWS
// Parameters and Secrets Lambda Extension (a layer constructs/gofunction adds when a function reads
// secrets). The extension caches the secret, so handlers need no Secrets Manager client, and no
// secret ever sits in the function's environment.
package lambdasecrets

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// DefaultEndpoint is where the extension listens inside the Lambda sandbox.
const DefaultEndpoint = "http://localhost:2773"

// Endpoint is the extension's address; tests point it at a fake.
var Endpoint = DefaultEndpoint

// Get returns the secret string of arn. token is the function's AWS_SESSION_TOKEN, which the
// extension requires so only code inside the sandbox can read through it. Errors name the secret,
// never its value.
func Get(ctx context.Context, arn, token string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, Endpoint+"/secretsmanager/get?secretId="+url.QueryEscape(arn), nil)
	if err != nil {
		return "", fmt.Errorf("reading secret %s: %w", arn, err)
	}
	req.Header.Set("X-Aws-Parameters-Secrets-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("reading secret %s needs the AWS Parameters and Secrets Lambda Extension layer: %w", arn, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("reading secret %s: the extension answered %s (check the function's permission on the secret)", arn, resp.Status)
	}
	var out struct {
		SecretString string `json:"SecretString"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.SecretString == "" {
		return "", fmt.Errorf("secret %s has no SecretString: put the value as a string", arn)
	}
	return out.SecretString, nil
}
