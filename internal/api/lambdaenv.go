package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Environment variables of the api and health Lambdas (names from contracts.md).
const (
	EnvRegion            = "CARO_REGION"
	EnvVersion           = "CARO_VERSION"
	EnvMongoURI          = "CARO_MONGODB_URI"
	EnvMongoURISecretARN = "CARO_MONGODB_URI_SECRET_ARN"
	EnvDatabase          = "CARO_DATABASE"
	EnvAuditTopicARN     = "CARO_AUDIT_TOPIC_ARN"
	EnvOriginSecret      = "CARO_ORIGIN_SECRET"
)

// Env is the Lambda configuration read from the environment.
type Env struct {
	Region, Version                       string
	MongoURI, MongoURISecretARN, Database string
	AuditTopicARN, OriginSecret           string
}

// EnvFrom reads the configuration. needTopic says whether CARO_AUDIT_TOPIC_ARN is required (the api
// function publishes audit events; the health function does not).
func EnvFrom(getenv func(string) string, needTopic bool) (Env, error) {
	e := Env{Region: getenv(EnvRegion), Version: getenv(EnvVersion), MongoURI: getenv(EnvMongoURI),
		MongoURISecretARN: getenv(EnvMongoURISecretARN), Database: getenv(EnvDatabase),
		AuditTopicARN: getenv(EnvAuditTopicARN), OriginSecret: getenv(EnvOriginSecret)}
	if e.Database == "" {
		e.Database = "caro"
	}
	if e.MongoURI == "" && e.MongoURISecretARN == "" {
		return e, fmt.Errorf("config: set %s (local) or %s (deployed)", EnvMongoURI, EnvMongoURISecretARN)
	}
	if needTopic && e.AuditTopicARN == "" {
		return e, fmt.Errorf("config: %s is required: audit events need their topic", EnvAuditTopicARN)
	}
	return e, nil
}

// Connect returns a client for the configured database. A secret ARN is read through the AWS
// Parameters and Secrets Lambda Extension (layer), which caches it and needs no SDK client.
func Connect(ctx context.Context, e Env, getenv func(string) string) (*mongo.Client, error) {
	uri := e.MongoURI
	if uri == "" {
		var err error
		if uri, err = secretFromExtension(ctx, e.MongoURISecretARN, getenv("AWS_SESSION_TOKEN")); err != nil {
			return nil, err
		}
	}
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetTimeout(10 * time.Second))
	if err != nil {
		return nil, errors.New("config: the MongoDB connection string is malformed; check the secret") // no URI in the message: it holds a credential
	}
	return client, nil
}

// extensionURL is the Parameters and Secrets extension's endpoint (a variable so tests can point it
// at a fake).
var extensionURL = "http://localhost:2773"

func secretFromExtension(ctx context.Context, arn, token string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, extensionURL+"/secretsmanager/get?secretId="+url.QueryEscape(arn), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("X-Aws-Parameters-Secrets-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("config: reading %s needs the AWS Parameters and Secrets Lambda Extension layer: %w", arn, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("config: reading secret %s: the extension answered %s", arn, resp.Status)
	}
	var out struct {
		SecretString string `json:"SecretString"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.SecretString == "" {
		return "", fmt.Errorf("config: secret %s has no SecretString", arn)
	}
	return out.SecretString, nil
}
