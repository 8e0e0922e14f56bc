package erasure

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/tenancy"
	"github.com/carohealth/platform/internal/tenant/status"
)

// ActionOffboard and ResourceTenant are the action and resource type of a tenant's offboarding
// event: the one event `caro tenant delete` writes, and the one a restore writes when re-applying
// the tenant-level entry removed data again.
const (
	ActionOffboard = "tenant:offboard"
	ResourceTenant = "tenant"
)

// DefaultTenantBatch is how many documents EraseTenant reads and deletes per round trip: the
// memory it holds at once, whatever the tenant's size.
const DefaultTenantBatch = 500

// Steps of EraseTenant, as its progress names them.
const (
	StepSubjectKeys = "subject-keys"
	StepNotes       = "notes"
	StepPatients    = "patients"
)

// TenantOptions configure EraseTenant.
type TenantOptions struct {
	// BatchSize bounds the documents read and deleted per round trip (default DefaultTenantBatch).
	BatchSize int
	// Progress, when set, is told after every batch what a step has done so far (step is one of
	// StepSubjectKeys, StepNotes, StepPatients).
	Progress func(step string, done int64)
	// Continue, when set, is asked before every batch; an error stops the erasure there (it is
	// returned wrapped). The offboarding stops when a restore turns the maintenance switch on.
	Continue func(ctx context.Context) error
	// Skip names steps already done (a resumed offboarding's journal): they are not run again.
	Skip map[string]bool
}

// TenantResult is what EraseTenant removed.
type TenantResult struct {
	// SubjectKeys is how many subject keys were deleted (crypto-shredded).
	SubjectKeys int64 `json:"subjectKeys"`
	// Patients and Notes are how many documents were deleted.
	Patients int64 `json:"patients"`
	Notes    int64 `json:"notes"`
	// CarriedEvents is how many audit events still pending in the deleted documents were moved to
	// the platform outbox (audit.PlatformOutboxCollection), where the reconciler publishes them.
	CarriedEvents int64 `json:"carriedEvents"`
}

// Changed reports whether anything was removed.
func (r TenantResult) Changed() bool { return r.SubjectKeys+r.Patients+r.Notes > 0 }

func (r *TenantResult) add(o TenantResult) {
	r.SubjectKeys += o.SubjectKeys
	r.Patients += o.Patients
	r.Notes += o.Notes
	r.CarriedEvents += o.CarriedEvents
}

