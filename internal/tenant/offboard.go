// Package tenant offboards a tenant whose contract ended (`caro tenant delete`): every subject of
// the tenant is crypto-shredded, its documents and users are deleted, and a tenant-level entry in
// the erasure register makes every later restore of an older backup remove it again.
//
// The order, each step journaled (JournalCollection) and idempotent, so a run killed at any point
// is finished by the next without redoing or missing anything:
//
//	mark      the tenant is recorded as offboarding (internal/tenant/status): the API refuses its
//	          requests from then on; the run waits status.Settle before it relies on that
//	count     what the run removes is counted and journaled (the audit event's counts)
//	register  the tenant-level entry goes into the erasure register, before anything is removed
//	subject-keys, notes, patients
//	          erasure.EraseTenant: keys shredded first, then documents deleted a batch at a time
//	          (pending audit events carried to the platform outbox first)
//	kept      the same in the collections earlier restores kept aside (_caro_prev_*)
//	users     the tenant's users deleted from the user pool
//	audit     the offboarding's one tenant:offboard audit event (actor, tenant, interface; its
//	          after hash is the SHA-256 of the counts summary the register entry also holds)
//	finish    the tenant is recorded as offboarded
//
// It refuses an unknown tenant, and refuses (and stops between batches) while the maintenance
// switch is on, a restore is in progress, or a restore holds the audit ledger.
package tenant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/erasure"
	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/internal/maintenance"
	"github.com/carohealth/platform/internal/restore"
	"github.com/carohealth/platform/internal/tenancy"
	"github.com/carohealth/platform/internal/tenant/status"
)

// Steps of an offboarding, in order.
const (
	StepMark        = "mark"
	StepCount       = "count"
	StepRegister    = "register"
	StepSubjectKeys = erasure.StepSubjectKeys
	StepNotes       = erasure.StepNotes
	StepPatients    = erasure.StepPatients
	StepKept        = "kept"
	StepUsers       = "users"
	StepAudit       = "audit"
	StepFinish      = "finish"
)

// Steps lists every step in order.
var Steps = []string{StepMark, StepCount, StepRegister, StepSubjectKeys, StepNotes, StepPatients, StepKept, StepUsers, StepAudit, StepFinish}

// Refusals, each wrapped with what was found and what to do.
var (
	ErrUnknownTenant  = errors.New("unknown tenant")
	ErrMaintenance    = errors.New("the maintenance switch is on")
	ErrRestore        = errors.New("a restore is in progress")
	ErrLedgerHeld     = errors.New("a restore holds the audit ledger")
	ErrNoUsers        = errors.New("no user pool")
	ErrNoRegister     = errors.New("no erasure register")
	ErrInvalidTenant  = errors.New("invalid tenant ID")
	ErrNotOffboarding = errors.New("nothing to offboard")
)

// Counts is what an offboarding removes.
type Counts struct {
	// Patients, Notes are the tenant's documents (tombstones included).
	Patients int64 `bson:"patients" json:"patients"`
	Notes    int64 `bson:"notes" json:"notes"`
	// Subjects are the tenant's subject keys: every one is crypto-shredded.
	Subjects int64 `bson:"subjects" json:"subjects"`
	// Users are the tenant's users in the region's user pool.
	Users int64 `bson:"users" json:"users"`
	// KeptDocuments are the tenant's documents and keys in collections earlier restores kept aside.
	KeptDocuments int64 `bson:"keptDocuments" json:"keptDocuments"`
}

// Total is the sum of all counts.
func (c Counts) Total() int64 { return c.Patients + c.Notes + c.Subjects + c.Users + c.KeptDocuments }

// Map returns the counts by name (the register entry's Counts).
func (c Counts) Map() map[string]int64 {
	return map[string]int64{"patients": c.Patients, "notes": c.Notes, "subjects": c.Subjects, "users": c.Users, "keptDocuments": c.KeptDocuments}
}

