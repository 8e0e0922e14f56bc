package tenancy

import (
	"errors"
	"reflect"
	"testing"

	"github.com/carohealth/platform/internal/access"
)

func TestPrincipalFromClaims(t *testing.T) {
	good := func() map[string]any {
		return map[string]any{"sub": "3f1c0c2e-8d3b-4c47-9c51-0d6f9b0e2a11", "custom:tenant_id": "clinic-a",
			"custom:roles": "clinician, nurse"}
	}
	p, err := PrincipalFromClaims(good())
	if err != nil {
		t.Fatal(err)
	}
	if !p.Verified() || p.TenantID != "clinic-a" || !reflect.DeepEqual(p.Roles, []access.Role{"clinician", "nurse"}) {
		t.Fatalf("principal %+v", p)
	}
	if !p.Can(access.NoteCreate) || p.Can(access.SubjectErase) {
		t.Fatal("Can does not follow the policy")
	}

	listRoles := good()
	listRoles["custom:roles"] = []any{"admin"}
	if p, err := PrincipalFromClaims(listRoles); err != nil || !p.Can(access.PatientDelete) {
		t.Fatalf("roles as a list: %v %+v", err, p)
	}
	noRoles := good()
	delete(noRoles, "custom:roles")
	if p, err := PrincipalFromClaims(noRoles); err != nil || p.Can(access.PatientRead) {
		t.Fatalf("no roles must be a verified principal that can do nothing: %v %+v", err, p)
	}

	bad := map[string]func(map[string]any){
		"no sub":           func(c map[string]any) { delete(c, "sub") },
		"empty sub":        func(c map[string]any) { c["sub"] = "" },
		"sub not a string": func(c map[string]any) { c["sub"] = 42 },
		"no tenant":        func(c map[string]any) { delete(c, "custom:tenant_id") },
		"tenant uppercase": func(c map[string]any) { c["custom:tenant_id"] = "Clinic" },
		"tenant injection": func(c map[string]any) { c["custom:tenant_id"] = `{"$ne":""}` },
		"tenant as object": func(c map[string]any) { c["custom:tenant_id"] = map[string]any{"$ne": ""} },
		"role non-string":  func(c map[string]any) { c["custom:roles"] = []any{1} },
		"role malformed":   func(c map[string]any) { c["custom:roles"] = "admin;drop" },
		"roles wrong type": func(c map[string]any) { c["custom:roles"] = 7 },
		"tenant too long":  func(c map[string]any) { c["custom:tenant_id"] = string(make([]byte, 65)) },
		"sub with newline": func(c map[string]any) { c["sub"] = "a\nb" },
	}
	for name, mutate := range bad {
		c := good()
		mutate(c)
		if _, err := PrincipalFromClaims(c); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("%s: want ErrUnauthenticated, got %v", name, err)
		}
	}
	if _, err := PrincipalFromClaims(nil); !errors.Is(err, ErrUnauthenticated) {
		t.Error("nil claims accepted")
	}
}

func TestClaimsFromAuthorizer(t *testing.T) {
	if c := ClaimsFromAuthorizer(map[string]any{"claims": map[string]string{"sub": "x"}}); c["sub"] != "x" {
		t.Fatal("map[string]string claims not read")
	}
	if c := ClaimsFromAuthorizer(map[string]any{"principalId": "x"}); c != nil {
		t.Fatal("claims invented")
	}
}

func TestUnverifiedPrincipalCannotOpenStore(t *testing.T) {
	forged := Principal{Subject: "s", TenantID: "clinic-a", Roles: []access.Role{access.RoleAdmin}}
	if forged.Can(access.PatientRead) {
		t.Fatal("forged principal granted an action")
	}
	if _, err := Open(nil, forged); !errors.Is(err, ErrUnverifiedPrincipal) {
		t.Fatalf("forged principal opened a store: %v", err)
	}
}

func TestJobPrincipal(t *testing.T) {
	p, err := JobPrincipal("clinic-a", "audit-purge")
	if err != nil || !p.Verified() || p.Subject != "job:audit-purge" {
		t.Fatalf("%v %+v", err, p)
	}
	for _, a := range access.AllActions() {
		if p.Can(a) {
			t.Errorf("job principal may %s", a)
		}
	}
	if _, err := JobPrincipal("", "x"); err == nil {
		t.Fatal("job principal without tenant")
	}
}
