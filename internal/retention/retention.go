// Package retention deletes application data whose retention period has ended: the daily job of
// each region (lambdas/retention, scheduled by constructs/retention), with the region's one
// retention setting (retentionYears in regions/<region>.json, default 9).
//
// The rule. A patient's record is the patient document and its notes. It expires RetentionYears
// after its last change: the latest updatedAt of the patient and of any of its notes, taken as a
// UTC calendar date (ExpiresOn). The first run on or after that date erases it. The platform keeps
// no end date of a care relationship, so the last change is the date that counts: a record that
// anybody still changes is still in use.
//
// Erasing an expired record is the subject erasure's work (erasure.Expire): the patient becomes a
// tombstone without personal fields, its notes lose their text, its subject key is deleted
// (crypto-shredding every reference to it in the audit trail), and one retention:expire audit event
// (IDs and keyed hashes only) goes into the tombstone in the same update; the API's reconciler
// publishes it and then purges the tombstones. A record changed while the job looks at it is left
// alone: the patient is first marked (the API's own erasing mark, so no note can be added and none
// in flight is stored), its note holds are blocked, and its notes are checked again; the erasure
// itself only matches the patient as it was read.
//
// Running it again changes nothing (idempotent). It reads across tenants, like the reconciler (the
// documented exception to tenant-scoped reads); every write is filtered by the document's own
// tenant and ID.
package retention

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/erasure"
	"github.com/carohealth/platform/internal/maintenance"
	"github.com/carohealth/platform/internal/tenancy"
)

// DefaultYears is the retention when a region sets none (the security page's 9 years).
const DefaultYears = 9

// ActionExpire is the action of the audit event of a record erased because its retention ended.
const ActionExpire = "retention:expire"

// Document fields the job reads and marks. FieldErasing is the API's mark of a patient being
// erased (internal/api: no note can be added to it and it reads as not found); FieldExpiring names
// the run that set it, so only that run's mark is ever taken back.
const (
	FieldUpdatedAt = "updatedAt"
	FieldErasing   = "erasing"
	FieldExpiring  = "expiring"
	FieldNoteIDs   = "noteIds"
)

// IndexName is the index on the patients' updatedAt the job's daily query uses (created by
// EnsureIndexes). Like the reconciler's pending index, it is a documented exception to "indexes
// start with the tenant": the job reads across tenants by design.
const IndexName = "retention_updated_at"

