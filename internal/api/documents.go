package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/access"
	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/erasure"
	"github.com/carohealth/platform/internal/maintenance"
	"github.com/carohealth/platform/internal/tenancy"
)

// Collections of the API. Both carry an outbox (audit.Outbox); the reconciler scans them.
const (
	PatientsCollection = erasure.PatientsCollection
	NotesCollection    = erasure.NotesCollection
)

// OutboxCollections are the collections whose documents carry audit outboxes: the API's, and the
// restore log (audit.PlatformOutboxCollection), where a restore run by the CLI or the failover
// writes its backup:restore event (tenant audit.PlatformTenant). Erasures re-applied by a restore
// or `caro gdpr reapply` write theirs into the patients' tombstones, like the API's erase.
var OutboxCollections = []string{PatientsCollection, NotesCollection, audit.PlatformOutboxCollection}

// Pagination bounds of the list routes.
const (
	DefaultPageSize = 50
	MaxPageSize     = 100
)

// updateAttempts bounds the optimistic-concurrency retries of one change.
const updateAttempts = 3

// patientDoc is a stored patient. Personal fields are removed ($unset) when the patient is deleted
// or erased; the remaining tombstone only carries the outbox until the reconciler purges it.
type patientDoc struct {
	// ID is the stored _id, "<tenant>:<patient id>" (tenancy.Collection.DocID).
	ID         string    `bson:"_id"`
	TenantID   string    `bson:"tenantId,omitempty"`
	Version    int64     `bson:"version"`
	GivenName  string    `bson:"givenName,omitempty"`
	FamilyName string    `bson:"familyName,omitempty"`
	BirthDate  string    `bson:"birthDate,omitempty"`
	CreatedAt  time.Time `bson:"createdAt"`
	UpdatedAt  time.Time `bson:"updatedAt"`
	Erased     bool      `bson:"erased,omitempty"`
	// NoteIDs holds the ID of every note of the patient that is not deleted, from before the note is
	// stored until after it is deleted (see notes.go: holds). A patient is deleted only while it is
	// empty, in the same single-document update, which is what makes "a patient with notes cannot be
	// deleted" hold against concurrent note creations without a transaction.
	NoteIDs []string `bson:"noteIds,omitempty"`
	// Erasing is set first by an erasure: from then on no note can be added, and the patient reads
	// as not found; the erasure then erases the notes and makes the patient an erased tombstone.
	Erasing      bool `bson:"erasing,omitempty"`
	audit.Outbox `bson:",inline"`
}

// publicID is the resource ID part of a stored _id.
func publicID(docID string) string {
	_, id, _ := tenancy.SplitDocID(docID)
	return id
}

func (d patientDoc) api() Patient {
	return Patient{ID: publicID(d.ID), GivenName: d.GivenName, FamilyName: d.FamilyName, BirthDate: d.BirthDate,
		Version: d.Version, CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC()}
}

// noteDoc is a stored care note.
type noteDoc struct {
	// ID is the stored _id, "<tenant>:<note id>".
	ID       string `bson:"_id"`
	TenantID string `bson:"tenantId,omitempty"`
	// PatientID is the patient's resource ID (not its stored _id).
	PatientID    string    `bson:"patientId"`
	Version      int64     `bson:"version"`
	Text         string    `bson:"text,omitempty"`
	Author       string    `bson:"author,omitempty"`
	CreatedAt    time.Time `bson:"createdAt"`
	UpdatedAt    time.Time `bson:"updatedAt"`
	Erased       bool      `bson:"erased,omitempty"`
	audit.Outbox `bson:",inline"`
}

func (d noteDoc) api() Note {
	return Note{ID: publicID(d.ID), PatientID: d.PatientID, Text: d.Text, Author: d.Author, Version: d.Version,
		CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC()}
}

// live is the filter part that hides tombstones from every read.
var live = bson.E{Key: audit.FieldTombstone, Value: bson.D{{Key: "$ne", Value: true}}}

// projection keeps the outbox out of reads: it is bookkeeping, not resource state.
// The note holds are bookkeeping too, and may be long.
var projection = bson.D{{Key: audit.FieldOutbox, Value: 0}, {Key: fieldNoteIDs, Value: 0}}

