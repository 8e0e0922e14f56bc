package api

import (
	"context"
	"errors"
	"fmt"
	"github.com/carohealth/platform/internal/lambdasecrets"
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
		if uri, err = lambdasecrets.Get(ctx, e.MongoURISecretARN, getenv("AWS_SESSION_TOKEN")); err != nil {
			return nil, err
		}
	}
	client, err := mongo.Connect(clientOptions(uri))
	if err != nil {
		return nil, errors.New("config: the MongoDB connection string is malformed; check the secret") // no URI in the message: it holds a credential
	}
	return client, nil
}

// clientOptions are the options of the function's connection: every operation bounded at ten
// seconds, well inside the function's timeout.
func clientOptions(uri string) *options.ClientOptions {
	return options.Client().ApplyURI(uri).SetTimeout(10 * time.Second)
}