// day is midnight UTC of t's calendar date.
func day(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// ExpiresOn is the UTC date a record last changed at lastChange expires: the calendar date of the
// change, years later (29 February plus a year is 1 March).
func ExpiresOn(lastChange time.Time, years int) time.Time {
	return day(lastChange).AddDate(years, 0, 0)
}

// Expired reports whether a record last changed at lastChange has expired on now's date: from its
// ExpiresOn date on, not a day before.
func Expired(lastChange, now time.Time, years int) bool {
	return !ExpiresOn(lastChange, years).After(day(now))
}

// KeptSince is the earliest instant of a last change that keeps a record on now's date: a record
// changed before it has expired, one changed at or after it has not.
func KeptSince(now time.Time, years int) time.Time {
	today := day(now)
	c := today.AddDate(-years, 0, 0)
	for Expired(c, today, years) {
		c = c.AddDate(0, 0, 1)
	}
	for prev := c.AddDate(0, 0, -1); !Expired(prev, today, years); prev = c.AddDate(0, 0, -1) {
		c = prev
	}
	return c
}

// Options configure a run.
type Options struct {
	// DB is the region's application database. Required.
	DB *mongo.Database
	// Years is the region's retention (retentionYears). Required: 1 to 100.
	Years int
	// Now is the clock (default time.Now); tests pin it.
	Now func() time.Time
	// Origin is the job's (actor job:retention, interface job, a request ID per run). Required.
	Origin audit.Origin
	// BatchSize bounds the patients read at once (default 200).
	BatchSize int
	// Collections are the collection names (default erasure.Live()).
	Collections erasure.Collections
	// Progress receives a line per batch and the summary.
	Progress func(string)
	// StopBefore is how long before ctx's deadline the run stops, leaving the rest to the next run
	// (default one minute: a Lambda's last minute is for the summary).
	StopBefore time.Duration
	// Paused is asked before each record is expired (default: the maintenance switch of DB,
	// maintenance.Gate.Check): while a restore or an offboarding holds the switch the run stops
	// without failing (Report.Paused) and the next run continues; a switch that cannot be read stops
	// it with the error (fail closed). Each record's writes then run within maintenance.WriteWindow.
	Paused func(ctx context.Context) error

	// afterMark, in tests, runs right after a patient is marked (a note stored in that moment).
	afterMark func(docID string)
}

// Report is what a run did: counts and IDs, no personal data.
type Report struct {
	Years int `json:"retentionYears"`
	// Today is the run's date; KeptSince the earliest last change that keeps a record.
	Today     string    `json:"today"`
	KeptSince time.Time `json:"keptSince"`
	// Candidates are patients last changed before KeptSince; Expired those erased; Kept those
	// whose notes changed since (or that changed while the run looked at them).
	Candidates int   `json:"candidates"`
	Expired    int   `json:"expired"`
	Kept       int   `json:"kept"`
	Notes      int64 `json:"notesErased"`
	// AuditEvents is how many retention:expire events were written (one per patient expired).
	AuditEvents int             `json:"auditEvents"`
	Events      []audit.Written `json:"-"`
	// Complete is false when the run stopped before its deadline or paused: the next run continues.
	Complete bool `json:"complete"`
	// Paused says why the run stopped early: the maintenance switch was on.
	Paused string `json:"paused,omitempty"`
}

func (o *Options) validate() error {
	switch {
	case o.DB == nil:
		return errors.New("retention: no database")
	case o.Years < 1 || o.Years > 100:
		return fmt.Errorf("retention: retentionYears %d: give 1 to 100 (regions/<region>.json)", o.Years)
	}
	if err := o.Origin.Validate(); err != nil {
		return fmt.Errorf("retention: %w", err)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 200
	}
	if o.Collections == (erasure.Collections{}) {
		o.Collections = erasure.Live()
	}
	if o.StopBefore <= 0 {
		o.StopBefore = time.Minute
	}
	if o.Paused == nil {
		o.Paused = (&maintenance.Gate{DB: o.DB}).Check
	}
	return nil
}

func (o *Options) say(format string, args ...any) {
	if o.Progress != nil {
		o.Progress(fmt.Sprintf(format, args...))
	}
}

// EnsureIndexes creates the index on the patients' updatedAt. Idempotent.
func EnsureIndexes(ctx context.Context, db *mongo.Database, cols erasure.Collections) error {
	if cols == (erasure.Collections{}) {
		cols = erasure.Live()
	}
	_, err := db.Collection(cols.Patients).Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys: bson.D{{Key: FieldUpdatedAt, Value: 1}}, Options: options.Index().SetName(IndexName)})
	if err != nil {
		return fmt.Errorf("create the retention index on %s: %w", cols.Patients, err)
	}
	return nil
}

// candidate is what the run reads of a patient.
type candidate struct {
	ID        string    `bson:"_id"`
	TenantID  string    `bson:"tenantId"`
	UpdatedAt time.Time `bson:"updatedAt"`
}

