// Package devauth is the development-only token issuer and verifier of the local runner. It signs
// JWTs that carry the same claims as the Cognito user pool's ID tokens (sub, custom:tenant_id,
// custom:roles, aud, iss, token_use, ...) so the API handler sees exactly what the Cognito
// authorizer gives it in production, and it verifies them the way the authorizer does before the
// handler runs.
//
// The tokens are signed with RS256 using an RSA key generated in memory when the Issuer is created:
// the key is never written anywhere, so a token dies with the process that issued it. Their issuer
// is DevIssuer ("https://caro-local.invalid/dev-only"): the .invalid top-level domain can never
// resolve (RFC 2606), and the deployed stack's Cognito authorizer accepts only its own user pool's
// issuer, so a development token is refused by every deployed stage.
//
// Only the standard library's crypto is used; the verifier accepts exactly one algorithm (RS256)
// and refuses "none", HS256 and everything else before looking at the signature. RS256 rather than
// HS256 because it is what Cognito signs with, and because a verifier that holds only a public key
// cannot be tricked into minting tokens.
//
// For the refusal tests of the attack suite, a token request may ask for an already expired token
// (negative expiresInSeconds) or another audience. The issuer never signs another issuer, another
// algorithm or another token_use: those refusals are tested with forged tokens.
package devauth

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/carohealth/platform/internal/strictjson"
)

// DevIssuer is the iss claim of every development token. It is deliberately not a Cognito issuer
// (https://cognito-idp.<region>.amazonaws.com/<pool>), so production refuses these tokens.
const DevIssuer = "https://caro-local.invalid/dev-only"

// DefaultClientID is the audience (Cognito app client ID) of development tokens.
const DefaultClientID = "caro-local-dev-client"

// Algorithm is the only JWS algorithm the issuer signs with and the verifier accepts.
const Algorithm = "RS256"

// TokenUseID is the token_use of a Cognito ID token, the kind the Cognito authorizer accepts when
// no OAuth scopes are configured on the method.
const TokenUseID = "id"

// DefaultTTL is how long a development token is valid, like Cognito's default ID token validity.
const DefaultTTL = time.Hour

// MaxTokenBytes bounds the size of a token the verifier will parse.
const MaxTokenBytes = 8 << 10

// Claims are the claims of a development ID token, named as Cognito names them.
type Claims struct {
	Subject  string `json:"sub"`
	TenantID string `json:"custom:tenant_id"`
	// Roles is the comma-separated role list, as Cognito stores it in a string custom attribute.
	Roles    string `json:"custom:roles"`
	Audience string `json:"aud"`
	Issuer   string `json:"iss"`
	TokenUse string `json:"token_use"`
	Username string `json:"cognito:username"`
	// AuthTime, IssuedAt, NotBefore and Expires are Unix seconds.
	AuthTime  int64  `json:"auth_time"`
	IssuedAt  int64  `json:"iat"`
	NotBefore int64  `json:"nbf"`
	Expires   int64  `json:"exp"`
	TokenID   string `json:"jti"`
	// DevOnly marks the token as development-only for anyone decoding it.
	DevOnly bool `json:"dev_only"`
}

// RoleList returns the roles as a slice.
func (c Claims) RoleList() []string {
	var out []string
	for _, r := range strings.Split(c.Roles, ",") {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out
}

// AuthorizerClaims renders the claims the way the API Gateway Cognito authorizer puts them into
// requestContext.authorizer.claims of a proxy event: every value is a string, and exp/iat are in
// the authorizer's date format ("Mon Jan 02 15:04:05 UTC 2006").
func (c Claims) AuthorizerClaims() map[string]interface{} {
	const layout = "Mon Jan 02 15:04:05 MST 2006"
	return map[string]interface{}{
		"sub":              c.Subject,
		"custom:tenant_id": c.TenantID,
		"custom:roles":     c.Roles,
		"aud":              c.Audience,
		"iss":              c.Issuer,
		"token_use":        c.TokenUse,
		"cognito:username": c.Username,
		"auth_time":        strconv.FormatInt(c.AuthTime, 10),
		"iat":              time.Unix(c.IssuedAt, 0).UTC().Format(layout),
		"exp":              time.Unix(c.Expires, 0).UTC().Format(layout),
		"jti":              c.TokenID,
	}
}

// Request is what a caller asks the issuer for.
type Request struct {
	Subject  string
	TenantID string
	Roles    []string
	// TTL is the validity; zero means DefaultTTL. A negative TTL issues an already expired token
	// (for tests of the refusal), bounded by MaxTTL.
	TTL time.Duration
	// Audience overrides the client ID (for tests of the wrong-audience refusal); empty means the
	// issuer's own client ID.
	Audience string
}

// MaxTTL bounds Request.TTL in both directions.
const MaxTTL = 24 * time.Hour

// Issuer signs and verifies development tokens.
type Issuer struct {
	key      *rsa.PrivateKey
	keyID    string
	clientID string
	now      func() time.Time
}

// Option configures an Issuer.
type Option func(*Issuer)

// WithClock sets the clock (tests).
func WithClock(now func() time.Time) Option { return func(i *Issuer) { i.now = now } }

// WithClientID sets the app client ID the tokens are issued for and verified against.
func WithClientID(id string) Option { return func(i *Issuer) { i.clientID = id } }

// NewIssuer generates a fresh RSA-2048 signing key in memory.
func NewIssuer(opts ...Option) (*Issuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate development signing key: %w", err)
	}
	var kid [8]byte
	if _, err := rand.Read(kid[:]); err != nil {
		return nil, fmt.Errorf("generate key ID: %w", err)
	}
	i := &Issuer{key: key, keyID: "dev-" + hex.EncodeToString(kid[:]), clientID: DefaultClientID, now: time.Now}
	for _, o := range opts {
		o(i)
	}
	return i, nil
}