// Options configure an offboarding.
type Options struct {
	// DB is the region's application database. Required.
	DB *mongo.Database
	// TenantID is the tenant to offboard. Required.
	TenantID string
	// Register records the tenant-level entry in the erasure register (the region's own backup
	// bucket) before anything is removed. Required.
	Register erasure.Recorder
	// Users are the region's user-pool users. Required.
	Users Users
	// Origin is who runs the offboarding (operator, interface cli, a request ID per run); a run that
	// resumes an interrupted one keeps that run's origin, so its audit event is the same one.
	Origin audit.Origin
	// BatchSize bounds the documents and users held at once (default erasure.DefaultTenantBatch).
	BatchSize int
	// Settle is how long the run waits after marking the tenant before it relies on the API
	// refusing it (default status.Settle).
	Settle time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Progress receives one line per step and per batch.
	Progress func(string)

	// afterBatch, in tests, is called after every batch (a child process stops there to be killed).
	afterBatch func(step string, done int64)
}

func (o *Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o *Options) say(format string, args ...any) {
	if o.Progress != nil {
		o.Progress(fmt.Sprintf(format, args...))
	}
}

// Validate checks the options before anything is read.
func (o *Options) Validate() error {
	switch {
	case o.DB == nil:
		return errors.New("tenant delete: no database: pass --mongodb-uri")
	case !tenancy.ValidTenantID(o.TenantID):
		return fmt.Errorf("%w %q: a tenant ID is 1-64 lowercase letters, digits, '-' and '_' (the users' custom:tenant_id attribute)", ErrInvalidTenant, o.TenantID)
	case o.Register == nil:
		return fmt.Errorf("%w: the tenant-level entry must be recorded before anything is removed, so a restore of an older backup removes the tenant again: pass --bucket (the region's own backup bucket)", ErrNoRegister)
	case o.Users == nil:
		return fmt.Errorf("%w: the tenant's users must be deleted too: pass --user-pool-id (stack output UserPoolId of CaroPlatform-<region>)", ErrNoUsers)
	}
	if err := o.Origin.Validate(); err != nil {
		return fmt.Errorf("tenant delete: %w", err)
	}
	if o.BatchSize <= 0 {
		o.BatchSize = erasure.DefaultTenantBatch
	}
	if o.Settle <= 0 {
		o.Settle = status.Settle
	}
	return nil
}

// RunInfo describes an offboarding run from its journal.
type RunInfo struct {
	ID        string    `json:"id"`
	RequestID string    `json:"requestId"`
	EventID   string    `json:"eventId"`
	Actor     string    `json:"actor"`
	Interface string    `json:"interface"`
	Started   time.Time `json:"started"`
	// Counts is what the run removes (nil until its count step completed).
	Counts *Counts `json:"counts,omitempty"`
	// Done are its completed steps; Completed says whether the whole run completed.
	Done      []string `json:"done,omitempty"`
	Completed bool     `json:"completed"`
}

func (r *RunInfo) done(step string) bool {
	for _, s := range r.Done {
		if s == step {
			return true
		}
	}
	return false
}

// Plan is what an offboarding will remove, shown before anything is changed.
type Plan struct {
	TenantID string `json:"tenantId"`
	Database string `json:"database"`
	// Counts is what the database and the user pool hold of the tenant now.
	Counts Counts `json:"counts"`
	// Resume is the interrupted run the next Run continues (nil: a new run).
	Resume *RunInfo `json:"resume,omitempty"`
	// Status is the tenant's offboarding status (nil: never offboarded).
	Status *status.Record `json:"status,omitempty"`
}

// NothingToDo reports whether the tenant was offboarded before and nothing of it is left.
func (p Plan) NothingToDo() bool {
	return p.Resume == nil && p.Status != nil && p.Status.State == status.Offboarded && p.Counts.Total() == 0
}