// Run erases every patient record whose retention ended (the package's rule), a batch at a time.
func Run(ctx context.Context, o Options) (Report, error) {
	if err := o.validate(); err != nil {
		return Report{}, err
	}
	now := o.Now()
	rep := Report{Years: o.Years, Today: day(now).Format(time.DateOnly), KeptSince: KeptSince(now, o.Years)}
	patients := o.DB.Collection(o.Collections.Patients)
	// Candidates: live, last changed before KeptSince, not being erased by the API (a mark of an
	// earlier, interrupted run of this job is taken over).
	filter := bson.D{{Key: FieldUpdatedAt, Value: bson.D{{Key: "$lt", Value: rep.KeptSince}}},
		{Key: audit.FieldTombstone, Value: bson.D{{Key: "$ne", Value: true}}},
		{Key: "$or", Value: bson.A{bson.D{{Key: FieldErasing, Value: bson.D{{Key: "$ne", Value: true}}}}, bson.D{{Key: FieldExpiring, Value: bson.D{{Key: "$exists", Value: true}}}}}}}
	last := ""
	for {
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < o.StopBefore {
			o.say("retention: stopping before the deadline; the next run continues (%d expired so far)", rep.Expired)
			return rep, nil
		}
		f := append(bson.D{}, filter...)
		if last != "" {
			f = append(f, bson.E{Key: "_id", Value: bson.D{{Key: "$gt", Value: last}}})
		}
		cur, err := patients.Find(ctx, f, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(o.BatchSize)).
			SetProjection(bson.D{{Key: "_id", Value: 1}, {Key: "tenantId", Value: 1}, {Key: FieldUpdatedAt, Value: 1}}))
		if err != nil {
			return rep, fmt.Errorf("retention: list expired patients: %w", err)
		}
		var batch []candidate
		if err := cur.All(ctx, &batch); err != nil {
			return rep, fmt.Errorf("retention: list expired patients: %w", err)
		}
		if len(batch) == 0 {
			break
		}
		for _, c := range batch {
			if err := o.Paused(ctx); errors.Is(err, maintenance.ErrOn) {
				rep.Paused = err.Error()
				o.say("retention: stopped while the database is under maintenance (%s); the next run continues (%d expired so far)", err, rep.Expired)
				return rep, nil
			} else if err != nil {
				return rep, fmt.Errorf("retention: the maintenance switch cannot be read, so nothing more is written: %w", err)
			}
			last = c.ID
			rep.Candidates++
			wctx, cancel := context.WithTimeout(ctx, maintenance.WriteWindow)
			expired, err := o.expire(wctx, c, rep.KeptSince, &rep)
			cancel()
			if err != nil {
				return rep, err
			}
			if !expired {
				rep.Kept++
			}
		}
		o.say("retention: %d records looked at, %d expired and erased, %d kept (changed since %s)", rep.Candidates, rep.Expired, rep.Kept, rep.KeptSince.Format(time.DateOnly))
	}
	rep.Complete = true
	o.say("retention (%d years, %s): %d patient records expired and erased (%d notes), %d kept; %d retention:expire audit events",
		o.Years, rep.Today, rep.Expired, rep.Notes, rep.Kept, rep.AuditEvents)
	return rep, nil
}

// expire erases one candidate unless its record changed since keptSince.
func (o *Options) expire(ctx context.Context, c candidate, keptSince time.Time, rep *Report) (bool, error) {
	tenant, pid, ok := tenancy.SplitDocID(c.ID)
	if !ok || tenant != c.TenantID || !tenancy.ValidTenantID(tenant) {
		// Not an API document (no tenant-prefixed ID): not the job's to judge.
		return false, nil
	}
	if recent, err := o.recentNote(ctx, tenant, pid, keptSince); err != nil || recent {
		return false, err
	}
	patients := o.DB.Collection(o.Collections.Patients)
	run := o.Origin.RequestID
	unchanged := bson.D{{Key: "_id", Value: c.ID}, {Key: "tenantId", Value: tenant}, {Key: FieldUpdatedAt, Value: c.UpdatedAt},
		{Key: audit.FieldTombstone, Value: bson.D{{Key: "$ne", Value: true}}}}
	mark := append(append(bson.D{}, unchanged...), bson.E{Key: "$or", Value: bson.A{
		bson.D{{Key: FieldErasing, Value: bson.D{{Key: "$ne", Value: true}}}}, bson.D{{Key: FieldExpiring, Value: bson.D{{Key: "$exists", Value: true}}}}}})
	unlock := tenancy.WriteLock(patients.Name())
	res, err := patients.UpdateOne(ctx, mark, bson.D{{Key: "$set", Value: bson.D{{Key: FieldErasing, Value: true}, {Key: FieldExpiring, Value: run}}}})
	unlock()
	if err != nil {
		return false, fmt.Errorf("retention: mark patient %s: %w", c.ID, err)
	}
	if res.MatchedCount != 1 {
		return false, nil // changed (or erased) since it was read
	}
	// From here no note can be added; a note in flight is blocked or already stored.
	if o.afterMark != nil {
		o.afterMark(c.ID)
	}
	recent, err := o.blockHoldsAndCheck(ctx, c.ID, tenant, pid, keptSince)
	if err == nil && !recent {
		var r erasure.Result
		r, err = erasure.Expire(ctx, o.DB, o.Collections, tenant, pid, o.Now(), o.Origin, ActionExpire,
			bson.D{{Key: FieldUpdatedAt, Value: c.UpdatedAt}, {Key: FieldExpiring, Value: run}})
		if err == nil && r.Patient {
			rep.Expired++
			rep.Notes += r.Notes
			if r.Event != nil {
				rep.AuditEvents++
				rep.Events = append(rep.Events, *r.Event)
			}
			return true, nil
		}
	}
	// Kept (a note changed, or the patient changed meanwhile), or an error: take this run's mark
	// back, so the API serves the patient again.
	unlock = tenancy.WriteLock(patients.Name())
	_, uerr := patients.UpdateOne(context.WithoutCancel(ctx), bson.D{{Key: "_id", Value: c.ID}, {Key: "tenantId", Value: tenant}, {Key: FieldExpiring, Value: run},
		{Key: audit.FieldTombstone, Value: bson.D{{Key: "$ne", Value: true}}}},
		bson.D{{Key: "$unset", Value: bson.D{{Key: FieldErasing, Value: ""}, {Key: FieldExpiring, Value: ""}}}})
	unlock()
	if err != nil {
		return false, fmt.Errorf("retention: expire patient %s: %w", c.ID, err)
	}
	if uerr != nil {
		return false, fmt.Errorf("retention: unmark patient %s (it reads as not found until the next run): %w", c.ID, uerr)
	}
	return false, nil
}

