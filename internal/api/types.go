package api

import "time"

// The JSON shapes of the API (documented for clients in docs/api.md). Request types are decoded
// strictly: unknown fields, keys starting with '$' or containing '.', duplicate keys and trailing
// data are refused.

// PatientInput is the body of POST /patients and PUT /patients/{id}. All fields are required; PUT
// replaces them all.
type PatientInput struct {
	// GivenName is the patient's given name, 1-100 characters, no control characters.
	GivenName string `json:"givenName"`
	// FamilyName is the patient's family name, 1-100 characters, no control characters.
	FamilyName string `json:"familyName"`
	// BirthDate is the date of birth as YYYY-MM-DD, not in the future, not before 1900.
	BirthDate string `json:"birthDate"`
}

// Patient is a patient as the API returns it.
type Patient struct {
	// ID is the patient's random ID (32 lowercase hex characters, 128 bits).
	ID         string `json:"id"`
	GivenName  string `json:"givenName"`
	FamilyName string `json:"familyName"`
	BirthDate  string `json:"birthDate"`
	// Version starts at 1 and grows by one with every change.
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// NoteInput is the body of POST /patients/{id}/notes and PUT /notes/{id}.
type NoteInput struct {
	// Text is the care note, 1-10000 characters; newlines and tabs are allowed, other control
	// characters are not.
	Text string `json:"text"`
}

// Note is a care note as the API returns it.
type Note struct {
	// ID is the note's random ID (32 lowercase hex characters).
	ID string `json:"id"`
	// PatientID is the patient the note is about.
	PatientID string `json:"patientId"`
	Text      string `json:"text"`
	// Author is the subject (Cognito sub) of the user who wrote the note.
	Author    string    `json:"author"`
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// PatientList is one page of GET /patients. Items are in a stable order (by ID); pass NextCursor as
// ?cursor= to get the next page; it is absent on the last page.
type PatientList struct {
	Items      []Patient `json:"items"`
	NextCursor string    `json:"nextCursor,omitempty"`
}

// NoteList is one page of GET /patients/{id}/notes, paginated like PatientList.
type NoteList struct {
	Items      []Note `json:"items"`
	NextCursor string `json:"nextCursor,omitempty"`
}

// SubjectExport is GET /subjects/{id}/export: everything held about one patient in the caller's
// tenant, as one document (GDPR data portability).
type SubjectExport struct {
	// Format names this document's shape and version: "caro-subject-export/v1".
	Format     string    `json:"format"`
	TenantID   string    `json:"tenantId"`
	ExportedAt time.Time `json:"exportedAt"`
	Patient    Patient   `json:"patient"`
	// Notes are all the patient's care notes, oldest ID first.
	Notes []Note `json:"notes"`
}

// ExportFormat is SubjectExport.Format.
const ExportFormat = "caro-subject-export/v1"

// ErrorResponse is the body of every error: a stable machine-readable code, a human message saying
// what was wrong and what to do, and the request ID to quote to support. It never holds a stack
// trace or internal detail.
type ErrorResponse struct {
	Error     string `json:"error"`
	Message   string `json:"message"`
	RequestID string `json:"requestId"`
}