// Fields of the note holds on a patient (patientDoc.NoteIDs, patientDoc.Erasing).
const (
	fieldNoteIDs = "noteIds"
	fieldErasing = "erasing"
)

// EnsureIndexes creates the API's indexes (each starting with the tenant, plus the reconciler's
// pending index) and the subject key index. Idempotent; call it at process start. Creating an index
// creates its collection, so while the maintenance switch is on (a restore may be between moving a
// collection aside and renaming the restored one into its place) it creates nothing and returns an
// error wrapping maintenance.ErrOn; otherwise it runs within maintenance.WriteWindow.
func (h *Handler) EnsureIndexes(ctx context.Context) error {
	if err := h.gate.Check(ctx); err != nil {
		return fmt.Errorf("api: indexes not created: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, maintenance.WriteWindow)
	defer cancel()
	if err := h.ensureIndexes(ctx); err != nil {
		return err
	}
	h.indexed.Store(true)
	return nil
}

func (h *Handler) ensureIndexes(ctx context.Context) error {
	if err := tenancy.EnsureIndexes(ctx, h.db, PatientsCollection,
		tenancy.Index{Name: "patients_tenant_id", Keys: bson.D{{Key: "_id", Value: 1}}}); err != nil {
		return err
	}
	if err := tenancy.EnsureIndexes(ctx, h.db, NotesCollection,
		tenancy.Index{Name: "notes_tenant_patient_id", Keys: bson.D{{Key: "patientId", Value: 1}, {Key: "_id", Value: 1}}}); err != nil {
		return err
	}
	for _, c := range OutboxCollections {
		if _, err := h.db.Collection(c).Indexes().CreateOne(ctx, audit.PendingIndex()); err != nil {
			return fmt.Errorf("create outbox index on %s: %w", c, err)
		}
	}
	return h.keys.EnsureIndexes(ctx)
}

// canonical is the state a hash covers: the resource as the API returns it (fixed field order).
func canonical(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("api: canonical state: %v", err))
	}
	return b
}

// newEvent builds the audit event of one change in this request.
func (h *Handler) newEvent(rc *reqCtx, action access.Action, resourceType, resourceID string) audit.Event {
	ev := audit.NewEvent(h.now())
	ev.Actor = rc.principal.Subject
	ev.TenantID = rc.principal.TenantID
	ev.Action = string(action)
	ev.ResourceType = resourceType
	ev.ResourceID = resourceID
	ev.Interface = audit.InterfaceAPI
	ev.RequestID = rc.requestID
	return ev
}

// deliver publishes ev inline when a publisher is configured. Failure is not the client's problem:
// the event is safe in the outbox and the reconciler publishes it.
func (h *Handler) deliver(rc *reqCtx, collection, docID string, ev audit.Event) {
	if h.pub == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(rc.ctx), 3*time.Second)
	defer cancel()
	if err := audit.Deliver(ctx, h.pub, h.db.Collection(collection), rc.principal.TenantID, docID, ev); err != nil {
		h.log.Warn("audit event left for the reconciler", "requestId", rc.requestID, "eventId", ev.ID, "error", err.Error())
	}
}

// subjectKey returns the patient's subject key; a missing key means the subject is being erased,
// which the client sees as not found.
func (h *Handler) subjectKey(rc *reqCtx, patientID string) (audit.SubjectKey, error) {
	k, err := h.keys.Get(rc.ctx, rc.principal.TenantID, patientID)
	if errors.Is(err, audit.ErrSubjectKeyNotFound) {
		return k, errNotFound
	}
	return k, err
}

// findPatient reads a live patient by resource ID. The lookup is by the tenant-prefixed _id alone
// (tenant-scoped by its key, and answered from the primary key even by FerretDB); tombstones are
// filtered here.
func (h *Handler) findPatient(rc *reqCtx, id string) (patientDoc, error) {
	var d patientDoc
	coll := rc.store.Collection(PatientsCollection)
	err := coll.FindOne(rc.ctx, bson.D{{Key: "_id", Value: coll.DocID(id)}},
		options.FindOne().SetProjection(projection)).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) || (err == nil && (d.Tombstone || d.Erasing)) {
		return patientDoc{}, errNotFound
	}
	return d, err
}

