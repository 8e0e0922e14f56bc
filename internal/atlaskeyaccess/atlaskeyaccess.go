// Package atlaskeyaccess is the logic of the CloudFormation custom resources that put MongoDB
// Atlas's encryption at rest in the order Atlas requires (lambdas/atlaskeyaccess is its thin main):
//
//   - Custom::AtlasKeyRoleAuthorization authorizes the IAM role Atlas assumes to use the platform's
//     KMS key for the project's cloud-provider access role (Admin API PATCH
//     /api/atlas/v2/groups/{groupId}/cloudProviderAccess/{roleId}). Atlas checks that it can assume
//     the role, which IAM makes possible only some seconds after the role is created, so the call is
//     retried until it succeeds or the deadline passes. Encryption at rest (MongoDB::Atlas::
//     EncryptionAtRest) depends on it: Atlas refuses a role that is not authorized.
//   - Custom::AtlasClusterEncryption switches an existing cluster to customer-key encryption
//     (PATCH /api/atlas/v2/groups/{groupId}/clusters/{clusterName} with encryptionAtRestProvider
//     AWS), after encryption at rest of its project is configured: enabling it for the project
//     alone leaves the cluster's storage under Atlas's keys.
//
// Both are idempotent (an update does the same again) and leave Atlas as it is on delete:
// deauthorizing the role or switching a cluster's encryption off are decisions for a person, not
// for a stack deletion.
package atlaskeyaccess

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"go.mongodb.org/atlas-sdk/v20250312012/admin"

	"github.com/carohealth/platform/internal/atlas"
)

// Resource types the handler serves.
const (
	TypeKeyRoleAuthorization = "Custom::AtlasKeyRoleAuthorization"
	TypeClusterEncryption    = "Custom::AtlasClusterEncryption"
)

// Property names of the custom resources (what constructs/atlas sets).
const (
	PropProjectID   = "ProjectId"
	PropRoleID      = "RoleId"
	PropIAMRoleArn  = "IamRoleArn"
	PropClusterName = "ClusterName"
)

// SecretReader returns a secret's string value (Secrets Manager GetSecretValue).
type SecretReader interface {
	SecretString(ctx context.Context, name string) (string, error)
}

// Handler serves the custom resources.
type Handler struct {
	// Secrets reads CredentialsSecret, the Atlas API key MongoDB's CloudFormation extensions use
	// ({"PublicKey": ..., "PrivateKey": ...}).
	Secrets           SecretReader
	CredentialsSecret string
	// BaseURL is the Atlas Admin API ("" : https://cloud.mongodb.com); HTTPClient may be nil.
	BaseURL    string
	HTTPClient *http.Client
	// AuthorizeFor bounds the retries of an authorization while IAM propagates the new role
	// (default 5 minutes); RetryEvery is the first pause between tries (default 5 s, doubling up
	// to 30 s).
	AuthorizeFor, RetryEvery time.Duration
	// Sleep waits (time.Sleep unless a test replaces it).
	Sleep func(time.Duration)
}

// Handle is a cfn.CustomResourceFunction.
func (h *Handler) Handle(ctx context.Context, event cfn.Event) (string, map[string]interface{}, error) {
	p := event.ResourceProperties
	prop := func(name string) (string, error) {
		v, _ := p[name].(string)
		if v == "" {
			return "", fmt.Errorf("%s: property %s is missing: the stack must set it (constructs/atlas)", event.ResourceType, name)
		}
		return v, nil
	}
	var physicalID string
	var do func(context.Context, *admin.APIClient) error
	switch event.ResourceType {
	case TypeKeyRoleAuthorization:
		project, err1 := prop(PropProjectID)
		role, err2 := prop(PropRoleID)
		arn, err3 := prop(PropIAMRoleArn)
		if err := errors.Join(err1, err2, err3); err != nil {
			return event.PhysicalResourceID, nil, err
		}
		physicalID = project + "/" + role
		do = func(ctx context.Context, c *admin.APIClient) error { return h.authorize(ctx, c, project, role, arn) }
	case TypeClusterEncryption:
		project, err1 := prop(PropProjectID)
		cluster, err2 := prop(PropClusterName)
		if err := errors.Join(err1, err2); err != nil {
			return event.PhysicalResourceID, nil, err
		}
		physicalID = project + "/" + cluster
		do = func(ctx context.Context, c *admin.APIClient) error { return encryptCluster(ctx, c, project, cluster) }
	default:
		return event.PhysicalResourceID, nil, fmt.Errorf("unknown resource type %q: this function serves %s and %s", event.ResourceType, TypeKeyRoleAuthorization, TypeClusterEncryption)
	}
	if event.RequestType == cfn.RequestDelete {
		// Left as it is in Atlas (see the package comment).
		return event.PhysicalResourceID, nil, nil
	}
	client, err := h.client(ctx)
	if err != nil {
		return physicalID, nil, err
	}
	return physicalID, nil, do(ctx, client)
}

