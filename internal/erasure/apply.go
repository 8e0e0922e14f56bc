package erasure

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/tenancy"
)

// The API's collections that hold a subject's personal data (internal/api uses these names).
const (
	PatientsCollection = "patients"
	NotesCollection    = "notes"
)

// PatientPersonalFields are the patient document's personal fields: an erasure removes them.
var PatientPersonalFields = []string{"givenName", "familyName", "birthDate"}

// NoteTextField is the note field an erasure removes.
const NoteTextField = "text"

// FieldErased marks a document that was erased (not merely deleted).
const FieldErased = "erased"

// Collections names where one database keeps a subject's data. Live() is the running platform's;
// a restore maps them to its staging collections.
type Collections struct {
	Patients, Notes, SubjectKeys string
}

// Live returns the collection names the API uses.
func Live() Collections {
	return Collections{Patients: PatientsCollection, Notes: NotesCollection, SubjectKeys: audit.SubjectKeysCollection}
}

// Renamed returns the names mapped by f (for example to a restore's staging names).
func (c Collections) Renamed(f func(string) string) Collections {
	return Collections{Patients: f(c.Patients), Notes: f(c.Notes), SubjectKeys: f(c.SubjectKeys)}
}

// Result says what one Apply changed; all zero when the subject was already erased (or absent).
type Result struct {
	// Patient is true when the patient document still held personal data or was live.
	Patient bool
	// Notes is how many notes lost their text.
	Notes int64
	// Event is the subject:erase event written with the patient's tombstone (nil when the patient
	// was already erased or absent), or the tenant:offboard event of a tenant-level entry that
	// removed data.
	Event *audit.Written
	// Tenant is what a tenant-level entry removed (nil for a subject's erasure).
	Tenant *TenantResult
}

// EraseData erases what hangs off a patient in a tenant: every note's text (notes become erased
// tombstones; their pending audit events stay in their outboxes until published), then the subject
// key (crypto-shredding: every SubjectRef and state hash of the subject in the audit trail becomes
// unlinkable). Idempotent. The API runs it after writing the patient's tombstone with its audit
// event; Apply runs it after its own tombstone write.
func EraseData(ctx context.Context, db *mongo.Database, cols Collections, tenantID, patientID string) (notes int64, err error) {
	store, err := jobStore(db, tenantID)
	if err != nil {
		return 0, err
	}
	res, err := store.Collection(cols.Notes).UpdateMany(ctx,
		bson.D{{Key: "patientId", Value: patientID}, {Key: FieldErased, Value: bson.D{{Key: "$ne", Value: true}}}},
		bson.D{
			{Key: "$set", Value: bson.D{{Key: audit.FieldTombstone, Value: true}, {Key: FieldErased, Value: true}}},
			{Key: "$unset", Value: bson.D{{Key: NoteTextField, Value: ""}}},
		})
	if err != nil {
		return 0, fmt.Errorf("erase notes of subject: %w", err)
	}
	if err := audit.SubjectKeysIn(db.Collection(cols.SubjectKeys)).Erase(ctx, tenantID, patientID); err != nil {
		return res.ModifiedCount, err
	}
	return res.ModifiedCount, nil
}

// PatientTombstone is the update that turns a patient document into an erased tombstone: personal
// fields removed, tombstone and erased set, version bumped. The API adds its audit event to it.
func PatientTombstone(now time.Time) bson.D {
	unset := bson.D{}
	for _, f := range PatientPersonalFields {
		unset = append(unset, bson.E{Key: f, Value: ""})
	}
	return bson.D{
		{Key: "$set", Value: bson.D{{Key: audit.FieldTombstone, Value: true}, {Key: FieldErased, Value: true},
			{Key: "updatedAt", Value: now.UTC().Truncate(time.Millisecond)}}},
		{Key: "$unset", Value: unset},
		{Key: "$inc", Value: bson.D{{Key: "version", Value: 1}}},
	}
}

// ActionErase and ResourcePatient are the action and resource type of an erasure's audit event,
// the same the API's DELETE /subjects/{id} writes (access.SubjectErase).
const (
	ActionErase     = "subject:erase"
	ResourcePatient = "patient"
)

