// Package access is the platform's action-based access control: every API route maps to one Action,
// and Policy says which Roles may perform which Actions. The policy is data in this one file, and
// anything it does not grant is denied (an unknown role, an unknown action, no roles at all).
package access

import "slices"

// Action is something a principal can do to a kind of resource, named "<resource>:<verb>".
type Action string

// The actions of the platform API. Reads and writes are separate so a role can be read-only; deletes
// and the GDPR actions are separate again because they destroy data.
const (
	PatientRead   Action = "patient:read"   // list and get patients
	PatientWrite  Action = "patient:write"  // create and update patients
	PatientDelete Action = "patient:delete" // delete a patient
	NoteRead      Action = "note:read"      // list and get care notes
	NoteCreate    Action = "note:create"    // add a care note to a patient
	NoteWrite     Action = "note:write"     // update a care note
	NoteDelete    Action = "note:delete"    // delete a care note
	SubjectExport Action = "subject:export" // GDPR data portability: export everything about a patient
	SubjectErase  Action = "subject:erase"  // GDPR right to be forgotten: erase a patient's personal data
)

// Role is a named set of granted actions, carried in the principal's `custom:roles` claim.
type Role string

// The roles the policy knows. Any other role string grants nothing.
const (
	RoleClinician      Role = "clinician"       // treats patients: reads and writes patients and notes
	RoleNurse          Role = "nurse"           // reads patients and notes, adds notes
	RoleAdmin          Role = "admin"           // tenant administrator: manages records, deletes them
	RolePrivacyOfficer Role = "privacy-officer" // handles GDPR requests: export and erasure
)

// Policy is the whole access policy: role -> granted actions. It is the single place where access is
// decided; change it here and the table test in access_test.go.
var Policy = map[Role][]Action{
	RoleClinician:      {PatientRead, PatientWrite, NoteRead, NoteCreate, NoteWrite},
	RoleNurse:          {PatientRead, NoteRead, NoteCreate},
	RoleAdmin:          {PatientRead, PatientWrite, PatientDelete, NoteRead, NoteDelete},
	RolePrivacyOfficer: {PatientRead, SubjectExport, SubjectErase},
}

// AllActions lists every action the API uses, so tests can check the policy against each of them.
func AllActions() []Action {
	return []Action{PatientRead, PatientWrite, PatientDelete, NoteRead, NoteCreate, NoteWrite, NoteDelete,
		SubjectExport, SubjectErase}
}

// AllRoles lists the roles the policy knows, sorted.
func AllRoles() []Role {
	roles := make([]Role, 0, len(Policy))
	for r := range Policy {
		roles = append(roles, r)
	}
	slices.Sort(roles)
	return roles
}

// Allowed reports whether any of roles grants action. Default deny: no roles, unknown roles and
// unknown actions are all refused.
func Allowed(roles []Role, action Action) bool {
	for _, r := range roles {
		for _, a := range Policy[r] {
			if a == action {
				return true
			}
		}
	}
	return false
}

// KnownRole reports whether r is a role of the policy.
func KnownRole(r Role) bool {
	_, ok := Policy[r]
	return ok
}