// Preflight validates o, refuses while the database is being restored or the ledger is held, and
// counts what the tenant has: the plan to show before confirming. An unknown tenant (nothing in
// the database or the user pool, never offboarded) is refused.
func Preflight(ctx context.Context, o *Options) (Plan, error) {
	if err := o.Validate(); err != nil {
		return Plan{}, err
	}
	if err := checkDatabase(ctx, o.DB); err != nil {
		return Plan{}, err
	}
	p := Plan{TenantID: o.TenantID, Database: o.DB.Name()}
	var err error
	if p.Status, err = status.Get(ctx, o.DB, o.TenantID); err != nil {
		return p, err
	}
	run, err := lastRun(ctx, openJournal(o.DB, o.TenantID))
	if err != nil {
		return p, err
	}
	if run != nil && !run.Completed {
		p.Resume = run
	}
	if p.Counts, err = count(ctx, o); err != nil {
		return p, err
	}
	if p.Counts.Total() == 0 && p.Status == nil && p.Resume == nil {
		return p, fmt.Errorf("%w %q: database %s has no patients, notes or subject keys of it and the user pool no users, and it was never offboarded: "+
			"check the tenant ID (the users' custom:tenant_id attribute) and the database (--mongodb-uri, --database); nothing was changed",
			ErrUnknownTenant, o.TenantID, o.DB.Name())
	}
	return p, nil
}

// checkDatabase refuses while a restore or another operation changes the database, or the audit
// ledger waits for its recovery after a restore (the offboarding's audit event could not be
// appended, and its deletions would race the restore's switch).
func checkDatabase(ctx context.Context, db *mongo.Database) error {
	if sw, err := maintenance.Get(ctx, db); err != nil {
		return err
	} else if sw != nil {
		return fmt.Errorf("%w in %s (%s since %s: %s): a restore or another operation is changing the database; run tenant delete again once it has finished "+
			"(a switch a crashed restore left is cleared by `caro backup recover --mongodb-uri <uri> --yes`); nothing was changed",
			ErrMaintenance, db.Name(), sw.Owner, sw.Since.Format(time.RFC3339), sw.Reason)
	}
	if m, err := restore.ReadMarker(ctx, db); err != nil {
		return err
	} else if m != nil && m.InProgress != nil {
		return fmt.Errorf("%w in %s (run %s of %s %s): finish or roll it back first with `caro backup recover --mongodb-uri <uri> --yes`, then run tenant delete again; nothing was changed",
			ErrRestore, db.Name(), m.InProgress.ID, m.InProgress.Kind, m.InProgress.BackupID)
	}
	if h, err := ledger.ReadHold(ctx, db); err != nil {
		return err
	} else if h != nil {
		return fmt.Errorf("%w of %s since %s (restore of backup %s: %s): recover the ledger first (`caro audit recover`), then run tenant delete again; nothing was changed",
			ErrLedgerHeld, db.Name(), h.Time.UTC().Format(time.RFC3339), h.BackupID, h.Reason)
	}
	return nil
}

// count counts what the tenant has in the database, the kept collections and the user pool.
func count(ctx context.Context, o *Options) (Counts, error) {
	var c Counts
	live := erasure.Live()
	for _, x := range []struct {
		coll string
		n    *int64
	}{{live.Patients, &c.Patients}, {live.Notes, &c.Notes}, {live.SubjectKeys, &c.Subjects}} {
		n, err := o.DB.Collection(x.coll).CountDocuments(ctx, bson.D{{Key: "tenantId", Value: o.TenantID}})
		if err != nil {
			return c, fmt.Errorf("counting %s of tenant %s: %w", x.coll, o.TenantID, err)
		}
		*x.n = n
	}
	kept, err := keptCollections(ctx, o.DB)
	if err != nil {
		return c, err
	}
	for _, k := range kept {
		for _, name := range []string{k.Patients, k.Notes, k.SubjectKeys} {
			n, err := o.DB.Collection(name).CountDocuments(ctx, bson.D{{Key: "tenantId", Value: o.TenantID}})
			if err != nil {
				return c, fmt.Errorf("counting %s of tenant %s: %w", name, o.TenantID, err)
			}
			c.KeptDocuments += n
		}
	}
	err = o.Users.List(ctx, o.TenantID, func(page []User) error { c.Users += int64(len(page)); return nil })
	return c, err
}