// Apply erases the subject of e in db (collection names cols): the patient becomes an erased
// tombstone, its notes lose their text, the subject key is deleted. Idempotent: applying it again,
// or to a database where the patient never existed, changes nothing. A tenant-level entry
// (e.IsTenant) erases the whole tenant instead (EraseTenant) and records it as offboarded in db.
//
// The audit rule (one event per change, none for a no-op): the update that turns a patient still
// holding personal data into an erased tombstone carries a subject:erase event of origin (tenant,
// patient ID, interface and actor of the origin, hashes keyed with the subject key while it still
// exists) in the same single-document write, like the API's erase. A patient already erased, or
// absent, gets no new event (its erasure's event was written when that change was made), so
// re-running never duplicates events. Result.Event locates the event written, if any, for inline
// delivery; the reconciler publishes it otherwise, and then purges the tombstone as usual.
func Apply(ctx context.Context, db *mongo.Database, cols Collections, e Erasure, now time.Time, origin audit.Origin) (Result, error) {
	if err := e.Validate(); err != nil {
		return Result{}, err
	}
	if err := origin.Validate(); err != nil {
		return Result{}, fmt.Errorf("erase patient %s/%s: %w", e.TenantID, e.PatientID, err)
	}
	if e.IsTenant() {
		return applyTenant(ctx, db, cols, e, now, origin)
	}
	store, err := jobStore(db, e.TenantID)
	if err != nil {
		return Result{}, err
	}
	coll := store.Collection(cols.Patients)
	// Only a document that is not yet an erased tombstone without personal fields is written, so a
	// re-run changes nothing and the count says what this run erased.
	notErased := bson.A{bson.D{{Key: FieldErased, Value: bson.D{{Key: "$ne", Value: true}}}}}
	for _, f := range PatientPersonalFields {
		notErased = append(notErased, bson.D{{Key: f, Value: bson.D{{Key: "$exists", Value: true}}}})
	}
	filter := bson.D{{Key: "_id", Value: coll.DocID(e.PatientID)}, {Key: "$or", Value: notErased}}
	var result Result
	var before patientState
	err = coll.FindOne(ctx, filter).Decode(&before)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		// Already erased or never here: nothing to write, no event.
	case err != nil:
		return Result{}, fmt.Errorf("read patient %s/%s: %w", e.TenantID, e.PatientID, err)
	default:
		ev, err := eraseEvent(ctx, db, cols, e, before, now, origin, ActionErase)
		if err != nil {
			return Result{}, err
		}
		upd, err := audit.WithEvent(PatientTombstone(now), ev)
		if err != nil {
			return Result{}, err
		}
		res, err := coll.UpdateOne(ctx, filter, upd)
		if err != nil {
			return Result{}, fmt.Errorf("erase patient %s/%s: %w", e.TenantID, e.PatientID, err)
		}
		if res.ModifiedCount == 1 {
			result.Patient = true
			result.Event = &audit.Written{Collection: cols.Patients, TenantID: e.TenantID, DocID: coll.DocID(e.PatientID), Event: ev}
		}
	}
	notes, err := EraseData(ctx, db, cols, e.TenantID, e.PatientID)
	if err != nil {
		return Result{}, fmt.Errorf("erase data of patient %s/%s: %w", e.TenantID, e.PatientID, err)
	}
	result.Notes = notes
	return result, nil
}

