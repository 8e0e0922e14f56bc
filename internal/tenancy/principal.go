// Package tenancy is where multi-tenancy is enforced: a verified Principal is built only from the
// authorizer's claims, a Store can be opened only for a verified Principal, and every query, write and
// index of a Store carries the principal's tenant. There is no method that reads or writes without the
// tenant, and a filter or update that tries to name the tenant itself is refused.
package tenancy

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/carohealth/platform/internal/access"
)

// Claim names of the Cognito user pool authorizer (API Gateway passes them in
// requestContext.authorizer.claims).
const (
	ClaimSubject = "sub"
	ClaimTenant  = "custom:tenant_id"
	ClaimRoles   = "custom:roles"
)

// ErrUnauthenticated is wrapped by every error of PrincipalFromClaims: the request carries no usable
// identity, which the API answers with 401.
var ErrUnauthenticated = errors.New("unauthenticated")

var (
	tenantIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	subjectPattern  = regexp.MustCompile(`^[A-Za-z0-9._:@+-]{1,128}$`)
	rolePattern     = regexp.MustCompile(`^[a-z][a-z0-9-]{0,63}$`)
)

// Principal is who is calling: the Cognito subject, the tenant the user belongs to and the user's
// roles. Only PrincipalFromClaims makes a verified one; a Principal built any other way (a struct
// literal) cannot open a Store.
type Principal struct {
	// Subject is the user's pseudonymous ID (Cognito sub); it becomes the actor of audit events.
	Subject string
	// TenantID is the tenant whose data the principal may see; the store adds it to every operation.
	TenantID string
	// Roles are the access-control roles from the custom:roles claim.
	Roles    []access.Role
	verified bool
}

// Verified reports whether p came from PrincipalFromClaims.
func (p Principal) Verified() bool { return p.verified }

// Can reports whether the principal's roles grant action (default deny).
func (p Principal) Can(action access.Action) bool {
	return p.verified && access.Allowed(p.Roles, action)
}

// ValidTenantID reports whether s has the tenant ID format (lowercase letters, digits, '-' and '_',
// at most 64 characters).
func ValidTenantID(s string) bool { return tenantIDPattern.MatchString(s) }

// PrincipalFromClaims builds the verified principal from the authorizer claims. The claims were
// verified by API Gateway's Cognito authorizer (signature, expiry, audience); this checks that the
// claims the platform relies on are present and well formed. Roles may be a comma- or space-separated
// string (Cognito custom attributes are strings) or a list.
func PrincipalFromClaims(claims map[string]any) (Principal, error) {
	if claims == nil {
		return Principal{}, fmt.Errorf("%w: no authorizer claims", ErrUnauthenticated)
	}
	sub, _ := claims[ClaimSubject].(string)
	if !subjectPattern.MatchString(sub) {
		return Principal{}, fmt.Errorf("%w: claim %q missing or malformed", ErrUnauthenticated, ClaimSubject)
	}
	tenant, _ := claims[ClaimTenant].(string)
	if !ValidTenantID(tenant) {
		return Principal{}, fmt.Errorf("%w: claim %q missing or malformed", ErrUnauthenticated, ClaimTenant)
	}
	var raw []string
	switch v := claims[ClaimRoles].(type) {
	case nil:
	case string:
		raw = strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })
	case []any:
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return Principal{}, fmt.Errorf("%w: claim %q holds a non-string", ErrUnauthenticated, ClaimRoles)
			}
			raw = append(raw, s)
		}
	case []string:
		raw = v
	default:
		return Principal{}, fmt.Errorf("%w: claim %q has type %T", ErrUnauthenticated, ClaimRoles, v)
	}
	p := Principal{Subject: sub, TenantID: tenant, verified: true}
	for _, r := range raw {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		if !rolePattern.MatchString(r) {
			return Principal{}, fmt.Errorf("%w: claim %q holds a malformed role", ErrUnauthenticated, ClaimRoles)
		}
		p.Roles = append(p.Roles, access.Role(r))
	}
	return p, nil
}

// ClaimsFromAuthorizer extracts the claims map from API Gateway's requestContext.authorizer, which
// holds it under "claims" as a JSON object (map[string]any, or map[string]string in some encoders).
func ClaimsFromAuthorizer(authorizer map[string]any) map[string]any {
	switch c := authorizer["claims"].(type) {
	case map[string]any:
		return c
	case map[string]string:
		m := make(map[string]any, len(c))
		for k, v := range c {
			m[k] = v
		}
		return m
	}
	return nil
}

// JobPrincipal is the verified principal of a platform job (for example the audit reconciler's
// purge step) acting inside one tenant. It has no roles, so it passes no access check: it can only
// be used to open that tenant's Store for internal bookkeeping, never to serve a request.
func JobPrincipal(tenantID, job string) (Principal, error) {
	if !ValidTenantID(tenantID) || !subjectPattern.MatchString("job:"+job) {
		return Principal{}, fmt.Errorf("tenancy: job principal needs a valid tenant and job name")
	}
	return Principal{Subject: "job:" + job, TenantID: tenantID, verified: true}, nil
}