// EraseTenant removes a whole tenant from the collections cols of db, batch by batch:
//
//  1. every subject key of the tenant is deleted by the subject-key store that the single-subject
//     erasure shreds with (audit.SubjectKeys, a batch per round trip): from then on no SubjectRef or state hash of any of the tenant's
//     patients in the audit trail can be linked to anyone, whatever happens to the documents;
//  2. every note, then every patient document of the tenant is deleted. Audit events still pending
//     in their outboxes are first moved to the platform outbox (one document per deleted document,
//     written once), so no audit record is dropped.
//
// It holds at most BatchSize documents at a time, and it is idempotent and resumable: each batch
// deletes what is left, so after an interruption a second run finishes without redoing or missing
// anything. It writes no audit event (the caller writes one for the whole tenant) and does not
// touch the audit ledger, whose entries hold no personal data and are crypto-shredded by step 1.
func EraseTenant(ctx context.Context, db *mongo.Database, cols Collections, tenantID string, o TenantOptions) (TenantResult, error) {
	if !tenancy.ValidTenantID(tenantID) {
		return TenantResult{}, fmt.Errorf("erase tenant: tenant ID %q is not valid", tenantID)
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultTenantBatch
	}
	var res TenantResult
	if !o.Skip[StepSubjectKeys] {
		n, err := shredTenantKeys(ctx, db.Collection(cols.SubjectKeys), tenantID, o)
		res.SubjectKeys = n
		if err != nil {
			return res, err
		}
	}
	outbox := db.Collection(audit.PlatformOutboxCollection)
	for _, c := range []struct {
		step string
		name string
		n    *int64
	}{{StepNotes, cols.Notes, &res.Notes}, {StepPatients, cols.Patients, &res.Patients}} {
		if o.Skip[c.step] {
			continue
		}
		deleted, carried, err := deleteTenantDocs(ctx, db.Collection(c.name), outbox, tenantID, c.step, o)
		*c.n, res.CarriedEvents = deleted, res.CarriedEvents+carried
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

func (o TenantOptions) next(ctx context.Context, step string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if o.Continue == nil {
		return nil
	}
	if err := o.Continue(ctx); err != nil {
		return fmt.Errorf("stopped before the next batch of %s: %w", step, err)
	}
	return nil
}

func (o TenantOptions) report(step string, done int64) {
	if o.Progress != nil {
		o.Progress(step, done)
	}
}

// shredTenantKeys deletes the tenant's subject keys a batch at a time (SubjectKeys.EraseMany).
func shredTenantKeys(ctx context.Context, coll *mongo.Collection, tenantID string, o TenantOptions) (int64, error) {
	keys := audit.SubjectKeysIn(coll)
	var done int64
	for {
		if err := o.next(ctx, StepSubjectKeys); err != nil {
			return done, err
		}
		cur, err := coll.Find(ctx, bson.D{{Key: "tenantId", Value: tenantID}},
			options.Find().SetProjection(bson.D{{Key: "subjectId", Value: 1}}).SetLimit(int64(o.BatchSize)))
		if err != nil {
			return done, fmt.Errorf("list subject keys of tenant %s: %w", tenantID, err)
		}
		var batch []struct {
			SubjectID string `bson:"subjectId"`
		}
		if err := cur.All(ctx, &batch); err != nil {
			return done, fmt.Errorf("list subject keys of tenant %s: %w", tenantID, err)
		}
		if len(batch) == 0 {
			return done, nil
		}
		ids := make([]string, 0, len(batch))
		malformed := false
		for _, k := range batch {
			if k.SubjectID == "" {
				malformed = true
				continue
			}
			ids = append(ids, k.SubjectID)
		}
		if malformed {
			// A key document without a subject names no one; delete it so the loop ends.
			if _, err := coll.DeleteMany(ctx, bson.D{{Key: "tenantId", Value: tenantID}, {Key: "subjectId", Value: bson.D{{Key: "$in", Value: bson.A{"", nil}}}}}); err != nil {
				return done, fmt.Errorf("erase subject keys of tenant %s: %w", tenantID, err)
			}
		}
		n, err := keys.EraseMany(ctx, tenantID, ids)
		if err != nil {
			return done, fmt.Errorf("erase subject keys of tenant %s: %w", tenantID, err)
		}
		done += n
		o.report(StepSubjectKeys, done)
	}
}

// tenantDoc is what EraseTenant reads of a document it deletes: its ID and pending events.
type tenantDoc struct {
	ID      any                 `bson:"_id"`
	Events  audit.PendingEvents `bson:"outbox,omitempty"`
	Pending int                 `bson:"outboxPending,omitempty"`
}

// deleteTenantDocs deletes the tenant's documents of coll a batch at a time, carrying pending audit
// events to outbox first. It returns the documents deleted and the events carried.
func deleteTenantDocs(ctx context.Context, coll, outbox *mongo.Collection, tenantID, step string, o TenantOptions) (deleted, carried int64, err error) {
	for {
		if err := o.next(ctx, step); err != nil {
			return deleted, carried, err
		}
		cur, err := coll.Find(ctx, bson.D{{Key: "tenantId", Value: tenantID}},
			options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}, {Key: audit.FieldOutbox, Value: 1}, {Key: audit.FieldPending, Value: 1}}).
				SetLimit(int64(o.BatchSize)))
		if err != nil {
			return deleted, carried, fmt.Errorf("list %s of tenant %s: %w", coll.Name(), tenantID, err)
		}
		var batch []tenantDoc
		if err := cur.All(ctx, &batch); err != nil {
			return deleted, carried, fmt.Errorf("list %s of tenant %s: %w", coll.Name(), tenantID, err)
		}
		if len(batch) == 0 {
			return deleted, carried, nil
		}
		ids := make(bson.A, 0, len(batch))
		for _, d := range batch {
			if len(d.Events) > 0 {
				n, err := carryEvents(ctx, outbox, coll.Name(), d)
				if err != nil {
					return deleted, carried, err
				}
				carried += n
			}
			ids = append(ids, d.ID)
		}
		unlock := tenancy.WriteLock(coll.Name())
		res, err := coll.DeleteMany(ctx, bson.D{{Key: "tenantId", Value: tenantID}, {Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}})
		unlock()
		if err != nil {
			return deleted, carried, fmt.Errorf("delete %s of tenant %s: %w", coll.Name(), tenantID, err)
		}
		deleted += res.DeletedCount
		o.report(step, deleted)
	}
}

// CarriedPrefix starts the _id of a platform-outbox document holding the events that were pending
// in a document EraseTenant deleted: carried:<collection>:<document _id>.
const CarriedPrefix = "carried:"

