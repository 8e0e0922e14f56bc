package aws

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ciptypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
)

// Identity is one user to re-provision in the target user pool (from the encrypted identity export
// the scheduled backup writes).
type Identity struct {
	Phone      string
	TenantID   string
	Roles      []string
	OldSubject string
}

// CognitoAPI is the part of the Cognito user-pools client the identities step uses.
type CognitoAPI interface {
	AdminCreateUser(context.Context, *cip.AdminCreateUserInput, ...func(*cip.Options)) (*cip.AdminCreateUserOutput, error)
	AdminGetUser(context.Context, *cip.AdminGetUserInput, ...func(*cip.Options)) (*cip.AdminGetUserOutput, error)
}

// Custom attributes of the platform's user pool (constructs/identity).
const (
	AttrTenantID  = "custom:tenant_id"
	AttrRoles     = "custom:roles"
	AttrLegacySub = "custom:legacy_sub"
)

// IdentityProvisioner re-creates users in a Cognito user pool. Passwords cannot be exported from
// Cognito, so each user is created without a password of ours: Cognito sends a temporary password
// by SMS and the user must set a new one at the next sign-in (status FORCE_CHANGE_PASSWORD).
type IdentityProvisioner struct {
	Client     CognitoAPI
	UserPoolID string
	// SuppressMessages creates users without sending the SMS (MessageAction SUPPRESS), for drills
	// against a real pool; the users still must reset their password.
	SuppressMessages bool
}

// ProvisionResult counts what Provision did.
type ProvisionResult struct {
	Created  int
	Existing int
	// Conflicts are users that exist with another tenant (tenant_id is immutable): never changed,
	// reported for a human.
	Conflicts []string
}

// Provision creates every user; it is idempotent: a user that already exists (UsernameExistsException,
// e.g. from an interrupted earlier run) is checked, not recreated.
func (p *IdentityProvisioner) Provision(ctx context.Context, users []Identity, progress func(string, ...any)) (ProvisionResult, error) {
	var res ProvisionResult
	for i, u := range users {
		if u.Phone == "" || u.TenantID == "" {
			return res, fmt.Errorf("identity %d of the export has no phone or tenant: the export is damaged; restore identities from an older backup", i)
		}
		in := &cip.AdminCreateUserInput{
			UserPoolId: aws.String(p.UserPoolID),
			// The pool signs in by phone number (UsernameAttributes phone_number), so the
			// username is the phone number.
			Username: aws.String(u.Phone),
			UserAttributes: []ciptypes.AttributeType{
				{Name: aws.String("phone_number"), Value: aws.String(u.Phone)},
				{Name: aws.String("phone_number_verified"), Value: aws.String("true")},
				{Name: aws.String(AttrTenantID), Value: aws.String(u.TenantID)},
				{Name: aws.String(AttrRoles), Value: aws.String(strings.Join(u.Roles, ","))},
				{Name: aws.String(AttrLegacySub), Value: aws.String(u.OldSubject)},
			},
			DesiredDeliveryMediums: []ciptypes.DeliveryMediumType{ciptypes.DeliveryMediumTypeSms},
		}
		if p.SuppressMessages {
			in.MessageAction = ciptypes.MessageActionTypeSuppress
		}
		_, err := p.Client.AdminCreateUser(ctx, in)
		var exists *ciptypes.UsernameExistsException
		switch {
		case err == nil:
			res.Created++
		case errors.As(err, &exists):
			got, gerr := p.Client.AdminGetUser(ctx, &cip.AdminGetUserInput{UserPoolId: aws.String(p.UserPoolID), Username: aws.String(u.Phone)})
			if gerr != nil {
				return res, fmt.Errorf("user %s exists but cannot be read: %w", maskPhone(u.Phone), gerr)
			}
			tenant := ""
			for _, a := range got.UserAttributes {
				if aws.ToString(a.Name) == AttrTenantID {
					tenant = aws.ToString(a.Value)
				}
			}
			if tenant != u.TenantID {
				res.Conflicts = append(res.Conflicts, fmt.Sprintf("%s exists in tenant %q, export says %q", maskPhone(u.Phone), tenant, u.TenantID))
			}
			res.Existing++
		default:
			return res, fmt.Errorf("create user %s in %s: %w: run apply again to resume (existing users are skipped)", maskPhone(u.Phone), p.UserPoolID, err)
		}
		if progress != nil && (i+1)%500 == 0 {
			progress("%d/%d users", i+1, len(users))
		}
	}
	return res, nil
}

// maskPhone keeps a phone number out of logs and journals except its last three digits.
func maskPhone(p string) string {
	if len(p) <= 3 {
		return "***"
	}
	return strings.Repeat("*", len(p)-3) + p[len(p)-3:]
}
