package api

import (
	"errors"
	"net/http"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/erasure"
)

// Note holds keep "a patient with notes cannot be deleted" true under any interleaving of note
// creations, patient deletions and erasures, with single-document atomicity and the unique _id only
// (FerretDB has no transactions, and the design does not assume Atlas has them):
//
//   - A note's ID is put on its patient (patientDoc.NoteIDs) before the note is stored, by an update
//     that matches only a live patient no erasure has begun on; it is taken off only after the note
//     is deleted, or after the note has been made impossible to store (blocked).
//   - A patient is deleted by an update that matches only while it holds no note ID. So a note
//     stored after the patient's delete would need a hold added before the delete (then the delete
//     does not match: 409) or after it (then the hold does not match: the note is never stored).
//   - A hold whose note is not stored (a creation in flight, or one that crashed) is settled by
//     inserting a blocker, an erased tombstone with the note's _id: the unique _id then refuses the
//     note's insert forever, so the hold can go. If the note is already stored, the blocker's insert
//     fails and the note is what it is (live: the patient has notes).
//   - An erasure first sets Erasing (no new holds), blocks every hold, erases the notes, and only
//     then makes the patient an erased tombstone: an erased patient never has a live note.

// errNoteBlocked is the creation's answer when its note was blocked by a concurrent delete or erasure
// of the patient that is still in progress.
var errNoteBlocked = errorf(http.StatusConflict, CodeConflict,
	"the patient was being deleted or erased while the note was added, so the note was not stored; check the patient and retry")

// holdNote puts noteID on the live patient, before the note is stored. A patient that is gone or being
// erased is not found.
func (h *Handler) holdNote(rc *reqCtx, patientID, noteID string) error {
	coll := rc.store.Collection(PatientsCollection)
	res, err := coll.UpdateOne(rc.ctx, bson.D{{Key: "_id", Value: coll.DocID(patientID)}, live, notErasing},
		bson.D{{Key: "$push", Value: bson.D{{Key: fieldNoteIDs, Value: noteID}}}})
	if err != nil {
		return err
	}
	if res.MatchedCount != 1 {
		return errNotFound
	}
	return nil
}

// releaseNote takes noteID off the patient once the note is deleted or can no longer be stored.
func (h *Handler) releaseNote(rc *reqCtx, patientID, noteID string) error {
	coll := rc.store.Collection(PatientsCollection)
	_, err := coll.UpdateOne(rc.ctx, bson.D{{Key: "_id", Value: coll.DocID(patientID)}},
		bson.D{{Key: "$pull", Value: bson.D{{Key: fieldNoteIDs, Value: noteID}}}})
	return err
}

// holdsNote reports whether the patient is live, not being erased, and still holds noteID.
func (h *Handler) holdsNote(rc *reqCtx, patientID, noteID string) (bool, error) {
	coll := rc.store.Collection(PatientsCollection)
	n, err := coll.CountDocuments(rc.ctx, bson.D{{Key: "_id", Value: coll.DocID(patientID)}, live, notErasing,
		{Key: fieldNoteIDs, Value: noteID}})
	return n == 1, err
}

// noteHolds reads the note IDs the patient holds.
func (h *Handler) noteHolds(rc *reqCtx, patientID string) ([]string, error) {
	var d struct {
		NoteIDs []string `bson:"noteIds"`
	}
	coll := rc.store.Collection(PatientsCollection)
	err := coll.FindOne(rc.ctx, bson.D{{Key: "_id", Value: coll.DocID(patientID)}},
		options.FindOne().SetProjection(bson.D{{Key: fieldNoteIDs, Value: 1}})).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	return d.NoteIDs, err
}

// blockNote makes sure the note noteID can never be stored from now on: it inserts an erased
// tombstone with the note's _id. stored is false when that _id was free (the note had not been
// stored: now it never will be), true when a note with it exists (live or not).
func (h *Handler) blockNote(rc *reqCtx, patientID, noteID string) (stored bool, err error) {
	coll := rc.store.Collection(NotesCollection)
	d := noteDoc{ID: coll.DocID(noteID), PatientID: patientID, Erased: true, CreatedAt: h.now().UTC().Truncate(1e6)}
	d.UpdatedAt, d.Tombstone = d.CreatedAt, true
	err = coll.InsertOne(rc.ctx, d)
	if mongo.IsDuplicateKeyError(err) {
		return true, nil
	}
	return false, err
}

// settleHolds goes through the patient's holds before a delete: a hold whose note is not stored is
// blocked and released, a hold whose note is deleted is released. Holds of live notes stay (the
// delete then counts those notes).
func (h *Handler) settleHolds(rc *reqCtx, patientID string) error {
	ids, err := h.noteHolds(rc, patientID)
	if err != nil {
		return err
	}
	notes := rc.store.Collection(NotesCollection)
	for _, id := range ids {
		stored, err := h.blockNote(rc, patientID, id)
		if err != nil {
			return err
		}
		if stored {
			n, err := notes.CountDocuments(rc.ctx, bson.D{{Key: "_id", Value: notes.DocID(id)}, live})
			if err != nil {
				return err
			}
			if n > 0 {
				continue
			}
		}
		if err := h.releaseNote(rc, patientID, id); err != nil {
			return err
		}
	}
	return nil
}

// eraseNote turns one note into an erased tombstone (a note stored although its patient went).
func (h *Handler) eraseNote(rc *reqCtx, noteID string) error {
	coll := rc.store.Collection(NotesCollection)
	_, err := coll.UpdateOne(rc.ctx, bson.D{{Key: "_id", Value: coll.DocID(noteID)}}, bson.D{
		{Key: "$set", Value: bson.D{{Key: audit.FieldTombstone, Value: true}, {Key: erasure.FieldErased, Value: true}}},
		{Key: "$unset", Value: bson.D{{Key: erasure.NoteTextField, Value: ""}}},
	})
	return err
}

// emptyOfNotes is the filter part of a patient's delete: it holds no note.
var emptyOfNotes = bson.E{Key: "$or", Value: bson.A{
	bson.D{{Key: fieldNoteIDs, Value: bson.D{{Key: "$exists", Value: false}}}},
	bson.D{{Key: fieldNoteIDs, Value: bson.D{{Key: "$size", Value: 0}}}},
}}
