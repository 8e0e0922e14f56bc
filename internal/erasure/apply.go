package erasure

import (
	"context"
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

// Apply erases the subject of e in db (collection names cols) without writing an audit event: the
// erasure's event was written when it was first done and is in the ledger. The patient becomes an
// erased tombstone, its notes lose their text, the subject key is deleted. Idempotent: applying it
// again, or to a database where the patient never existed, changes nothing. The reconciler later
// purges the tombstones as usual.
func Apply(ctx context.Context, db *mongo.Database, cols Collections, e Erasure, now time.Time) (Result, error) {
	if err := e.Validate(); err != nil {
		return Result{}, err
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
	res, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: coll.DocID(e.PatientID)}, {Key: "$or", Value: notErased}},
		PatientTombstone(now))
	if err != nil {
		return Result{}, fmt.Errorf("erase patient %s/%s: %w", e.TenantID, e.PatientID, err)
	}
	notes, err := EraseData(ctx, db, cols, e.TenantID, e.PatientID)
	if err != nil {
		return Result{}, fmt.Errorf("erase data of patient %s/%s: %w", e.TenantID, e.PatientID, err)
	}
	return Result{Patient: res.ModifiedCount == 1, Notes: notes}, nil
}

// jobStore opens the tenant's store for the erasure job, so every write stays inside the tenant.
func jobStore(db *mongo.Database, tenantID string) (*tenancy.Store, error) {
	p, err := tenancy.JobPrincipal(tenantID, "erasure")
	if err != nil {
		return nil, err
	}
	return tenancy.Open(db, p)
}
