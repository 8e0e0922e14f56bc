package api

import (
	"net/http"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/access"
	"github.com/carohealth/platform/internal/audit"
)

func (h *Handler) listNotes(rc *reqCtx) (int, any, error) {
	limit, cursor, err := page(rc)
	if err != nil {
		return 0, nil, err
	}
	if _, err := h.findPatient(rc, rc.id); err != nil {
		return 0, nil, err
	}
	items, next, err := listPage(rc, NotesCollection, bson.D{{Key: "patientId", Value: rc.id}}, limit, cursor,
		func(d noteDoc) string { return d.ID }, noteDoc.api)
	if err != nil {
		return 0, nil, err
	}
	out := NoteList{Items: items, NextCursor: next}
	return http.StatusOK, out, nil
}

func (h *Handler) getNote(rc *reqCtx) (int, any, error) {
	d, err := h.findNote(rc, rc.id)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, d.api(), nil
}

func (h *Handler) createNote(rc *reqCtx) (int, any, error) {
	var in NoteInput
	if err := DecodeStrict(rc.body, &in); err != nil {
		return 0, nil, err
	}
	if err := in.Validate(); err != nil {
		return 0, nil, err
	}
	if _, err := h.findPatient(rc, rc.id); err != nil {
		return 0, nil, err
	}
	key, err := h.subjectKey(rc, rc.id)
	if err != nil {
		return 0, nil, err
	}
	now := h.now().UTC().Truncate(1e6)
	coll := rc.store.Collection(NotesCollection)
	noteID := NewID()
	d := noteDoc{ID: coll.DocID(noteID), PatientID: rc.id, Version: 1, Text: in.Text, Author: rc.principal.Subject,
		CreatedAt: now, UpdatedAt: now}
	ev := h.newEvent(rc, access.NoteCreate, "note", noteID)
	ev.SubjectRef = key.Ref(rc.principal.TenantID, rc.id)
	ev.AfterHash = key.StateHash(canonical(d.api()))
	if d.Outbox, err = audit.NewOutbox(ev); err != nil {
		return 0, nil, err
	}
	// The hold first (holds.go): from here the patient cannot be deleted until the note is.
	if err := h.holdNote(rc, rc.id, noteID); err != nil {
		return 0, nil, err
	}
	if err := coll.InsertOne(rc.ctx, d); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			// A delete or erasure of the patient blocked this note before it was stored.
			return 0, nil, h.blockedAnswer(rc)
		}
		if rerr := h.releaseNote(rc, rc.id, noteID); rerr != nil {
			h.log.Warn("note hold left after a failed insert; the patient's next delete settles it", "requestId", rc.requestID, "error", rerr.Error())
		}
		return 0, nil, err
	}
	// Settled holds are blocked before they are released, so a stored note's hold stays until the note
	// is deleted. Check it anyway: a blocker the reconciler purged could let a very late insert in.
	held, err := h.holdsNote(rc, rc.id, noteID)
	if err != nil {
		return 0, nil, err
	}
	if !held {
		if err := h.eraseNote(rc, noteID); err != nil {
			return 0, nil, err
		}
		return 0, nil, h.blockedAnswer(rc)
	}
	h.deliver(rc, NotesCollection, d.ID, ev)
	return http.StatusCreated, d.api(), nil
}

// blockedAnswer is a note creation's answer when its note could not be kept: not found when the
// patient is gone, a conflict to retry when it is still there.
func (h *Handler) blockedAnswer(rc *reqCtx) error {
	if _, err := h.findPatient(rc, rc.id); err != nil {
		return err
	}
	return errNoteBlocked
}

func (h *Handler) updateNote(rc *reqCtx) (int, any, error) {
	var in NoteInput
	if err := DecodeStrict(rc.body, &in); err != nil {
		return 0, nil, err
	}
	if err := in.Validate(); err != nil {
		return 0, nil, err
	}
	coll := rc.store.Collection(NotesCollection)
	for range updateAttempts {
		cur, err := h.findNote(rc, rc.id)
		if err != nil {
			return 0, nil, err
		}
		key, err := h.subjectKey(rc, cur.PatientID)
		if err != nil {
			return 0, nil, err
		}
		next := cur
		next.Text, next.Version, next.UpdatedAt = in.Text, cur.Version+1, h.now().UTC().Truncate(1e6)
		ev := h.newEvent(rc, access.NoteWrite, "note", rc.id)
		ev.SubjectRef = key.Ref(rc.principal.TenantID, cur.PatientID)
		ev.BeforeHash = key.StateHash(canonical(cur.api()))
		ev.AfterHash = key.StateHash(canonical(next.api()))
		applied, err := writeWithEvent(rc, coll, cur.ID, cur.Version, bson.D{
			{Key: "$set", Value: bson.D{{Key: "text", Value: next.Text}, {Key: "updatedAt", Value: next.UpdatedAt}}},
			{Key: "$inc", Value: bson.D{{Key: "version", Value: 1}}},
		}, ev)
		if err != nil {
			return 0, nil, err
		}
		if applied {
			h.deliver(rc, NotesCollection, cur.ID, ev)
			return http.StatusOK, next.api(), nil
		}
	}
	return 0, nil, errConflict
}

func (h *Handler) deleteNote(rc *reqCtx) (int, any, error) {
	coll := rc.store.Collection(NotesCollection)
	for range updateAttempts {
		cur, err := h.findNote(rc, rc.id)
		if err != nil {
			return 0, nil, err
		}
		key, err := h.subjectKey(rc, cur.PatientID)
		if err != nil {
			return 0, nil, err
		}
		ev := h.newEvent(rc, access.NoteDelete, "note", rc.id)
		ev.SubjectRef = key.Ref(rc.principal.TenantID, cur.PatientID)
		ev.BeforeHash = key.StateHash(canonical(cur.api()))
		applied, err := writeWithEvent(rc, coll, cur.ID, cur.Version, tombstone(h, "text"), ev)
		if err != nil {
			return 0, nil, err
		}
		if applied {
			// Only now may the patient let the note go (a failure here leaves a hold that the
			// patient's next delete settles).
			if err := h.releaseNote(rc, cur.PatientID, rc.id); err != nil {
				return 0, nil, err
			}
			h.deliver(rc, NotesCollection, cur.ID, ev)
			return http.StatusNoContent, nil, nil
		}
	}
	return 0, nil, errConflict
}