// client is an Admin API client with the credentials of the extensions' secret.
func (h *Handler) client(ctx context.Context) (*admin.APIClient, error) {
	raw, err := h.Secrets.SecretString(ctx, h.CredentialsSecret)
	if err != nil {
		return nil, fmt.Errorf("reading the Atlas credentials %s: %w", h.CredentialsSecret, err)
	}
	var profile struct{ PublicKey, PrivateKey string }
	if json.Unmarshal([]byte(raw), &profile) != nil || profile.PublicKey == "" || profile.PrivateKey == "" {
		return nil, fmt.Errorf("the secret %s is not {\"PublicKey\":...,\"PrivateKey\":...}: put the Atlas API key there (docs/deploy.md, step 2)", h.CredentialsSecret)
	}
	base := h.BaseURL
	if base == "" {
		base = "https://cloud.mongodb.com"
	}
	return atlas.NewClient(ctx, atlas.Credentials{PublicKey: profile.PublicKey, PrivateKey: profile.PrivateKey}, base, h.HTTPClient)
}

// authorize authorizes arn for the project's role roleID, retrying while Atlas cannot assume it yet.
func (h *Handler) authorize(ctx context.Context, c *admin.APIClient, project, roleID, arn string) error {
	limit, pause := h.AuthorizeFor, h.RetryEvery
	if limit == 0 {
		limit = 5 * time.Minute
	}
	if pause == 0 {
		pause = 5 * time.Second
	}
	sleep := h.Sleep
	if sleep == nil {
		sleep = time.Sleep
	}
	deadline := time.Now().Add(limit)
	for try := 1; ; try++ {
		update := &admin.CloudProviderAccessRoleRequestUpdate{ProviderName: "AWS", IamAssumedRoleArn: &arn}
		_, resp, err := c.CloudProviderAccessApi.AuthorizeProviderAccessRole(ctx, project, roleID, update).Execute()
		if err == nil {
			return nil
		}
		// 4xx other than a refusal to assume (the role not yet visible to STS) will not heal.
		if resp != nil && (resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
			return fmt.Errorf("authorizing %s for Atlas role %s of project %s: %w: check the role ID in the region definition (atlas.keyAccess.roleId) and the API key's project access", arn, roleID, project, err)
		}
		if time.Now().Add(pause).After(deadline) {
			return fmt.Errorf("authorizing %s for Atlas role %s of project %s: still refused after %d tries: %w: check that the role trusts Atlas's principal with the external ID of the project's cloud provider access (atlas.keyAccess)", arn, roleID, project, try, err)
		}
		sleep(pause)
		pause = min(2*pause, 30*time.Second)
	}
}

// encryptCluster switches the cluster's storage to the project's AWS KMS key.
func encryptCluster(ctx context.Context, c *admin.APIClient, project, cluster string) error {
	provider := "AWS"
	_, _, err := c.ClustersApi.UpdateCluster(ctx, project, cluster, &admin.ClusterDescription20240805{EncryptionAtRestProvider: &provider}).Execute()
	if err != nil {
		return fmt.Errorf("switching cluster %s of project %s to encryption at rest with the AWS KMS key: %w", cluster, project, err)
	}
	return nil
}