// ClientID is the audience the issuer verifies.
func (i *Issuer) ClientID() string { return i.clientID }

type header struct {
	Alg string `json:"alg"`
	Typ string `json:"typ,omitempty"`
	Kid string `json:"kid,omitempty"`
}

// Issue signs a token for r.
func (i *Issuer) Issue(r Request) (string, Claims, error) {
	if err := validateRequest(r); err != nil {
		return "", Claims{}, err
	}
	ttl := r.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	now := i.now().UTC()
	aud := r.Audience
	if aud == "" {
		aud = i.clientID
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", Claims{}, fmt.Errorf("generate token ID: %w", err)
	}
	issued := now
	if ttl < 0 {
		// An expired token must also have been issued before it expired.
		issued = now.Add(2 * ttl)
	}
	c := Claims{
		Subject:   r.Subject,
		TenantID:  r.TenantID,
		Roles:     strings.Join(r.Roles, ","),
		Audience:  aud,
		Issuer:    DevIssuer,
		TokenUse:  TokenUseID,
		Username:  r.Subject,
		AuthTime:  issued.Unix(),
		IssuedAt:  issued.Unix(),
		NotBefore: issued.Unix(),
		Expires:   now.Add(ttl).Unix(),
		TokenID:   hex.EncodeToString(jti[:]),
		DevOnly:   true,
	}
	tok, err := i.sign(header{Alg: Algorithm, Typ: "JWT", Kid: i.keyID}, c)
	return tok, c, err
}

func validateRequest(r Request) error {
	var problems []string
	if !validValue(r.Subject, 128) {
		problems = append(problems, "sub must be 1-128 printable characters without commas")
	}
	if !validValue(r.TenantID, 128) {
		problems = append(problems, "tenantId must be 1-128 printable characters without commas")
	}
	for _, role := range r.Roles {
		if !validValue(role, 64) {
			problems = append(problems, fmt.Sprintf("role %q must be 1-64 printable characters without commas", role))
		}
	}
	if r.TTL > MaxTTL || r.TTL < -MaxTTL {
		problems = append(problems, fmt.Sprintf("expiresInSeconds must be within ±%d", int(MaxTTL.Seconds())))
	}
	if len(problems) > 0 {
		return fmt.Errorf("invalid token request: %s", strings.Join(problems, "; "))
	}
	return nil
}

func validValue(s string, max int) bool {
	if s == "" || len(s) > max || strings.TrimSpace(s) != s {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == ',' {
			return false
		}
	}
	return true
}

func (i *Issuer) sign(h header, c Claims) (string, error) {
	hj, err := json.Marshal(h)
	if err != nil {
		return "", err
	}
	cj, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	signingInput := b64(hj) + "." + b64(cj)
	digest := sha256.Sum256([]byte(signingInput))
	sig, err := rsa.SignPKCS1v15(rand.Reader, i.key, crypto.SHA256, digest[:])
	if err != nil {
		return "", fmt.Errorf("sign development token: %w", err)
	}
	return signingInput + "." + b64(sig), nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// Refusal reasons, wrapped by the errors Verify returns; callers map all of them to 401.
var (
	ErrMalformed  = errors.New("token is malformed")
	ErrAlgorithm  = errors.New("token algorithm is not " + Algorithm)
	ErrSignature  = errors.New("token signature is invalid")
	ErrExpired    = errors.New("token has expired")
	ErrNotYet     = errors.New("token is not valid yet")
	ErrIssuer     = errors.New("token issuer is not the development issuer")
	ErrAudience   = errors.New("token audience is not this app client")
	ErrTokenUse   = errors.New("token is not an ID token")
	ErrMissingSub = errors.New("token has no subject or tenant")
)

// Verify checks a token the way the Cognito authorizer does: structure, algorithm (only RS256; the
// header is checked before the signature so "none" and HMAC confusion never reach crypto), key ID,
// signature, exp, nbf, iss, aud and token_use. It returns the claims of a valid token.
func (i *Issuer) Verify(token string) (Claims, error) {
	if len(token) == 0 || len(token) > MaxTokenBytes {
		return Claims{}, ErrMalformed
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return Claims{}, ErrMalformed
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return Claims{}, ErrMalformed
	}
	var h header
	if err := strictjson.Decode(hb, &h); err != nil {
		return Claims{}, ErrMalformed
	}
	if h.Alg != Algorithm {
		return Claims{}, ErrAlgorithm
	}
	if h.Kid != i.keyID {
		return Claims{}, ErrSignature
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) == 0 {
		return Claims{}, ErrSignature
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(&i.key.PublicKey, crypto.SHA256, digest[:], sig); err != nil {
		return Claims{}, ErrSignature
	}
	cb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return Claims{}, ErrMalformed
	}
	var c Claims
	if err := strictjson.Decode(cb, &c); err != nil {
		return Claims{}, ErrMalformed
	}
	now := i.now().Unix()
	switch {
	case c.Expires == 0 || now >= c.Expires:
		return Claims{}, ErrExpired
	case now < c.NotBefore:
		return Claims{}, ErrNotYet
	case c.Issuer != DevIssuer:
		return Claims{}, ErrIssuer
	case c.Audience != i.clientID:
		return Claims{}, ErrAudience
	case c.TokenUse != TokenUseID:
		return Claims{}, ErrTokenUse
	case c.Subject == "" || c.TenantID == "":
		return Claims{}, ErrMissingSub
	}
	return c, nil
}
