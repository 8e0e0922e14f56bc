package api

import (
	"context"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/tenancy"
)

// The note holds' states that a crash or older data leave behind (holds.go), one at a time.

func pushHold(t *testing.T, tenant, patientID, noteID string) {
	t.Helper()
	_, err := testDB.Collection(PatientsCollection).UpdateOne(context.Background(), bson.D{{Key: "_id", Value: tenant + ":" + patientID}},
		bson.D{{Key: "$push", Value: bson.D{{Key: fieldNoteIDs, Value: noteID}}}})
	if err != nil {
		t.Fatal(err)
	}
}

func holdsOf(t *testing.T, tenant, patientID string) []string {
	t.Helper()
	var d struct {
		NoteIDs []string `bson:"noteIds"`
	}
	if err := testDB.Collection(PatientsCollection).FindOne(context.Background(), bson.D{{Key: "_id", Value: tenant + ":" + patientID}}).Decode(&d); err != nil {
		t.Fatal(err)
	}
	return d.NoteIDs
}

// TestNoteHoldLifecycle: a created note is held by its patient, which then cannot be deleted; the
// note's delete releases the hold and the patient's delete goes through.
func TestNoteHoldLifecycle(t *testing.T) {
	e := newEnv(t)
	u := user{"doc-hl", uniqueTenant("hold"), "clinician,admin"}
	p := e.createPatient(u)
	n := e.createNote(u, p.ID, "held")
	if got := holdsOf(t, u.tenant, p.ID); len(got) != 1 || got[0] != n.ID {
		t.Fatalf("holds %v, want [%s]", got, n.ID)
	}
	e.expect(409, CodeHasNotes, u, "DELETE", "/patients/"+p.ID, "")
	e.expect(204, "", u, "DELETE", "/notes/"+n.ID, "")
	if got := holdsOf(t, u.tenant, p.ID); len(got) != 0 {
		t.Fatalf("holds after the note's delete %v", got)
	}
	e.expect(204, "", u, "DELETE", "/patients/"+p.ID, "")
	e.expect(404, CodeNotFound, u, "POST", "/patients/"+p.ID+"/notes", `{"text":"late"}`)
}

// TestStaleHoldIsSettledAndBlocksTheLateNote: a creation that crashed between its hold and its insert
// (or is still on its way) does not keep the patient forever; once the delete settled the hold, that
// note can never be stored.
func TestStaleHoldIsSettledAndBlocksTheLateNote(t *testing.T) {
	e := newEnv(t)
	u := user{"doc-sh", uniqueTenant("stale"), "clinician,admin"}
	p := e.createPatient(u)
	late := NewID()
	pushHold(t, u.tenant, p.ID, late)
	for range 4 { // more stale holds than the delete has attempts: all are settled in one
		pushHold(t, u.tenant, p.ID, NewID())
	}
	e.expect(204, "", u, "DELETE", "/patients/"+p.ID, "")
	_, err := testDB.Collection(NotesCollection).InsertOne(context.Background(),
		noteDoc{ID: u.tenant + ":" + late, TenantID: u.tenant, PatientID: p.ID, Version: 1, Text: "late"})
	if !mongo.IsDuplicateKeyError(err) {
		t.Fatalf("the late note's insert: %v, want a duplicate key (blocked)", err)
	}
}

// TestHoldOfADeletedNoteIsReleased: a note delete that crashed before releasing its hold does not keep
// the patient either.
func TestHoldOfADeletedNoteIsReleased(t *testing.T) {
	e := newEnv(t)
	u := user{"doc-hd", uniqueTenant("deleted-hold"), "clinician,admin"}
	p := e.createPatient(u)
	n := e.createNote(u, p.ID, "gone soon")
	e.expect(204, "", u, "DELETE", "/notes/"+n.ID, "")
	pushHold(t, u.tenant, p.ID, n.ID)
	e.expect(204, "", u, "DELETE", "/patients/"+p.ID, "")
}

// TestNoteWithoutHoldStillCounts: notes stored before holds existed keep their patient too.
func TestNoteWithoutHoldStillCounts(t *testing.T) {
	e := newEnv(t)
	u := user{"doc-nh", uniqueTenant("unheld"), "clinician,admin"}
	p := e.createPatient(u)
	n := e.createNote(u, p.ID, "old style")
	_, err := testDB.Collection(PatientsCollection).UpdateOne(context.Background(), bson.D{{Key: "_id", Value: u.tenant + ":" + p.ID}},
		bson.D{{Key: "$unset", Value: bson.D{{Key: fieldNoteIDs, Value: ""}}}})
	if err != nil {
		t.Fatal(err)
	}
	e.expect(409, CodeHasNotes, u, "DELETE", "/patients/"+p.ID, "")
	e.expect(200, "", u, "GET", "/notes/"+n.ID, "")
}

