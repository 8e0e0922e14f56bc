package aws

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

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
	// DescribeUserPool is the readiness check that the target's pool exists.
	DescribeUserPool(context.Context, *cip.DescribeUserPoolInput, ...func(*cip.Options)) (*cip.DescribeUserPoolOutput, error)
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
	// Concurrency is the number of parallel AdminCreateUser calls (default 8).
	Concurrency int
	// RatePerSecond caps the calls per second (default 40, under the default quota of 50).
	RatePerSecond int
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
// e.g. from an interrupted earlier run) is checked, not recreated. Users are created by Concurrency
// workers at no more than RatePerSecond calls, under Cognito's UserCreation quota (50/s by default).
func (p *IdentityProvisioner) Provision(ctx context.Context, users []Identity, progress func(string, ...any)) (ProvisionResult, error) {
	var res ProvisionResult
	for i, u := range users {
		if u.Phone == "" || u.TenantID == "" {
			return res, fmt.Errorf("identity %d of the export has no phone or tenant: the export is damaged; restore identities from an older backup", i)
		}
	}
	workers := p.Concurrency
	if workers <= 0 {
		workers = 8
	}
	rate := p.RatePerSecond
	if rate <= 0 {
		rate = 40
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	jobs := make(chan Identity)
	var mu sync.Mutex
	var firstErr error
	done := 0
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range jobs {
				created, conflict, err := p.provisionOne(ctx, u)
				mu.Lock()
				switch {
				case err != nil:
					if firstErr == nil {
						firstErr = err
						cancel()
					}
				case created:
					res.Created++
				default:
					res.Existing++
					if conflict != "" {
						res.Conflicts = append(res.Conflicts, conflict)
					}
				}
				done++
				if progress != nil && done%500 == 0 {
					progress("%d/%d users", done, len(users))
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, u := range users {
		select {
		case <-ctx.Done():
			break feed
		case <-tick.C:
		}
		select {
		case <-ctx.Done():
			break feed
		case jobs <- u:
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return res, firstErr
	}
	return res, ctx.Err()
}

// provisionOne creates one user; an existing one is read back and compared.
func (p *IdentityProvisioner) provisionOne(ctx context.Context, u Identity) (created bool, conflict string, err error) {
	in := &cip.AdminCreateUserInput{
		UserPoolId: aws.String(p.UserPoolID),
		// The pool signs in by phone number (UsernameAttributes phone_number), so the username
		// is the phone number.
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
	_, err = p.Client.AdminCreateUser(ctx, in)
	var exists *ciptypes.UsernameExistsException
	switch {
	case err == nil:
		return true, "", nil
	case errors.As(err, &exists):
		got, gerr := p.Client.AdminGetUser(ctx, &cip.AdminGetUserInput{UserPoolId: aws.String(p.UserPoolID), Username: aws.String(u.Phone)})
		if gerr != nil {
			return false, "", fmt.Errorf("user %s exists but cannot be read: %w", maskPhone(u.Phone), gerr)
		}
		tenant := ""
		for _, a := range got.UserAttributes {
			if aws.ToString(a.Name) == AttrTenantID {
				tenant = aws.ToString(a.Value)
			}
		}
		if tenant != u.TenantID {
			return false, fmt.Sprintf("%s exists in tenant %q, export says %q", maskPhone(u.Phone), tenant, u.TenantID), nil
		}
		return false, "", nil
	default:
		return false, "", fmt.Errorf("create user %s in %s: %w: run apply again to resume (existing users are skipped)", maskPhone(u.Phone), p.UserPoolID, err)
	}
}

// maskPhone keeps a phone number out of logs and journals except its last three digits.
func maskPhone(p string) string {
	if len(p) <= 3 {
		return "***"
	}
	return strings.Repeat("*", len(p)-3) + p[len(p)-3:]
}
