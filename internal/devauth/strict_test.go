package devauth

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestParseRequestFieldNamesMatchExactly: a token request names its fields exactly, once: a second
// spelling in another letter case must not choose the subject, the tenant or the roles.
func TestParseRequestFieldNamesMatchExactly(t *testing.T) {
	for name, body := range map[string]string{
		"capitalised sub":        `{"Sub":"u1","tenantId":"t1"}`,
		"tenant in another case": `{"sub":"u1","TenantId":"t1"}`,
		"tenant twice":           `{"sub":"u1","tenantId":"t1","TENANTID":"t2"}`,
		"snake tenant twice":     `{"sub":"u1","tenant_id":"t1","Tenant_Id":"t2"}`,
		"roles twice":            `{"sub":"u1","tenantId":"t1","roles":["clinician"],"Roles":["admin"]}`,
		"same field twice":       `{"sub":"u1","sub":"u2","tenantId":"t1"}`,
		"not an object":          `["u1"]`,
	} {
		if r, err := ParseRequest(strings.NewReader(body)); err == nil || !strings.Contains(err.Error(), "token request") {
			t.Errorf("%s: accepted as %+v (err %v)", name, r, err)
		}
	}
}

// signRaw signs raw header and claims JSON with the issuer's key, as a token whose signature holds.
func signRaw(t *testing.T, i *Issuer, header, claims string) string {
	t.Helper()
	input := b64([]byte(header)) + "." + b64([]byte(claims))
	digest := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, i.key, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64(sig)
}

// TestVerifyRefusesOtherSpellings: a token's header and claims are read exactly as Issue writes
// them; a claim in another letter case or given twice is a malformed token, even with a valid
// signature (another JWT reader could take the other copy).
func TestVerifyRefusesOtherSpellings(t *testing.T) {
	now := time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)
	iss := issuerAt(t, now)
	hdr := `{"alg":"RS256","typ":"JWT","kid":"` + iss.keyID + `"}`
	exp := now.Add(time.Hour).Unix()
	claims := func(extra string) string {
		return `{"sub":"u","custom:tenant_id":"t"` + extra + `,"aud":"` + iss.clientID + `","iss":"` + DevIssuer +
			`","token_use":"id","exp":` + strconv.FormatInt(exp, 10) + `}`
	}
	if _, err := iss.Verify(signRaw(t, iss, hdr, claims(""))); err != nil {
		t.Fatalf("the exact form is refused: %v", err)
	}
	for name, tok := range map[string]string{
		"tenant claim twice":     signRaw(t, iss, hdr, claims(`,"CUSTOM:TENANT_ID":"other"`)),
		"roles in another case":  signRaw(t, iss, hdr, claims(`,"Custom:Roles":"admin"`)),
		"unknown claim":          signRaw(t, iss, hdr, claims(`,"admin":true`)),
		"header field twice":     signRaw(t, iss, `{"alg":"RS256","ALG":"RS256","kid":"`+iss.keyID+`"}`, claims("")),
		"header in another case": signRaw(t, iss, `{"Alg":"RS256","kid":"`+iss.keyID+`"}`, claims("")),
		"claims not an object":   signRaw(t, iss, hdr, `["u"]`),
		"data after the claims":  signRaw(t, iss, hdr, claims("")+`{}`),
	} {
		if c, err := iss.Verify(tok); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Verify = %+v, %v; want ErrMalformed", name, c, err)
		}
	}
}