// carryEvents writes d's pending events into one platform-outbox document of its own, once: a
// second run (after a crash between the carry and the delete) finds it and changes nothing.
func carryEvents(ctx context.Context, outbox *mongo.Collection, collection string, d tenantDoc) (int64, error) {
	id := fmt.Sprintf("%s%s:%v", CarriedPrefix, collection, d.ID)
	res, err := outbox.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}},
		bson.D{{Key: "$setOnInsert", Value: bson.D{{Key: "tenantId", Value: audit.PlatformTenant},
			{Key: audit.FieldOutbox, Value: d.Events}, {Key: audit.FieldPending, Value: len(d.Events)}}}},
		options.UpdateOne().SetUpsert(true))
	if mongo.IsDuplicateKeyError(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("keep the %d pending audit events of %s %v before deleting it: %w", len(d.Events), collection, d.ID, err)
	}
	return res.UpsertedCount * int64(len(d.Events)), nil
}

// TenantEvent returns the tenant:offboard event of origin for tenantID. Its after hash is a
// SHA-256 over summary (the caller's canonical summary: counts and IDs, no personal data), or over
// the tenant's identity when summary is empty; there is no before hash.
func TenantEvent(origin audit.Origin, tenantID string, now time.Time, summary []byte) audit.Event {
	ev := origin.Event(now, tenantID, ActionOffboard, ResourceTenant, tenantID)
	if len(summary) == 0 {
		summary = []byte("caro/offboarded-tenant/v1\x00" + tenantID)
	}
	sum := sha256.Sum256(summary)
	ev.AfterHash = hex.EncodeToString(sum[:])
	return ev
}

// RecordTenantEvent stores ev in the platform outbox as the document docID (created with the event,
// or the event added once to an existing one), so the reconciler publishes it; fields are set on
// the document too (IDs and counts only). A second call with the same event changes nothing.
func RecordTenantEvent(ctx context.Context, db *mongo.Database, docID string, fields bson.D, ev audit.Event) (audit.Written, error) {
	set := append(bson.D{{Key: "tenantId", Value: audit.PlatformTenant}}, fields...)
	upd, err := audit.WithEvent(bson.D{{Key: "$set", Value: set}}, ev)
	if err != nil {
		return audit.Written{}, err
	}
	coll := db.Collection(audit.PlatformOutboxCollection)
	filter := bson.D{{Key: "_id", Value: docID}, {Key: audit.FieldOutbox + "." + ev.ID, Value: bson.D{{Key: "$exists", Value: false}}}}
	_, err = coll.UpdateOne(ctx, filter, upd, options.UpdateOne().SetUpsert(true))
	if mongo.IsDuplicateKeyError(err) {
		// The document exists and holds the event already (an earlier attempt wrote it): that
		// stored event is the one to deliver.
		var stored struct {
			Events audit.PendingEvents `bson:"outbox"`
		}
		if rerr := coll.FindOne(ctx, bson.D{{Key: "_id", Value: docID}}).Decode(&stored); rerr == nil {
			if got, ok := stored.Events[ev.ID]; ok {
				ev = got
			}
		}
		err = nil
	}
	if err != nil {
		return audit.Written{}, fmt.Errorf("record the %s event of tenant %s: %w", ev.Action, ev.TenantID, err)
	}
	return audit.Written{Collection: audit.PlatformOutboxCollection, TenantID: audit.PlatformTenant, DocID: docID, Event: ev}, nil
}

// applyTenant re-applies a tenant-level entry to db: the tenant is recorded as offboarded there (so
// the API refuses it, also in a database that never saw the offboarding, like a failover's fresh
// cluster), and EraseTenant removes whatever of it the database holds. When that removed anything,
// one tenant:offboard event of origin records it, in the platform outbox; a no-op writes none.
func applyTenant(ctx context.Context, db *mongo.Database, cols Collections, e Erasure, now time.Time, origin audit.Origin) (Result, error) {
	if _, err := status.Mark(ctx, db, e.TenantID, status.Offboarded, e.RequestID, e.ErasedAt); err != nil {
		return Result{}, err
	}
	tr, err := EraseTenant(ctx, db, cols, e.TenantID, TenantOptions{})
	res := Result{Tenant: &tr}
	if err != nil {
		return res, fmt.Errorf("erase offboarded tenant %s: %w", e.TenantID, err)
	}
	if !tr.Changed() {
		return res, nil
	}
	ev := TenantEvent(origin, e.TenantID, now, nil)
	w, err := RecordTenantEvent(ctx, db, "tenant-reapplied:"+e.TenantID+":"+ev.ID,
		bson.D{{Key: "tenant", Value: e.TenantID}, {Key: "reappliedAt", Value: now.UTC()}, {Key: "subjectKeys", Value: tr.SubjectKeys},
			{Key: "patients", Value: tr.Patients}, {Key: "notes", Value: tr.Notes}, {Key: "offboardingRequestId", Value: e.RequestID}}, ev)
	if err != nil {
		return res, err
	}
	res.Event = &w
	return res, nil
}