// keptCollections are the application collections earlier restores kept aside, one set per run.
func keptCollections(ctx context.Context, db *mongo.Database) ([]erasure.Collections, error) {
	kept, err := restore.ListKept(ctx, db)
	if err != nil {
		return nil, err
	}
	byRun := map[string]*erasure.Collections{}
	var order []string
	live := erasure.Live()
	for _, k := range kept {
		c := byRun[k.Run]
		if c == nil {
			// A collection the run did not keep gets a name that does not exist: nothing found there.
			none := "_caro_none_" + k.Run
			c = &erasure.Collections{Patients: none, Notes: none, SubjectKeys: none}
			byRun[k.Run] = c
			order = append(order, k.Run)
		}
		switch k.Collection {
		case live.Patients:
			c.Patients = k.Name
		case live.Notes:
			c.Notes = k.Name
		case live.SubjectKeys:
			c.SubjectKeys = k.Name
		}
	}
	out := make([]erasure.Collections, 0, len(order))
	for _, r := range order {
		out = append(out, *byRun[r])
	}
	return out, nil
}

// lastRun reads the journal's last run, nil when there is none.
func lastRun(ctx context.Context, j *journal) (*RunInfo, error) {
	recs, err := j.Records(ctx)
	if err != nil {
		return nil, err
	}
	var run *RunInfo
	for _, r := range recs {
		switch {
		case r.Event == RunStarted:
			run = &RunInfo{ID: r.Run, RequestID: r.RequestID, EventID: r.EventID, Actor: r.Actor, Interface: r.Interface, Started: r.Time}
		case run == nil || r.Run != run.ID:
			// A record of an older run (or a damaged journal's): not this run's.
		case r.Event == StepCompleted:
			run.Done = append(run.Done, r.Step)
			if r.Step == StepCount && r.Counts != nil {
				c := *r.Counts
				run.Counts = &c
			}
		case r.Event == RunCompleted:
			run.Completed = true
		}
	}
	return run, nil
}

// Report is what a run did.
type Report struct {
	TenantID string `json:"tenantId"`
	Database string `json:"database"`
	// Run is the run (resumed or new), with what it removes.
	Run RunInfo `json:"run"`
	// Resumed says whether the run continued an interrupted one.
	Resumed bool `json:"resumed"`
	// Removed is what this process removed (on a resumed run, the rest of what Run.Counts says).
	Removed Counts `json:"removed"`
	// CarriedEvents are audit events still pending in deleted documents, moved to the platform
	// outbox for the reconciler.
	CarriedEvents int64 `json:"carriedEvents"`
	// AuditEvent is the offboarding's tenant:offboard event (stored pending; delivered by the
	// caller or the reconciler).
	AuditEvent *audit.Written `json:"auditEvent,omitempty"`
	// Summary is the canonical counts summary whose SHA-256 is the event's after hash.
	Summary json.RawMessage `json:"summary,omitempty"`
}