// TestOrphanNoteIsNotServed: a live note whose patient is deleted (what the race left before the fix)
// is neither readable nor editable by its ID.
func TestOrphanNoteIsNotServed(t *testing.T) {
	e := newEnv(t)
	u := user{"doc-on", uniqueTenant("orphan"), "clinician,admin"}
	p := e.createPatient(u)
	n := e.createNote(u, p.ID, "orphan")
	_, err := testDB.Collection(PatientsCollection).UpdateOne(context.Background(), bson.D{{Key: "_id", Value: u.tenant + ":" + p.ID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "tombstone", Value: true}}}})
	if err != nil {
		t.Fatal(err)
	}
	e.expect(404, CodeNotFound, u, "GET", "/notes/"+n.ID, "")
	e.expect(404, CodeNotFound, u, "PUT", "/notes/"+n.ID, `{"text":"edit"}`)
	e.expect(404, CodeNotFound, u, "DELETE", "/notes/"+n.ID, "")
}

// TestInterruptedErasureClosesThePatient: an erasure that stopped after marking the patient hides it
// and admits no note; its retry erases the notes and the patient.
func TestInterruptedErasureClosesThePatient(t *testing.T) {
	e := newEnv(t)
	u := user{"doc-ie", uniqueTenant("erasing"), "clinician,admin"}
	dpo := user{"dpo-ie", u.tenant, "privacy-officer"}
	p := e.createPatient(u)
	n := e.createNote(u, p.ID, "to erase")
	_, err := testDB.Collection(PatientsCollection).UpdateOne(context.Background(), bson.D{{Key: "_id", Value: u.tenant + ":" + p.ID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: fieldErasing, Value: true}}}})
	if err != nil {
		t.Fatal(err)
	}
	e.expect(404, CodeNotFound, u, "GET", "/patients/"+p.ID, "")
	e.expect(404, CodeNotFound, u, "PUT", "/patients/"+p.ID, adaJSON)
	e.expect(404, CodeNotFound, u, "POST", "/patients/"+p.ID+"/notes", `{"text":"new"}`)
	e.expect(404, CodeNotFound, u, "DELETE", "/patients/"+p.ID, "")
	e.expect(204, "", dpo, "DELETE", "/subjects/"+p.ID, "")
	var d bson.M
	if err := testDB.Collection(NotesCollection).FindOne(context.Background(), bson.D{{Key: "_id", Value: u.tenant + ":" + n.ID}}).Decode(&d); err != nil {
		t.Fatal(err)
	}
	if d["erased"] != true || d["text"] != nil {
		t.Fatalf("note after the erasure: %v", d)
	}
}

// TestErasureBlocksANoteInFlight: a note held before the erasure began but not yet stored can never
// be stored after it.
func TestErasureBlocksANoteInFlight(t *testing.T) {
	e := newEnv(t)
	u := user{"doc-ef", uniqueTenant("inflight"), "clinician"}
	dpo := user{"dpo-ef", u.tenant, "privacy-officer"}
	p := e.createPatient(u)
	late := []string{NewID(), NewID(), NewID()}
	for _, id := range late {
		pushHold(t, u.tenant, p.ID, id)
	}
	e.expect(204, "", dpo, "DELETE", "/subjects/"+p.ID, "")
	for _, id := range late {
		_, err := testDB.Collection(NotesCollection).InsertOne(context.Background(),
			noteDoc{ID: u.tenant + ":" + id, TenantID: u.tenant, PatientID: p.ID, Version: 1, Text: "late"})
		if !mongo.IsDuplicateKeyError(err) {
			t.Fatalf("the late note %s's insert: %v, want a duplicate key (blocked)", id, err)
		}
	}
}

// TestBlockedCreationAnswer: a note creation whose note was blocked answers 404 when the patient is
// gone and 409 conflict (retry) while it is still there.
func TestBlockedCreationAnswer(t *testing.T) {
	e := newEnv(t)
	u := user{"doc-ba", uniqueTenant("blocked"), "clinician,admin"}
	p := e.createPatient(u)
	gone := e.createPatient(u)
	e.expect(204, "", u, "DELETE", "/patients/"+gone.ID, "")
	principal, err := tenancy.PrincipalFromClaims(u.claims())
	if err != nil {
		t.Fatal(err)
	}
	store, err := tenancy.Open(testDB, principal)
	if err != nil {
		t.Fatal(err)
	}
	rc := &reqCtx{ctx: context.Background(), store: store, principal: principal}
	rc.id = p.ID
	if err := e.h.blockedAnswer(rc); err != errNoteBlocked {
		t.Fatalf("patient still there: %v, want the 409 conflict", err)
	}
	rc.id = gone.ID
	if err := e.h.blockedAnswer(rc); err != errNotFound {
		t.Fatalf("patient gone: %v, want 404", err)
	}
}