// recentNote reports whether a live note of the patient changed at or after keptSince.
func (o *Options) recentNote(ctx context.Context, tenant, pid string, keptSince time.Time) (bool, error) {
	n, err := o.DB.Collection(o.Collections.Notes).CountDocuments(ctx, bson.D{{Key: "tenantId", Value: tenant}, {Key: "patientId", Value: pid},
		{Key: FieldUpdatedAt, Value: bson.D{{Key: "$gte", Value: keptSince}}}, {Key: audit.FieldTombstone, Value: bson.D{{Key: "$ne", Value: true}}}},
		options.Count().SetLimit(1))
	if err != nil {
		return false, fmt.Errorf("retention: read the notes of %s/%s: %w", tenant, pid, err)
	}
	return n > 0, nil
}

// blockHoldsAndCheck blocks every note hold of the marked patient whose note is not stored (an
// erased tombstone with the note's _id, as the API's erase does: the note's insert is refused for
// ever), then checks the notes again.
func (o *Options) blockHoldsAndCheck(ctx context.Context, docID, tenant, pid string, keptSince time.Time) (bool, error) {
	var holds struct {
		NoteIDs []string `bson:"noteIds"`
	}
	if err := o.DB.Collection(o.Collections.Patients).FindOne(ctx, bson.D{{Key: "_id", Value: docID}, {Key: "tenantId", Value: tenant}},
		options.FindOne().SetProjection(bson.D{{Key: FieldNoteIDs, Value: 1}})).Decode(&holds); err != nil {
		return false, fmt.Errorf("retention: read the note holds of %s: %w", docID, err)
	}
	notes := o.DB.Collection(o.Collections.Notes)
	now := o.Now().UTC().Truncate(time.Millisecond)
	for _, id := range holds.NoteIDs {
		unlock := tenancy.WriteLock(notes.Name())
		_, err := notes.InsertOne(ctx, bson.D{{Key: "_id", Value: tenant + ":" + id}, {Key: "tenantId", Value: tenant}, {Key: "patientId", Value: pid},
			{Key: "version", Value: 0}, {Key: erasure.FieldErased, Value: true}, {Key: audit.FieldTombstone, Value: true},
			{Key: "createdAt", Value: now}, {Key: FieldUpdatedAt, Value: now}})
		unlock()
		if err != nil && !mongo.IsDuplicateKeyError(err) {
			return false, fmt.Errorf("retention: block note hold %s of %s: %w", id, docID, err)
		}
	}
	return o.recentNote(ctx, tenant, pid, keptSince)
}
