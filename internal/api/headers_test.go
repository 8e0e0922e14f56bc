package api

import (
	"context"
	"testing"

	"github.com/carohealth/platform/internal/headers/headerstest"
)

// TestEveryResponseCarriesTheSecurityHeaders: the API's answers carry the platform's security
// headers themselves (with their exact values), success and every kind of error alike, so nothing
// depends on the response passing through CloudFront (issue 17 item 3, the same class as health).
func TestEveryResponseCarriesTheSecurityHeaders(t *testing.T) {
	e := newEnv(t)
	u := user{"doc-hdr", uniqueTenant("headers"), "clinician"}
	p := e.createPatient(u)
	for _, c := range []struct {
		name, method, path, body string
		who                      user
	}{
		{"200", "GET", "/patients/" + p.ID, "", u},
		{"201", "POST", "/patients", adaJSON, u},
		{"401", "GET", "/patients", "", user{}},
		{"403", "DELETE", "/patients/" + p.ID, "", u},
		{"404", "GET", "/nope", "", u},
		{"405", "PATCH", "/patients/" + p.ID, "", u},
		{"400", "POST", "/patients", `{"GivenName":"A"}`, u},
	} {
		resp := e.do(c.who, c.method, c.path, c.body)
		headerstest.Check(t, c.name+" "+c.method+" "+c.path, headerstest.Lookup(resp.Headers))
	}
	// 204 has no body and still the headers.
	n := e.createNote(u, p.ID, "x")
	resp := e.do(user{"adm", u.tenant, "admin"}, "DELETE", "/notes/"+n.ID, "")
	if resp.StatusCode != 204 {
		t.Fatalf("%d", resp.StatusCode)
	}
	headerstest.Check(t, "204", headerstest.Lookup(resp.Headers))
	// A panic's 500 too.
	h := e.h
	h.pool = nil
	resp, _ = h.Handle(context.Background(), e.request(u, "POST", "/patients", adaJSON))
	if resp.StatusCode != 500 {
		t.Fatalf("panic answered %d", resp.StatusCode)
	}
	headerstest.Check(t, "500", headerstest.Lookup(resp.Headers))
}