// Expire erases a patient whose record's retention ended (internal/retention): the same tombstone,
// note erasure and subject-key shredding as Apply, with action as its audit event's action, but
// only while the patient document still matches unchanged (the caller's conditions on top of "live,
// not erased"): a patient changed meanwhile is left alone and Result is zero. The event goes into
// the tombstone in the same update; the notes and the key follow (an interruption there is
// finished by the reconciler's purge hook, as for the API's erase).
func Expire(ctx context.Context, db *mongo.Database, cols Collections, tenantID, patientID string, now time.Time, origin audit.Origin, action string, unchanged bson.D) (Result, error) {
	e := Erasure{TenantID: tenantID, PatientID: patientID, ErasedAt: now}
	if err := e.Validate(); err != nil {
		return Result{}, err
	}
	if err := origin.Validate(); err != nil {
		return Result{}, fmt.Errorf("expire patient %s/%s: %w", tenantID, patientID, err)
	}
	store, err := jobStore(db, tenantID)
	if err != nil {
		return Result{}, err
	}
	coll := store.Collection(cols.Patients)
	filter := append(bson.D{{Key: "_id", Value: coll.DocID(patientID)}, {Key: audit.FieldTombstone, Value: bson.D{{Key: "$ne", Value: true}}}}, unchanged...)
	var before patientState
	if err := coll.FindOne(ctx, filter).Decode(&before); errors.Is(err, mongo.ErrNoDocuments) {
		return Result{}, nil
	} else if err != nil {
		return Result{}, fmt.Errorf("read patient %s/%s: %w", tenantID, patientID, err)
	}
	ev, err := eraseEvent(ctx, db, cols, e, before, now, origin, action)
	if err != nil {
		return Result{}, err
	}
	upd, err := audit.WithEvent(PatientTombstone(now), ev)
	if err != nil {
		return Result{}, err
	}
	res, err := coll.UpdateOne(ctx, filter, upd)
	if err != nil {
		return Result{}, fmt.Errorf("expire patient %s/%s: %w", tenantID, patientID, err)
	}
	if res.ModifiedCount != 1 {
		return Result{}, nil
	}
	result := Result{Patient: true, Event: &audit.Written{Collection: cols.Patients, TenantID: tenantID, DocID: coll.DocID(patientID), Event: ev}}
	if result.Notes, err = EraseData(ctx, db, cols, tenantID, patientID); err != nil {
		return result, fmt.Errorf("erase data of expired patient %s/%s: %w", tenantID, patientID, err)
	}
	return result, nil
}

// patientState is a stored patient in the API's JSON shape (internal/api Patient, same fields in
// the same order), so the before hash of a re-applied erasure is the state hash the API's last
// event of the patient has as its after hash: the hash chain of the resource continues
// (internal/backup TestRestoreWritesItsAuditEventsPendingAndTheReconcilerPublishesThemOnce checks it).
type patientState struct {
	ID         string    `bson:"-" json:"id"`
	GivenName  string    `bson:"givenName,omitempty" json:"givenName"`
	FamilyName string    `bson:"familyName,omitempty" json:"familyName"`
	BirthDate  string    `bson:"birthDate,omitempty" json:"birthDate"`
	Version    int64     `bson:"version" json:"version"`
	CreatedAt  time.Time `bson:"createdAt" json:"createdAt"`
	UpdatedAt  time.Time `bson:"updatedAt" json:"updatedAt"`
}

// eraseEvent builds the subject:erase event of a patient about to be erased. The before hash and the
// subject reference are keyed with the subject key (read before EraseData deletes it); without a key
// they are left out rather than computed unkeyed over personal data. The after hash is a plain
// SHA-256 of the tombstone's identity (tenant, patient ID, erased), which holds no personal data.
func eraseEvent(ctx context.Context, db *mongo.Database, cols Collections, e Erasure, before patientState, now time.Time, origin audit.Origin, action string) (audit.Event, error) {
	ev := origin.Event(now, e.TenantID, action, ResourcePatient, e.PatientID)
	key, err := audit.SubjectKeysIn(db.Collection(cols.SubjectKeys)).Get(ctx, e.TenantID, e.PatientID)
	switch {
	case errors.Is(err, audit.ErrSubjectKeyNotFound):
	case err != nil:
		return audit.Event{}, fmt.Errorf("erase patient %s/%s: %w", e.TenantID, e.PatientID, err)
	default:
		before.ID = e.PatientID
		before.CreatedAt, before.UpdatedAt = before.CreatedAt.UTC(), before.UpdatedAt.UTC()
		state, err := json.Marshal(before)
		if err != nil {
			return audit.Event{}, fmt.Errorf("erase patient %s/%s: encode state: %w", e.TenantID, e.PatientID, err)
		}
		ev.SubjectRef = key.Ref(e.TenantID, e.PatientID)
		ev.BeforeHash = key.StateHash(state)
	}
	after := sha256.Sum256([]byte("caro/erased-patient/v1\x00" + e.TenantID + "\x00" + e.PatientID))
	ev.AfterHash = hex.EncodeToString(after[:])
	return ev, nil
}

// jobStore opens the tenant's store for the erasure job, so every write stays inside the tenant.
func jobStore(db *mongo.Database, tenantID string) (*tenancy.Store, error) {
	p, err := tenancy.JobPrincipal(tenantID, "erasure")
	if err != nil {
		return nil, err
	}
	return tenancy.Open(db, p)
}
