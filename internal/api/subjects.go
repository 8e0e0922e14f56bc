package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/access"
	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/erasure"
	"github.com/carohealth/platform/internal/maintenance"
	"github.com/carohealth/platform/internal/tenancy"
)

// exportSubject returns everything held about one patient. The export is audited before any data
// leaves: the subject:export event is written into the patient's outbox first.
func (h *Handler) exportSubject(rc *reqCtx) (int, any, error) {
	patient, err := h.findPatient(rc, rc.id)
	if err != nil {
		return 0, nil, err
	}
	key, err := h.subjectKey(rc, rc.id)
	if err != nil {
		return 0, nil, err
	}
	cur, err := rc.store.Collection(NotesCollection).Find(rc.ctx, bson.D{{Key: "patientId", Value: rc.id}, live},
		options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetProjection(projection))
	if err != nil {
		return 0, nil, err
	}
	var notes []noteDoc
	if err := cur.All(rc.ctx, &notes); err != nil {
		return 0, nil, err
	}
	out := SubjectExport{Format: ExportFormat, TenantID: rc.principal.TenantID, ExportedAt: h.now().UTC().Truncate(1e6),
		Patient: patient.api(), Notes: []Note{}}
	for _, n := range notes {
		out.Notes = append(out.Notes, n.api())
	}
	ev := h.newEvent(rc, access.SubjectExport, "patient", rc.id)
	ev.SubjectRef = key.Ref(rc.principal.TenantID, rc.id)
	// Nothing changed: before and after are the same state, the exported document.
	ev.BeforeHash = key.StateHash(canonical(out))
	ev.AfterHash = ev.BeforeHash
	upd, err := audit.WithEvent(bson.D{}, ev)
	if err != nil {
		return 0, nil, err
	}
	res, err := rc.store.Collection(PatientsCollection).UpdateOne(rc.ctx, bson.D{{Key: "_id", Value: patient.ID}, live}, upd)
	if err != nil {
		return 0, nil, err
	}
	if res.MatchedCount != 1 {
		return 0, nil, errNotFound
	}
	h.deliver(rc, PatientsCollection, patient.ID, ev)
	return http.StatusOK, out, nil
}

// eraseSubject is the right to be forgotten. In order, each step idempotent so a retry (or the
// reconciler's purge hook) finishes an interrupted erasure:
//  0. the erasure is recorded in the erasure register outside the database (Config.Erasures), so a
//     later restore of a backup or snapshot taken before it applies it again; if that fails,
//     nothing is erased and the client gets 503 to retry;
//  1. the patient is marked Erasing: no note can be added from then on, and it reads as not found;
//  2. every note hold is blocked (holds.go), so a note being added concurrently is never stored,
//     and all the patient's notes lose their text and become tombstones;
//  3. the patient becomes an erased tombstone without personal fields, and the subject:erase event
//     goes into its outbox in the same update (the event's hashes are made with the subject key
//     while it still exists);
//  4. the notes again (idempotent) and the subject key is deleted, so every SubjectRef and state
//     hash in the audit trail becomes unlinkable (crypto-shredding). The audit events themselves stay.
//
// The notes go before the patient's tombstone, so an erased patient never has a live note. Steps 2
// to 4 use internal/erasure's updates, the code restores re-apply erasures with.
func (h *Handler) eraseSubject(rc *reqCtx) (int, any, error) {
	if h.erasures == nil {
		return 0, nil, errRegisterNotConfigured
	}
	coll := rc.store.Collection(PatientsCollection)
	recorded := false
	for range updateAttempts {
		var cur patientDoc
		err := coll.FindOne(rc.ctx, bson.D{{Key: "_id", Value: coll.DocID(rc.id)}}, options.FindOne().SetProjection(projection)).Decode(&cur)
		if errors.Is(err, mongo.ErrNoDocuments) {
			return 0, nil, errNotFound
		}
		if err != nil {
			return 0, nil, err
		}
		if cur.Tombstone && !cur.Erased {
			// Deleted, not erased: nothing personal is left on it; the purge shreds the key.
			return 0, nil, errNotFound
		}
		if !recorded {
			if err := h.recordErasure(rc); err != nil {
				return 0, nil, err
			}
			recorded = true
		}
		if cur.Tombstone {
			// A repeated or interrupted erasure: finish step 4, no second event.
			if err := EraseSubjectData(rc.ctx, h.db, rc.principal.TenantID, rc.id); err != nil {
				return 0, nil, err
			}
			return http.StatusNoContent, nil, nil
		}
		key, err := h.subjectKey(rc, rc.id)
		if err != nil {
			return 0, nil, err
		}
		if err := h.closeAndEraseNotes(rc); err != nil {
			return 0, nil, err
		}
		ev := h.newEvent(rc, access.SubjectErase, "patient", rc.id)
		ev.SubjectRef = key.Ref(rc.principal.TenantID, rc.id)
		ev.BeforeHash = key.StateHash(canonical(cur.api()))
		upd, err := audit.WithEvent(erasure.PatientTombstone(h.now()), ev)
		if err != nil {
			return 0, nil, err
		}
		res, err := coll.UpdateOne(rc.ctx, bson.D{{Key: "_id", Value: cur.ID}, {Key: "version", Value: cur.Version}, live}, upd)
		if err != nil {
			return 0, nil, err
		}
		if res.MatchedCount != 1 {
			continue
		}
		if err := EraseSubjectData(rc.ctx, h.db, rc.principal.TenantID, rc.id); err != nil {
			// The erase event is stored and the patient is erased; the reconciler's purge hook
			// finishes the key. Report the fault so the client retries.
			return 0, nil, err
		}
		h.deliver(rc, PatientsCollection, cur.ID, ev)
		return http.StatusNoContent, nil, nil
	}
	return 0, nil, errConflict
}

