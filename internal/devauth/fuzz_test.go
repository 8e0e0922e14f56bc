package devauth

import (
	"strings"
	"testing"
	"time"
)

// FuzzVerify feeds mutated tokens to the verifier: it must never panic, and whatever it accepts
// must carry exactly the claims the issuer signed (a mutation can at most re-encode the same
// bytes, never change what they say).
func FuzzVerify(f *testing.F) {
	now := time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)
	iss, err := NewIssuer(WithClock(func() time.Time { return now }))
	if err != nil {
		f.Fatal(err)
	}
	tok, issued, err := iss.Issue(Request{Subject: "u1", TenantID: "tenant-a", Roles: []string{"clinician"}})
	if err != nil {
		f.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	f.Add(tok)
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add("eyJhbGciOiJub25lIn0." + parts[1] + ".")
	f.Add(parts[0] + "." + parts[1] + "." + parts[2] + "AA")
	f.Add(strings.Repeat(".", 10))
	f.Fuzz(func(t *testing.T, token string) {
		c, err := iss.Verify(token)
		if err != nil {
			return
		}
		if c != issued {
			t.Fatalf("accepted claims %+v that were never issued (issued %+v)", c, issued)
		}
	})
}
