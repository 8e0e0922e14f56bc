package backup

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
)

// User-pool attributes the identity export reads (constructs/identity defines them; the failover
// provider writes the same ones when it re-creates users).
const (
	cognitoAttrTenantID  = "custom:tenant_id"
	cognitoAttrRoles     = "custom:roles"
	cognitoAttrLegacySub = "custom:legacy_sub"
)

// CognitoListAPI is the part of the Cognito user-pools client the identity export uses.
type CognitoListAPI interface {
	ListUsers(ctx context.Context, in *cip.ListUsersInput, optFns ...func(*cip.Options)) (*cip.ListUsersOutput, error)
}

// CognitoIdentities returns a function listing every user of a user pool as identity records:
// phone number, tenant, roles (comma-separated attribute) and the subject the application data
// refers to (custom:legacy_sub when the user was already re-created by a failover, else sub).
func CognitoIdentities(client CognitoListAPI, userPoolID string) func(context.Context) ([]IdentityRecord, error) {
	return func(ctx context.Context) ([]IdentityRecord, error) {
		var out []IdentityRecord
		p := cip.NewListUsersPaginator(client, &cip.ListUsersInput{UserPoolId: aws.String(userPoolID), Limit: aws.Int32(60)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("listing users of %s: %w", userPoolID, err)
			}
			for _, u := range page.Users {
				attrs := map[string]string{}
				for _, a := range u.Attributes {
					attrs[aws.ToString(a.Name)] = aws.ToString(a.Value)
				}
				r := IdentityRecord{Phone: attrs["phone_number"], TenantID: attrs[cognitoAttrTenantID], OldSubject: attrs["sub"]}
				if legacy := attrs[cognitoAttrLegacySub]; legacy != "" {
					r.OldSubject = legacy
				}
				if roles := attrs[cognitoAttrRoles]; roles != "" {
					r.Roles = strings.Split(roles, ",")
				}
				out = append(out, r)
			}
		}
		return out, nil
	}
}
