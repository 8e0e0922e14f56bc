// Package atlas restores MongoDB Atlas cloud-backup snapshots into the standby cluster through the
// Atlas Admin API (go.mongodb.org/atlas-sdk): it picks the newest completed snapshot that has a
// copy in the standby region, checks first that the restore can work with customer-managed
// encryption at rest (and says to use the logical backup when it cannot), starts an automated
// restore job and polls it with backoff until it finishes, fails, is cancelled or expires.
//
// Credentials (a service account's OAuth client credentials, or an API key pair for HTTP digest)
// come from the environment or a secret's JSON and are never printed: Credentials formats itself
// redacted.
package atlas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.mongodb.org/atlas-sdk/v20250312012/admin"
	"go.mongodb.org/atlas-sdk/v20250312012/auth"
)

// Environment variable names of the credentials (the names the Atlas CLI and Terraform provider
// use).
const (
	EnvClientID     = "MONGODB_ATLAS_CLIENT_ID"
	EnvClientSecret = "MONGODB_ATLAS_CLIENT_SECRET"
	EnvPublicKey    = "MONGODB_ATLAS_PUBLIC_API_KEY"
	EnvPrivateKey   = "MONGODB_ATLAS_PRIVATE_API_KEY"
	EnvBaseURL      = "MONGODB_ATLAS_BASE_URL"
)

// Credentials authenticate to the Admin API: a service account (ClientID/ClientSecret, OAuth 2.0
// client credentials, preferred) or a programmatic API key (PublicKey/PrivateKey, HTTP digest).
type Credentials struct {
	ClientID     string `json:"clientId,omitempty"`
	ClientSecret string `json:"clientSecret,omitempty"`
	PublicKey    string `json:"publicKey,omitempty"`
	PrivateKey   string `json:"privateKey,omitempty"`
}

// String never shows a secret, so credentials can't leak through logs or %v.
func (c Credentials) String() string {
	switch {
	case c.ClientID != "":
		return fmt.Sprintf("service account %s (secret redacted)", c.ClientID)
	case c.PublicKey != "":
		return fmt.Sprintf("API key %s (private key redacted)", c.PublicKey)
	}
	return "no credentials"
}

// GoString is String, for %#v.
func (c Credentials) GoString() string { return c.String() }

// MarshalJSON refuses to serialize secrets by accident.
func (c Credentials) MarshalJSON() ([]byte, error) { return json.Marshal(c.String()) }

func (c Credentials) validate() error {
	switch {
	case c.ClientID != "" && c.ClientSecret != "":
		return nil
	case c.PublicKey != "" && c.PrivateKey != "":
		return nil
	case c.ClientID != "" || c.PublicKey != "":
		return errors.New("atlas credentials incomplete: a service account needs client ID and secret, an API key its public and private key")
	}
	return fmt.Errorf("no atlas credentials: set %s/%s (service account) or %s/%s (API key), or pass a secret", EnvClientID, EnvClientSecret, EnvPublicKey, EnvPrivateKey)
}

// CredentialsFromEnv reads credentials from the environment (getenv is os.Getenv in production).
func CredentialsFromEnv(getenv func(string) string) (Credentials, error) {
	c := Credentials{ClientID: getenv(EnvClientID), ClientSecret: getenv(EnvClientSecret), PublicKey: getenv(EnvPublicKey), PrivateKey: getenv(EnvPrivateKey)}
	if c.ClientID != "" {
		c.PublicKey, c.PrivateKey = "", ""
	}
	return c, c.validate()
}

// CredentialsFromSecret parses a secret's JSON ({"clientId","clientSecret"} or
// {"publicKey","privateKey"}), as stored in AWS Secrets Manager.
func CredentialsFromSecret(secret []byte) (Credentials, error) {
	var c Credentials
	if err := json.Unmarshal(secret, &c); err != nil {
		return Credentials{}, errors.New("atlas credentials secret is not JSON with clientId/clientSecret or publicKey/privateKey") // no echo of the content
	}
	return c, c.validate()
}

// NewClient returns an Admin API client. baseURL "" means https://cloud.mongodb.com; httpClient nil
// means a fresh client (the SDK's OAuth helper would otherwise modify http.DefaultClient).
func NewClient(ctx context.Context, creds Credentials, baseURL string, httpClient *http.Client) (*admin.APIClient, error) {
	if err := creds.validate(); err != nil {
		return nil, err
	}
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 60 * time.Second}
	}
	mods := []admin.ClientModifier{admin.UseBaseURL(baseURL), admin.UseUserAgent("caro-platform")}
	if creds.ClientID != "" {
		// The OAuth transport fetches tokens with the client from the context; give it ours.
		ctx = context.WithValue(context.WithoutCancel(ctx), auth.HTTPClient, httpClient)
		mods = append(mods, admin.UseOAuthAuth(ctx, creds.ClientID, creds.ClientSecret))
	} else {
		mods = append(mods, admin.UseDigestAuth(creds.PublicKey, creds.PrivateKey))
	}
	return admin.NewClient(mods...)
}
