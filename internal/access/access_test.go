package access

import "testing"

// TestPolicyTable is the role x action x outcome table. Every cell is listed, so adding a role or an
// action without deciding its row here fails the completeness check below.
func TestPolicyTable(t *testing.T) {
	const Y, N = true, false
	table := map[Role]map[Action]bool{
		RoleClinician: {PatientRead: Y, PatientWrite: Y, PatientDelete: N, NoteRead: Y, NoteCreate: Y,
			NoteWrite: Y, NoteDelete: N, SubjectExport: N, SubjectErase: N},
		RoleNurse: {PatientRead: Y, PatientWrite: N, PatientDelete: N, NoteRead: Y, NoteCreate: Y,
			NoteWrite: N, NoteDelete: N, SubjectExport: N, SubjectErase: N},
		RoleAdmin: {PatientRead: Y, PatientWrite: Y, PatientDelete: Y, NoteRead: Y, NoteCreate: N,
			NoteWrite: N, NoteDelete: Y, SubjectExport: N, SubjectErase: N},
		RolePrivacyOfficer: {PatientRead: Y, PatientWrite: N, PatientDelete: N, NoteRead: N, NoteCreate: N,
			NoteWrite: N, NoteDelete: N, SubjectExport: Y, SubjectErase: Y},
		// Unknown roles, differently cased roles and the empty role get nothing (default deny).
		"auditor":   {},
		"Clinician": {},
		"":          {},
		"*":         {},
	}
	for _, r := range AllRoles() {
		if _, ok := table[r]; !ok {
			t.Errorf("role %q of the policy has no row in the table", r)
		}
	}
	for role, row := range table {
		for _, a := range append(AllActions(), "patient:*", "", "admin") {
			want := row[a]
			if got := Allowed([]Role{role}, a); got != want {
				t.Errorf("role %q action %q: allowed=%v, want %v", role, a, got, want)
			}
		}
	}
}

func TestNoRolesDenied(t *testing.T) {
	for _, a := range AllActions() {
		if Allowed(nil, a) {
			t.Errorf("no roles but %q allowed", a)
		}
	}
}

func TestRolesCombine(t *testing.T) {
	roles := []Role{RoleNurse, RolePrivacyOfficer}
	if !Allowed(roles, SubjectErase) || !Allowed(roles, NoteCreate) || Allowed(roles, PatientDelete) {
		t.Fatal("union of nurse and privacy-officer grants is wrong")
	}
}

func TestEveryActionGrantedSomewhere(t *testing.T) {
	for _, a := range AllActions() {
		granted := false
		for _, r := range AllRoles() {
			granted = granted || Allowed([]Role{r}, a)
		}
		if !granted {
			t.Errorf("action %q is granted to no role", a)
		}
	}
}

// TestAllRolesSortedAndComplete: AllRoles lists exactly the policy's roles, in sorted order (the
// order docs, the attack suite's expectations and error messages show them in).
func TestAllRolesSortedAndComplete(t *testing.T) {
	got := AllRoles()
	want := []Role{"admin", "clinician", "nurse", "privacy-officer"}
	if len(got) != len(want) {
		t.Fatalf("AllRoles() = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("AllRoles() = %v, want %v", got, want)
		}
	}
}

// TestKnownRole: exactly the policy's roles are known.
func TestKnownRole(t *testing.T) {
	for _, r := range []Role{"admin", "clinician", "nurse", "privacy-officer"} {
		if !KnownRole(r) {
			t.Errorf("%q unknown", r)
		}
	}
	for _, r := range []Role{"", "Admin", "auditor", "*"} {
		if KnownRole(r) {
			t.Errorf("%q known", r)
		}
	}
}
