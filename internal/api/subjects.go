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
//  1. the patient becomes an erased tombstone without personal fields, and the subject:erase event
//     goes into its outbox in the same update (the event's hashes are made with the subject key
//     while it still exists);
//  2. all the patient's notes lose their text and become tombstones (their own pending events stay
//     in their outboxes until published);
//  3. the subject key is deleted, so every SubjectRef and state hash in the audit trail becomes
//     unlinkable (crypto-shredding). The audit events themselves stay.
func (h *Handler) eraseSubject(rc *reqCtx) (int, any, error) {
	coll := rc.store.Collection(PatientsCollection)
	for range updateAttempts {
		var cur patientDoc
		err := coll.FindOne(rc.ctx, bson.D{{Key: "_id", Value: coll.DocID(rc.id)}}, options.FindOne().SetProjection(projection)).Decode(&cur)
		if errors.Is(err, mongo.ErrNoDocuments) {
			return 0, nil, errNotFound
		}
		if err != nil {
			return 0, nil, err
		}
		if cur.Tombstone {
			if !cur.Erased {
				// Deleted, not erased: nothing personal is left on it; the purge shreds the key.
				return 0, nil, errNotFound
			}
			// A repeated or interrupted erasure: finish steps 2 and 3, no second event.
			if err := EraseSubjectData(rc.ctx, rc.store, h.keys, rc.id); err != nil {
				return 0, nil, err
			}
			return http.StatusNoContent, nil, nil
		}
		key, err := h.subjectKey(rc, rc.id)
		if err != nil {
			return 0, nil, err
		}
		ev := h.newEvent(rc, access.SubjectErase, "patient", rc.id)
		ev.SubjectRef = key.Ref(rc.principal.TenantID, rc.id)
		ev.BeforeHash = key.StateHash(canonical(cur.api()))
		upd := tombstone(h, "givenName", "familyName", "birthDate")
		upd[0].Value = append(upd[0].Value.(bson.D), bson.E{Key: "erased", Value: true})
		applied, err := writeWithEvent(rc, coll, cur.ID, cur.Version, upd, ev)
		if err != nil {
			return 0, nil, err
		}
		if !applied {
			continue
		}
		if err := EraseSubjectData(rc.ctx, rc.store, h.keys, rc.id); err != nil {
			// The erase event is stored and the patient is erased; the reconciler's purge hook
			// finishes the notes and the key. Report the fault so the client retries.
			return 0, nil, err
		}
		h.deliver(rc, PatientsCollection, cur.ID, ev)
		return http.StatusNoContent, nil, nil
	}
	return 0, nil, errConflict
}

// EraseSubjectData erases what hangs off a patient in the store's tenant: every note's text (notes
// become erased tombstones; their pending audit events stay until published) and then the subject
// key. Idempotent. Used by erasure and by the reconciler before it purges a patient tombstone.
func EraseSubjectData(ctx context.Context, store *tenancy.Store, keys *audit.SubjectKeys, patientID string) error {
	_, err := store.Collection(NotesCollection).UpdateMany(ctx,
		bson.D{{Key: "patientId", Value: patientID}, {Key: "erased", Value: bson.D{{Key: "$ne", Value: true}}}},
		bson.D{
			{Key: "$set", Value: bson.D{{Key: audit.FieldTombstone, Value: true}, {Key: "erased", Value: true}}},
			{Key: "$unset", Value: bson.D{{Key: "text", Value: ""}}},
		})
	if err != nil {
		return fmt.Errorf("erase notes of subject: %w", err)
	}
	return keys.Erase(ctx, store.TenantID(), patientID)
}

// NewReconciler returns the audit reconciler for the API's collections, with the purge hook that
// erases a patient's remaining notes and shreds its subject key before the tombstone goes.
func NewReconciler(db *mongo.Database, pub audit.Publisher) *audit.Reconciler {
	keys := audit.NewSubjectKeys(db)
	return &audit.Reconciler{
		DB: db, Publisher: pub, Collections: OutboxCollections,
		BeforePurge: func(ctx context.Context, collection, tenantID string, docID any) error {
			if collection != PatientsCollection {
				return nil
			}
			s, _ := docID.(string)
			t, id, ok := tenancy.SplitDocID(s)
			if !ok || t != tenantID {
				return fmt.Errorf("patient tombstone with a malformed _id")
			}
			p, err := tenancy.JobPrincipal(tenantID, "audit-purge")
			if err != nil {
				return err
			}
			store, err := tenancy.Open(db, p)
			if err != nil {
				return err
			}
			return EraseSubjectData(ctx, store, keys, id)
		},
	}
}