// findNote reads a live note by resource ID, like findPatient, and only while its patient is live:
// a note whose patient is deleted or being erased is not found (notes stored before the note holds
// existed could outlive their patient).
func (h *Handler) findNote(rc *reqCtx, id string) (noteDoc, error) {
	var d noteDoc
	coll := rc.store.Collection(NotesCollection)
	err := coll.FindOne(rc.ctx, bson.D{{Key: "_id", Value: coll.DocID(id)}},
		options.FindOne().SetProjection(projection)).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) || (err == nil && d.Tombstone) {
		return noteDoc{}, errNotFound
	}
	if err != nil {
		return noteDoc{}, err
	}
	if _, err := h.findPatient(rc, d.PatientID); err != nil {
		return noteDoc{}, err
	}
	return d, nil
}

// page reads limit and cursor of a list route.
func page(rc *reqCtx) (int64, string, error) {
	limit := int64(DefaultPageSize)
	if s, ok := rc.query["limit"]; ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxPageSize {
			return 0, "", errorf(http.StatusBadRequest, CodeInvalidQuery, "limit must be a whole number from 1 to %d", MaxPageSize)
		}
		limit = int64(n)
	}
	cursor, ok := rc.query["cursor"]
	if ok && !ValidID(cursor) {
		return 0, "", errorf(http.StatusBadRequest, CodeInvalidQuery, "cursor must be the nextCursor of a previous page")
	}
	return limit, cursor, nil
}

// listPage reads one page of a tenant-scoped list (filter narrows it, cursor continues it) and
// returns the page in its API shape with the cursor of the next page, empty after the last.
// listFilter asks for limit+1 documents, so a full page knows whether another follows.
func listPage[D any, T any](rc *reqCtx, collection string, filter bson.D, limit int64, cursor string,
	docID func(D) string, toAPI func(D) T) ([]T, string, error) {
	coll := rc.store.Collection(collection)
	f, opts := listFilter(coll, filter, limit, cursor)
	cur, err := coll.Find(rc.ctx, f, opts)
	if err != nil {
		return nil, "", err
	}
	var docs []D
	if err := cur.All(rc.ctx, &docs); err != nil {
		return nil, "", err
	}
	items, next := []T{}, ""
	for i, d := range docs {
		if int64(i) == limit {
			next = publicID(docID(docs[i-1]))
			break
		}
		items = append(items, toAPI(d))
	}
	return items, next, nil
}

// listFilter returns the filter and options of one page, ordered by ID (stable: IDs never change;
// within one tenant the _id order is the resource ID order).
func listFilter(coll *tenancy.Collection, base bson.D, limit int64, cursor string) (bson.D, *options.FindOptionsBuilder) {
	f := append(bson.D{}, base...)
	f = append(f, live)
	if cursor != "" {
		f = append(f, bson.E{Key: "_id", Value: bson.D{{Key: "$gt", Value: coll.DocID(cursor)}}})
	}
	return f, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(limit + 1).SetProjection(projection)
}

// writeWithEvent applies update to the document together with its audit event (the outbox: one
// single-document write), but only while the document is still at the version it was read at.
// applied is false when someone changed it first: re-read and retry.
func writeWithEvent(rc *reqCtx, coll *tenancy.Collection, docID string, version int64, update bson.D, ev audit.Event) (applied bool, err error) {
	upd, err := audit.WithEvent(update, ev)
	if err != nil {
		return false, err
	}
	res, err := coll.UpdateOne(rc.ctx, atVersion(docID, version), upd)
	if err != nil {
		return false, err
	}
	return res.MatchedCount == 1, nil
}

// version filter part for optimistic concurrency: the change applies only to the state it was
// computed from, so the before-hash in the event is exact.
func atVersion(docID string, v int64) bson.D {
	return bson.D{{Key: "_id", Value: docID}, {Key: "version", Value: v}, live, notErasing}
}

// notErasing is the filter part that keeps a patient an erasure has begun from changing (notes have
// no such field, so it matches them).
var notErasing = bson.E{Key: fieldErasing, Value: bson.D{{Key: "$ne", Value: true}}}

var errConflict = errorf(http.StatusConflict, CodeConflict, "the resource changed while your request ran; retry it")