// closeAndEraseNotes is steps 1 and 2 of an erasure: no new notes, no note in flight, every note erased.
func (h *Handler) closeAndEraseNotes(rc *reqCtx) error {
	coll := rc.store.Collection(PatientsCollection)
	if _, err := coll.UpdateOne(rc.ctx, bson.D{{Key: "_id", Value: coll.DocID(rc.id)}, live},
		bson.D{{Key: "$set", Value: bson.D{{Key: fieldErasing, Value: true}}}}); err != nil {
		return err
	}
	ids, err := h.noteHolds(rc, rc.id)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := h.blockNote(rc, rc.id, id); err != nil {
			return err
		}
	}
	_, err = rc.store.Collection(NotesCollection).UpdateMany(rc.ctx,
		bson.D{{Key: "patientId", Value: rc.id}, {Key: erasure.FieldErased, Value: bson.D{{Key: "$ne", Value: true}}}},
		bson.D{
			{Key: "$set", Value: bson.D{{Key: audit.FieldTombstone, Value: true}, {Key: erasure.FieldErased, Value: true}}},
			{Key: "$unset", Value: bson.D{{Key: erasure.NoteTextField, Value: ""}}},
		})
	return err
}

// recordErasure writes the erasure into the register. Its failure is the client's 503: nothing
// has been erased yet, and a retry records it again (harmless) before erasing.
func (h *Handler) recordErasure(rc *reqCtx) error {
	err := h.erasures.Record(rc.ctx, erasure.Erasure{TenantID: rc.principal.TenantID, PatientID: rc.id,
		ErasedAt: h.now().UTC(), RequestID: rc.requestID})
	if err != nil {
		h.log.Error("erasure register write failed; nothing erased", "requestId", rc.requestID, "fault", err.Error())
		return errRegisterUnavailable
	}
	return nil
}

// EraseSubjectData erases what hangs off a patient in a tenant of db: every note's text (notes
// become erased tombstones; their pending audit events stay until published) and then the subject
// key. Idempotent. Used by erasure and by the reconciler before it purges a patient tombstone; the
// work is internal/erasure's EraseData, the same code restores re-apply erasures with.
func EraseSubjectData(ctx context.Context, db *mongo.Database, tenantID, patientID string) error {
	_, err := erasure.EraseData(ctx, db, erasure.Live(), tenantID, patientID)
	return err
}

// NewReconciler returns the audit reconciler for the API's collections, with the purge hook that
// erases a patient's remaining notes and shreds its subject key before the tombstone goes. Like the
// API's writing routes it honours the maintenance switch: before each write it asks the switch
// (cached for maintenance.GateTTL) and stops while it is on or cannot be read; each write runs
// within maintenance.WriteWindow, so none outlives the restore's maintenance.Settle.
func NewReconciler(db *mongo.Database, pub audit.Publisher) *audit.Reconciler {
	gate := &maintenance.Gate{DB: db}
	return &audit.Reconciler{
		DB: db, Publisher: pub, Collections: OutboxCollections,
		Paused: gate.Check, WriteWindow: maintenance.WriteWindow,
		BeforePurge: func(ctx context.Context, collection, tenantID string, docID any) error {
			if collection != PatientsCollection {
				return nil
			}
			s, _ := docID.(string)
			t, id, ok := tenancy.SplitDocID(s)
			if !ok || t != tenantID {
				return fmt.Errorf("patient tombstone with a malformed _id")
			}
			return EraseSubjectData(ctx, db, tenantID, id)
		},
	}
}
