package devauth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

var testIssuer *Issuer

func issuerAt(t *testing.T, now time.Time) *Issuer {
	t.Helper()
	if testIssuer == nil {
		var err error
		if testIssuer, err = NewIssuer(); err != nil {
			t.Fatal(err)
		}
	}
	i := *testIssuer
	i.now = func() time.Time { return now }
	return &i
}

func TestIssueThenVerifyCarriesCognitoClaims(t *testing.T) {
	now := time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)
	iss := issuerAt(t, now)
	tok, _, err := iss.Issue(Request{Subject: "user-1", TenantID: "tenant-a", Roles: []string{"clinician", "admin"}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := iss.Verify(tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if c.Subject != "user-1" || c.TenantID != "tenant-a" || c.Roles != "clinician,admin" ||
		c.Issuer != DevIssuer || c.Audience != DefaultClientID || c.TokenUse != "id" || !c.DevOnly {
		t.Fatalf("claims = %+v", c)
	}
	if c.Expires != now.Add(DefaultTTL).Unix() {
		t.Fatalf("exp = %d, want %d", c.Expires, now.Add(DefaultTTL).Unix())
	}
	ac := c.AuthorizerClaims()
	for k, want := range map[string]string{"sub": "user-1", "custom:tenant_id": "tenant-a",
		"custom:roles": "clinician,admin", "aud": DefaultClientID, "iss": DevIssuer, "token_use": "id",
		"exp": "Mon Nov 23 07:00:00 UTC 2026"} {
		if ac[k] != want {
			t.Errorf("authorizer claim %s = %v, want %q", k, ac[k], want)
		}
	}
}

// forge builds a token from raw header and claims JSON, signed with sig (already encoded).
func forge(header, claims, sig string) string {
	return b64([]byte(header)) + "." + b64([]byte(claims)) + "." + sig
}

func TestVerifyRefuses(t *testing.T) {
	now := time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)
	iss := issuerAt(t, now)
	good, claims, err := iss.Issue(Request{Subject: "u", TenantID: "t", Roles: []string{"clinician"}})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	claimsJSON, _ := json.Marshal(claims)
	signed := func(mut func(*Claims)) string {
		c := claims
		mut(&c)
		tok, err := iss.sign(header{Alg: Algorithm, Typ: "JWT", Kid: iss.keyID}, c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	expired, _, _ := iss.Issue(Request{Subject: "u", TenantID: "t", TTL: -time.Minute})
	wrongAud, _, _ := iss.Issue(Request{Subject: "u", TenantID: "t", Audience: "another-client"})
	other, _ := NewIssuer()
	otherTok, _, _ := other.Issue(Request{Subject: "u", TenantID: "t"})
	hsHeader, _ := json.Marshal(header{Alg: "HS256", Typ: "JWT", Kid: iss.keyID})

	tamperedClaims := strings.Replace(string(claimsJSON), `"custom:tenant_id":"t"`, `"custom:tenant_id":"x"`, 1)
	flipped := []byte(parts[2])
	if flipped[10] == 'A' {
		flipped[10] = 'B'
	} else {
		flipped[10] = 'A'
	}

	cases := []struct {
		name  string
		token string
		want  error
	}{
		{"empty", "", ErrMalformed},
		{"two parts", parts[0] + "." + parts[1], ErrMalformed},
		{"garbage", "a.b.c", ErrMalformed},
		{"too long", strings.Repeat("a", MaxTokenBytes+1), ErrMalformed},
		{"alg none", forge(`{"alg":"none","typ":"JWT"}`, string(claimsJSON), ""), ErrAlgorithm},
		{"alg None", forge(`{"alg":"None"}`, string(claimsJSON), ""), ErrAlgorithm},
		{"alg HS256 keyed with anything", b64(hsHeader) + "." + parts[1] + "." + parts[2], ErrAlgorithm},
		{"tampered claims", parts[0] + "." + b64([]byte(tamperedClaims)) + "." + parts[2], ErrSignature},
		{"tampered signature", parts[0] + "." + parts[1] + "." + string(flipped), ErrSignature},
		{"empty signature", parts[0] + "." + parts[1] + ".", ErrSignature},
		{"other key", otherTok, ErrSignature},
		{"expired", expired, ErrExpired},
		{"no exp", signed(func(c *Claims) { c.Expires = 0 }), ErrExpired},
		{"not yet valid", signed(func(c *Claims) { c.NotBefore = now.Add(time.Minute).Unix() }), ErrNotYet},
		{"foreign issuer", signed(func(c *Claims) { c.Issuer = "https://cognito-idp.eu-west-1.amazonaws.com/pool" }), ErrIssuer},
		{"wrong audience", wrongAud, ErrAudience},
		{"access token", signed(func(c *Claims) { c.TokenUse = "access" }), ErrTokenUse},
		{"no tenant", signed(func(c *Claims) { c.TenantID = "" }), ErrMissingSub},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := iss.Verify(tc.token)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := iss.Verify(good); err != nil {
		t.Fatalf("the untouched token must verify: %v", err)
	}
	if _, err := base64.RawURLEncoding.DecodeString(parts[2]); err != nil {
		t.Fatal(err)
	}
}

func TestExpiryBoundaryUsesTheClock(t *testing.T) {
	now := time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)
	tok, _, err := issuerAt(t, now).Issue(Request{Subject: "u", TenantID: "t", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := issuerAt(t, now.Add(59*time.Second)).Verify(tok); err != nil {
		t.Fatalf("one second before exp: %v", err)
	}
	if _, err := issuerAt(t, now.Add(time.Minute)).Verify(tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("at exp: %v, want ErrExpired", err)
	}
}

func TestParseRequest(t *testing.T) {
	cases := []struct {
		name, body string
		want       Request
		wantErr    string
	}{
		{"documented", `{"sub":"u1","tenantId":"t1","roles":["clinician","admin"]}`,
			Request{Subject: "u1", TenantID: "t1", Roles: []string{"clinician", "admin"}}, ""},
		{"front end form", `{"sub":"u1","tenant_id":"t1","roles":"clinician, admin"}`,
			Request{Subject: "u1", TenantID: "t1", Roles: []string{"clinician", "admin"}}, ""},
		{"no roles", `{"sub":"u1","tenantId":"t1"}`, Request{Subject: "u1", TenantID: "t1"}, ""},
		{"expired on purpose", `{"sub":"u1","tenantId":"t1","expiresInSeconds":-60}`,
			Request{Subject: "u1", TenantID: "t1", TTL: -time.Minute}, ""},
		{"unknown field", `{"sub":"u1","tenantId":"t1","admin":true}`, Request{}, "unknown field"},
		{"no sub", `{"tenantId":"t1"}`, Request{}, "sub must be"},
		{"no tenant", `{"sub":"u1"}`, Request{}, "tenantId must be"},
		{"comma in role", `{"sub":"u1","tenantId":"t1","roles":["a,b"]}`, Request{}, "without commas"},
		{"two tenants", `{"sub":"u1","tenantId":"t1","tenant_id":"t2"}`, Request{}, "two different tenants"},
		{"ttl too long", `{"sub":"u1","tenantId":"t1","expiresInSeconds":999999}`, Request{}, "within"},
		{"trailing data", `{"sub":"u1","tenantId":"t1"} {}`, Request{}, "after the JSON"},
		{"roles number", `{"sub":"u1","tenantId":"t1","roles":3}`, Request{}, "roles must be"},
		{"too big", `{"sub":"` + strings.Repeat("a", MaxRequestBytes) + `"}`, Request{}, "larger than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRequest(strings.NewReader(tc.body))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Subject != tc.want.Subject || got.TenantID != tc.want.TenantID || got.TTL != tc.want.TTL ||
				strings.Join(got.Roles, ",") != strings.Join(tc.want.Roles, ",") {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