// Run offboards the tenant of plan (resuming plan.Resume when set). It holds the tenant's lease
// while it runs, so two operators cannot run it at once.
func Run(ctx context.Context, o *Options, plan Plan) (Report, error) {
	if err := o.Validate(); err != nil {
		return Report{}, err
	}
	rep := Report{TenantID: o.TenantID, Database: o.DB.Name()}
	if plan.NothingToDo() {
		return rep, fmt.Errorf("%w: tenant %s was offboarded on %s and nothing of it is left", ErrNotOffboarding, o.TenantID, plan.Status.Updated.Format(time.RFC3339))
	}
	j := openJournal(o.DB, o.TenantID)
	release, takenOver, err := j.acquire(ctx, fmt.Sprintf("tenant-delete %s (%s)", o.TenantID, o.Origin.Actor))
	if err != nil {
		return rep, err
	}
	defer release()
	if err := checkDatabase(ctx, o.DB); err != nil {
		return rep, err
	}
	// The plan was read before the lease: read the run again under it.
	run, err := lastRun(ctx, j)
	if err != nil {
		return rep, err
	}
	if run != nil && !run.Completed {
		rep.Resumed = true
		o.say("resuming run %s of %s (started %s by %s): steps done: %s", run.ID, o.TenantID, run.Started.Format(time.RFC3339), run.Actor, strings.Join(run.Done, ", "))
		detail := ""
		if takenOver != nil {
			detail = fmt.Sprintf("lease of pid %d on %s taken over", takenOver.PID, takenOver.Host)
		}
		if err := j.Append(ctx, Record{Run: run.ID, Event: RunResumed, Actor: o.Origin.Actor, Detail: detail}); err != nil {
			return rep, err
		}
	} else {
		run = &RunInfo{ID: o.Origin.RequestID[:min(12, len(o.Origin.RequestID))], RequestID: o.Origin.RequestID, EventID: audit.NewEventID(),
			Actor: o.Origin.Actor, Interface: string(o.Origin.Interface), Started: o.now().UTC().Truncate(time.Millisecond)}
		if err := j.Append(ctx, Record{Run: run.ID, Event: RunStarted, Time: run.Started, RequestID: run.RequestID, EventID: run.EventID,
			Actor: run.Actor, Interface: run.Interface}); err != nil {
			return rep, err
		}
	}
	rep.Run = *run
	r := &runner{o: o, j: j, run: run, rep: &rep}
	for _, step := range Steps {
		if run.done(step) {
			continue
		}
		if err := r.do(ctx, step); err != nil {
			rep.Run = *run
			return rep, fmt.Errorf("tenant %s: step %s: %w (run `caro tenant delete --tenant %s` again: it resumes run %s from this step)", o.TenantID, step, err, o.TenantID, run.ID)
		}
	}
	if err := j.Append(ctx, Record{Run: run.ID, Event: RunCompleted}); err != nil {
		return rep, err
	}
	run.Completed = true
	rep.Run = *run
	return rep, nil
}

// runner runs the steps of one run.
type runner struct {
	o   *Options
	j   *journal
	run *RunInfo
	rep *Report
}

// do runs one step between its journal records.
func (r *runner) do(ctx context.Context, step string) error {
	if err := r.j.Append(ctx, Record{Run: r.run.ID, Event: StepStarted, Step: step}); err != nil {
		return err
	}
	var counts *Counts
	var err error
	switch step {
	case StepMark:
		err = r.mark(ctx)
	case StepCount:
		counts, err = r.count(ctx)
	case StepRegister:
		err = r.register(ctx)
	case StepSubjectKeys, StepNotes, StepPatients:
		counts, err = r.erase(ctx, step)
	case StepKept:
		counts, err = r.kept(ctx)
	case StepUsers:
		counts, err = r.users(ctx)
	case StepAudit:
		err = r.audit(ctx)
	case StepFinish:
		_, err = status.Mark(ctx, r.o.DB, r.o.TenantID, status.Offboarded, r.run.RequestID, r.o.now())
		if err == nil {
			r.o.say("tenant %s is offboarded", r.o.TenantID)
		}
	default:
		err = fmt.Errorf("unknown step %q", step)
	}
	if err != nil {
		return err
	}
	if err := r.j.Append(ctx, Record{Run: r.run.ID, Event: StepCompleted, Step: step, Counts: counts}); err != nil {
		return err
	}
	r.run.Done = append(r.run.Done, step)
	return nil
}

