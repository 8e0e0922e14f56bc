package api

import (
	"net/http"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/carohealth/platform/internal/access"
	"github.com/carohealth/platform/internal/audit"
)

func (h *Handler) listPatients(rc *reqCtx) (int, any, error) {
	limit, cursor, err := page(rc)
	if err != nil {
		return 0, nil, err
	}
	items, next, err := listPage(rc, PatientsCollection, nil, limit, cursor,
		func(d patientDoc) string { return d.ID }, patientDoc.api)
	if err != nil {
		return 0, nil, err
	}
	out := PatientList{Items: items, NextCursor: next}
	return http.StatusOK, out, nil
}

func (h *Handler) getPatient(rc *reqCtx) (int, any, error) {
	d, err := h.findPatient(rc, rc.id)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, d.api(), nil
}

func (h *Handler) createPatient(rc *reqCtx) (int, any, error) {
	var in PatientInput
	if err := DecodeStrict(rc.body, &in); err != nil {
		return 0, nil, err
	}
	now := h.now().UTC().Truncate(1e6)
	if err := in.Validate(now); err != nil {
		return 0, nil, err
	}
	// The key first: a patient never exists without the key its audit references are made with.
	// The pool stores keys for several future patients at once.
	id, key, err := h.pool.take(rc.ctx, rc.principal.TenantID)
	if err != nil {
		return 0, nil, err
	}
	coll := rc.store.Collection(PatientsCollection)
	d := patientDoc{ID: coll.DocID(id), Version: 1, GivenName: in.GivenName, FamilyName: in.FamilyName, BirthDate: in.BirthDate,
		CreatedAt: now, UpdatedAt: now}
	ev := h.newEvent(rc, access.PatientWrite, "patient", id)
	ev.SubjectRef = key.Ref(rc.principal.TenantID, id)
	ev.AfterHash = key.StateHash(canonical(d.api()))
	if d.Outbox, err = audit.NewOutbox(ev); err != nil {
		return 0, nil, err
	}
	if err := coll.InsertOne(rc.ctx, d); err != nil {
		return 0, nil, err
	}
	h.deliver(rc, PatientsCollection, d.ID, ev)
	return http.StatusCreated, d.api(), nil
}

func (h *Handler) updatePatient(rc *reqCtx) (int, any, error) {
	var in PatientInput
	if err := DecodeStrict(rc.body, &in); err != nil {
		return 0, nil, err
	}
	if err := in.Validate(h.now()); err != nil {
		return 0, nil, err
	}
	coll := rc.store.Collection(PatientsCollection)
	for range updateAttempts {
		cur, err := h.findPatient(rc, rc.id)
		if err != nil {
			return 0, nil, err
		}
		pid := publicID(cur.ID)
		key, err := h.subjectKey(rc, pid)
		if err != nil {
			return 0, nil, err
		}
		next := cur
		next.GivenName, next.FamilyName, next.BirthDate = in.GivenName, in.FamilyName, in.BirthDate
		next.Version = cur.Version + 1
		next.UpdatedAt = h.now().UTC().Truncate(1e6)
		ev := h.newEvent(rc, access.PatientWrite, "patient", pid)
		ev.SubjectRef = key.Ref(rc.principal.TenantID, pid)
		ev.BeforeHash = key.StateHash(canonical(cur.api()))
		ev.AfterHash = key.StateHash(canonical(next.api()))
		applied, err := writeWithEvent(rc, coll, cur.ID, cur.Version, bson.D{
			{Key: "$set", Value: bson.D{{Key: "givenName", Value: next.GivenName}, {Key: "familyName", Value: next.FamilyName},
				{Key: "birthDate", Value: next.BirthDate}, {Key: "updatedAt", Value: next.UpdatedAt}}},
			{Key: "$inc", Value: bson.D{{Key: "version", Value: 1}}},
		}, ev)
		if err != nil {
			return 0, nil, err
		}
		if applied {
			h.deliver(rc, PatientsCollection, cur.ID, ev)
			return http.StatusOK, next.api(), nil
		}
	}
	return 0, nil, errConflict
}

// deletePatient tombstones the patient: personal fields are removed and the delete event is stored
// in the same update; the reconciler purges the tombstone (and shreds the subject key) once the event
// is published. A patient with notes is refused: delete the notes or erase the subject.
func (h *Handler) deletePatient(rc *reqCtx) (int, any, error) {
	coll := rc.store.Collection(PatientsCollection)
	for range updateAttempts {
		cur, err := h.findPatient(rc, rc.id)
		if err != nil {
			return 0, nil, err
		}
		// Holds of notes that are not stored or already deleted go first (holds.go); then the live
		// notes are counted, held ones and those stored before note holds existed alike.
		if err := h.settleHolds(rc, rc.id); err != nil {
			return 0, nil, err
		}
		n, err := rc.store.Collection(NotesCollection).CountDocuments(rc.ctx, bson.D{{Key: "patientId", Value: rc.id}, live})
		if err != nil {
			return 0, nil, err
		}
		if n > 0 {
			return 0, nil, errorf(http.StatusConflict, CodeHasNotes,
				"the patient has %d care notes; delete them first, or erase the subject with DELETE /subjects/{id}", n)
		}
		pid := publicID(cur.ID)
		key, err := h.subjectKey(rc, pid)
		if err != nil {
			return 0, nil, err
		}
		ev := h.newEvent(rc, access.PatientDelete, "patient", pid)
		ev.SubjectRef = key.Ref(rc.principal.TenantID, pid)
		ev.BeforeHash = key.StateHash(canonical(cur.api()))
		// Applies only while the patient holds no note: a note added since is a hold, and then
		// this update does not match and the loop looks again.
		upd, err := audit.WithEvent(tombstone(h, "givenName", "familyName", "birthDate"), ev)
		if err != nil {
			return 0, nil, err
		}
		res, err := coll.UpdateOne(rc.ctx, append(atVersion(cur.ID, cur.Version), emptyOfNotes), upd)
		if err != nil {
			return 0, nil, err
		}
		if res.MatchedCount == 1 {
			h.deliver(rc, PatientsCollection, cur.ID, ev)
			return http.StatusNoContent, nil, nil
		}
	}
	return 0, nil, errConflict
}

// tombstone is the update that turns a document into a tombstone without the given data fields.
func tombstone(h *Handler, fields ...string) bson.D {
	unset := bson.D{}
	for _, f := range fields {
		unset = append(unset, bson.E{Key: f, Value: ""})
	}
	return bson.D{
		{Key: "$set", Value: bson.D{{Key: audit.FieldTombstone, Value: true}, {Key: "updatedAt", Value: h.now().UTC().Truncate(1e6)}}},
		{Key: "$unset", Value: unset},
		{Key: "$inc", Value: bson.D{{Key: "version", Value: 1}}},
	}
}
