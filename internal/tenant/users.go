package tenant

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ciptypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"

	"github.com/carohealth/platform/internal/tenancy"
)

// User is one user of the tenant in the identity provider, by its username (never printed: in
// the platform's pool it is the phone number) and its sub.
type User struct {
	Username string
	Sub      string
}

// Users are a region's users (its Cognito user pool), as the offboarding needs them.
type Users interface {
	// List calls fn with the tenant's users, one page at a time, so memory stays bounded whatever
	// the pool's size; an error from fn stops the listing and is returned.
	List(ctx context.Context, tenantID string, fn func([]User) error) error
	// Delete deletes one user. A user that is already gone is not an error, so an interrupted
	// deletion can simply run again.
	Delete(ctx context.Context, u User) error
}

// CognitoAPI is the part of the Cognito user-pools client CognitoUsers uses.
type CognitoAPI interface {
	ListUsers(ctx context.Context, in *cip.ListUsersInput, optFns ...func(*cip.Options)) (*cip.ListUsersOutput, error)
	AdminDeleteUser(ctx context.Context, in *cip.AdminDeleteUserInput, optFns ...func(*cip.Options)) (*cip.AdminDeleteUserOutput, error)
}

// CognitoUsers are the users of one Cognito user pool. A user's tenant is its custom:tenant_id
// attribute (the claim the API reads, tenancy.ClaimTenant), which ListUsers cannot filter on
// (Cognito filters standard attributes only): List pages through the pool and keeps the tenant's.
type CognitoUsers struct {
	Client     CognitoAPI
	UserPoolID string
	// DeletesPerSecond caps AdminDeleteUser calls (default 20, under Cognito's default quota of 25
	// per second for user deletions).
	DeletesPerSecond int

	last time.Time
}

// NewCognitoUsers returns the users of poolID in region, with the default AWS credentials.
func NewCognitoUsers(ctx context.Context, region, poolID string) (*CognitoUsers, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(region))
	if err != nil {
		return nil, fmt.Errorf("loading the AWS configuration for the user pool %s: %w", poolID, err)
	}
	return &CognitoUsers{Client: cip.NewFromConfig(cfg), UserPoolID: poolID}, nil
}

// List implements Users.
func (c *CognitoUsers) List(ctx context.Context, tenantID string, fn func([]User) error) error {
	p := cip.NewListUsersPaginator(c.Client, &cip.ListUsersInput{UserPoolId: aws.String(c.UserPoolID), Limit: aws.Int32(60),
		AttributesToGet: []string{"sub", tenancy.ClaimTenant}})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("listing the users of user pool %s: %w", c.UserPoolID, err)
		}
		var mine []User
		for _, u := range page.Users {
			var tenant, sub string
			for _, a := range u.Attributes {
				switch aws.ToString(a.Name) {
				case tenancy.ClaimTenant:
					tenant = aws.ToString(a.Value)
				case "sub":
					sub = aws.ToString(a.Value)
				}
			}
			if tenant == tenantID {
				mine = append(mine, User{Username: aws.ToString(u.Username), Sub: sub})
			}
		}
		if len(mine) > 0 {
			if err := fn(mine); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete implements Users.
func (c *CognitoUsers) Delete(ctx context.Context, u User) error {
	rate := c.DeletesPerSecond
	if rate <= 0 {
		rate = 20
	}
	if wait := time.Until(c.last.Add(time.Second / time.Duration(rate))); wait > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	c.last = time.Now()
	_, err := c.Client.AdminDeleteUser(ctx, &cip.AdminDeleteUserInput{UserPoolId: aws.String(c.UserPoolID), Username: aws.String(u.Username)})
	var gone *ciptypes.UserNotFoundException
	if errors.As(err, &gone) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("deleting user %s from user pool %s: %w", u.Sub, c.UserPoolID, err)
	}
	return nil
}