// mark records the tenant as offboarding and waits until every API instance refuses it.
func (r *runner) mark(ctx context.Context) error {
	rec, err := status.Mark(ctx, r.o.DB, r.o.TenantID, status.Offboarding, r.run.RequestID, r.o.now())
	if err != nil {
		return err
	}
	if wait := time.Until(rec.Updated.Add(r.o.Settle)); wait > 0 && rec.State == status.Offboarding {
		r.o.say("tenant %s marked offboarding: the API refuses its requests; waiting %s until every API instance has seen it", r.o.TenantID, wait.Round(time.Second))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	return nil
}

// count counts what the run removes, now that nothing of the tenant is written any more.
func (r *runner) count(ctx context.Context) (*Counts, error) {
	c, err := count(ctx, r.o)
	if err != nil {
		return nil, err
	}
	r.run.Counts = &c
	r.o.say("tenant %s: removing %d patients, %d notes, %d subject keys, %d users, %d documents in kept restore collections",
		r.o.TenantID, c.Patients, c.Notes, c.Subjects, c.Users, c.KeptDocuments)
	return &c, nil
}

func (r *runner) counts() Counts {
	if r.run.Counts != nil {
		return *r.run.Counts
	}
	return Counts{}
}

// register records the tenant-level entry (with the counts and the event ID) in the register.
func (r *runner) register(ctx context.Context) error {
	e := erasure.Erasure{Scope: erasure.ScopeTenant, TenantID: r.o.TenantID, ErasedAt: r.run.Started, RequestID: r.run.RequestID,
		EventID: r.run.EventID, Counts: r.counts().Map()}
	if err := r.o.Register.Record(ctx, e); err != nil {
		return fmt.Errorf("recording the tenant-level entry in the erasure register (nothing was removed yet): %w", err)
	}
	r.o.say("tenant %s recorded in the erasure register (%s): every later restore removes it again", r.o.TenantID, e.Key())
	return nil
}

// guard stops a batch loop when the database starts being restored.
func (r *runner) guard(ctx context.Context) error {
	return checkDatabase(ctx, r.o.DB)
}

func (r *runner) progress(total int64, what string) func(string, int64) {
	return func(step string, done int64) {
		r.o.say("tenant %s: %s %d/%d", r.o.TenantID, what, done, total)
		if r.o.afterBatch != nil {
			r.o.afterBatch(step, done)
		}
	}
}

// erase runs one of EraseTenant's steps on the live collections.
func (r *runner) erase(ctx context.Context, step string) (*Counts, error) {
	skip := map[string]bool{StepSubjectKeys: true, StepNotes: true, StepPatients: true}
	delete(skip, step)
	c := r.counts()
	total, what := map[string]int64{StepSubjectKeys: c.Subjects, StepNotes: c.Notes, StepPatients: c.Patients}[step],
		map[string]string{StepSubjectKeys: "subject keys shredded", StepNotes: "notes deleted", StepPatients: "patients deleted"}[step]
	res, err := erasure.EraseTenant(ctx, r.o.DB, erasure.Live(), r.o.TenantID, erasure.TenantOptions{BatchSize: r.o.BatchSize, Skip: skip,
		Continue: r.guard, Progress: r.progress(total, what)})
	r.rep.Removed.Subjects += res.SubjectKeys
	r.rep.Removed.Notes += res.Notes
	r.rep.Removed.Patients += res.Patients
	r.rep.CarriedEvents += res.CarriedEvents
	return &Counts{Subjects: res.SubjectKeys, Notes: res.Notes, Patients: res.Patients}, err
}

// kept removes the tenant from the collections earlier restores kept aside.
func (r *runner) kept(ctx context.Context) (*Counts, error) {
	sets, err := keptCollections(ctx, r.o.DB)
	if err != nil {
		return nil, err
	}
	var n int64
	for _, cols := range sets {
		res, err := erasure.EraseTenant(ctx, r.o.DB, cols, r.o.TenantID, erasure.TenantOptions{BatchSize: r.o.BatchSize, Continue: r.guard,
			Progress: r.progress(r.counts().KeptDocuments, "documents in kept restore collections deleted")})
		n += res.SubjectKeys + res.Notes + res.Patients
		r.rep.CarriedEvents += res.CarriedEvents
		if err != nil {
			r.rep.Removed.KeptDocuments += n
			return &Counts{KeptDocuments: n}, err
		}
	}
	r.rep.Removed.KeptDocuments += n
	return &Counts{KeptDocuments: n}, nil
}

// errBatchFull stops a listing once a batch of users is collected.
var errBatchFull = errors.New("batch full")

// users deletes the tenant's users a batch at a time, listing again after each batch (the pool's
// listing is the journal of this step: a deleted user is not listed again).
func (r *runner) users(ctx context.Context) (*Counts, error) {
	var deleted int64
	total := r.counts().Users
	for {
		if err := r.guard(ctx); err != nil {
			return &Counts{Users: deleted}, err
		}
		var batch []User
		err := r.o.Users.List(ctx, r.o.TenantID, func(page []User) error {
			batch = append(batch, page...)
			if len(batch) >= r.o.BatchSize {
				return errBatchFull
			}
			return nil
		})
		if err != nil && !errors.Is(err, errBatchFull) {
			r.rep.Removed.Users += deleted
			return &Counts{Users: deleted}, err
		}
		if len(batch) == 0 {
			r.rep.Removed.Users += deleted
			return &Counts{Users: deleted}, nil
		}
		for _, u := range batch {
			if err := r.o.Users.Delete(ctx, u); err != nil {
				r.rep.Removed.Users += deleted
				return &Counts{Users: deleted}, err
			}
			deleted++
		}
		r.progress(total, "users deleted")(StepUsers, deleted)
	}
}

// Summary is the canonical record of an offboarding whose SHA-256 is its audit event's after hash:
// IDs, times and counts, no personal data. The register entry holds the same counts.
type Summary struct {
	Format    string    `json:"format"`
	TenantID  string    `json:"tenantId"`
	RequestID string    `json:"requestId"`
	EventID   string    `json:"eventId"`
	Started   time.Time `json:"started"`
	Counts    Counts    `json:"counts"`
}

// SummaryFormat is Summary.Format.
const SummaryFormat = "caro-tenant-offboarding/v1"

// audit writes the offboarding's one tenant:offboard event (the run's event ID, so a rerun
// writes the same event) in the platform outbox, with the record of the offboarding.
func (r *runner) audit(ctx context.Context) error {
	sum, err := json.Marshal(Summary{Format: SummaryFormat, TenantID: r.o.TenantID, RequestID: r.run.RequestID, EventID: r.run.EventID,
		Started: r.run.Started.UTC(), Counts: r.counts()})
	if err != nil {
		return err
	}
	origin := audit.Origin{Actor: r.run.Actor, Interface: audit.Interface(r.run.Interface), RequestID: r.run.RequestID}
	ev := erasure.TenantEvent(origin, r.o.TenantID, r.o.now(), sum)
	ev.ID = r.run.EventID
	c := r.counts()
	w, err := erasure.RecordTenantEvent(ctx, r.o.DB, "tenant-offboarding:"+r.o.TenantID+":"+r.run.ID, bson.D{
		{Key: "tenant", Value: r.o.TenantID}, {Key: "run", Value: r.run.ID}, {Key: "requestId", Value: r.run.RequestID},
		{Key: "started", Value: r.run.Started}, {Key: "finished", Value: r.o.now().UTC().Truncate(time.Millisecond)},
		{Key: "counts", Value: c}, {Key: "summarySha256", Value: ev.AfterHash}}, ev)
	if err != nil {
		return err
	}
	r.rep.AuditEvent, r.rep.Summary = &w, sum
	r.o.say("tenant %s: audit event %s (tenant:offboard) recorded", r.o.TenantID, ev.ID)
	return nil
}
