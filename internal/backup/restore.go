package backup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/erasure"
	"github.com/carohealth/platform/internal/ledger"
)

// Names the restore reserves in a target database. User collections never start with reservedPrefix
// (backups skip such collections, and a restore refuses to be confused by them).
const (
	reservedPrefix   = "_caro_"
	stagePrefix      = reservedPrefix + "stage_"
	prevPrefix       = reservedPrefix + "prev_"
	markerCollection = reservedPrefix + "restore_marker"
	// LogCollection records every completed restore in the target database (one document per
	// backup ID), so a caller can tell whether a backup is already in place (Restored). Each
	// document also carries the outbox of its restores' audit events (audit.PlatformOutboxCollection,
	// tenantId audit.PlatformTenant), which the API's reconciler publishes.
	LogCollection = audit.PlatformOutboxCollection
	markerID      = "switch"
)

// RestoreOptions configure Restore.
type RestoreOptions struct {
	// BackupID names the backup (see List).
	BackupID string
	Store    ObjectStore
	KMS      KMS
	// KeyID, when set, is the only KMS key the data key may be unwrapped with (for example the
	// standby region's replica of the multi-Region key).
	KeyID string
	// TargetURI is the MongoDB connection string of the target; ignored when Target is set.
	TargetURI string
	// Target is an already connected client.
	Target *mongo.Client
	// Database is the target database (default: the database the backup was taken from).
	Database string
	// Replace allows restoring over a database that has collections: they are renamed aside during
	// the switch and dropped only after it completed.
	Replace bool
	// Workers, BatchBytes and BatchDocs tune the parallel loader (defaults DefaultWorkers,
	// DefaultBatchBytes, DefaultBatchDocs).
	Workers    int
	BatchBytes int
	BatchDocs  int
	// SkipPreverify loads while authenticating instead of authenticating the whole backup first.
	// Either way nothing reaches the target's collections unless everything authenticated; the
	// pre-pass (default) also keeps a damaged backup from creating even staging collections,
	// for the price of reading the backup twice.
	SkipPreverify bool
	// Recount also counts every staged collection on the server before the switch (slow on
	// FerretDB); without it the counts compared are the server-acknowledged insert counts.
	Recount bool
	// Erasures is the erasure register whose erasures are applied to the staging collections after
	// they were checked against the manifest and before the switch, so no patient erased after the
	// backup was taken comes back. Default: the register in Store (the bucket the backup is read
	// from: the region's backup bucket, or in the standby its replica, which replicates erasures/
	// too). Every registered erasure is applied, not only those after the backup time: applying is
	// idempotent, and it also finishes an erasure whose database part was interrupted before the
	// backup ran. A register that cannot be read fails the restore before the target is touched.
	Erasures erasure.Source
	// ErasureStores are further buckets whose erasure registers are read with Store's as one
	// (erasure.Registers) when Erasures is nil: a region's erasures are in its own backup bucket
	// and in its replica of the peer's, and after a failover or failback each may hold some the
	// other lacks. Any of them unreadable fails the restore before the target is touched.
	// ErasureStoreNames name Store and then each of them in messages (like s3://bucket; optional).
	ErasureStores     []ObjectStore
	ErasureStoreNames []string
	// SkipErasureRegister restores without reading the register or applying any erasure: every
	// patient erased since the backup comes back with personal data and subject key. Only for an
	// operator who explicitly accepts that (and then runs `caro gdpr reapply` once it is readable).
	SkipErasureRegister bool
	// Origin is who runs the restore (the operator through the CLI, or the failover as a job) and
	// the run's request ID: the restore's backup:restore event and every re-applied erasure's
	// subject:erase event carry it. Default (zero): actor "job:backup-restore", interface job, a
	// fresh request ID, so a restore is never unaudited.
	Origin audit.Origin
	// ConnectTimeout bounds reaching the target (default 20s).
	ConnectTimeout time.Duration
	// Progress, when set, receives progress events.
	Progress func(Progress)

	// fail, in tests, injects a failure at a named step; errCrash simulates the process dying
	// (no rollback).
	fail func(step string) error
}

// RestoreReport summarizes a finished restore (the `-o json` output of the CLI).
type RestoreReport struct {
	BackupID     string              `json:"backupId"`
	SourceRegion string              `json:"sourceRegion"`
	BackupTime   time.Time           `json:"backupTime"`
	Database     string              `json:"database"`
	Collections  []CollectionRestore `json:"collections"`
	Documents    int64               `json:"documents"`
	Replaced     []string            `json:"replaced,omitempty"`
	Verified     bool                `json:"verified"`
	// Erasures says how many registered erasures were re-applied before the switch (nil when
	// SkipErasureRegister). Counts and checksums above are the backup's, compared before.
	Erasures *erasure.Summary `json:"erasures,omitempty"`
	// ErasureRegisterSkipped is true when the restore ran with SkipErasureRegister.
	ErasureRegisterSkipped bool `json:"erasureRegisterSkipped,omitempty"`
	// AuditEventID is the ID of the restore's backup:restore event, pending in the restore's
	// LogCollection document until published.
	AuditEventID string `json:"auditEventId,omitempty"`
	// AuditEvents locates every audit event the restore wrote (the restore's, then one per
	// re-applied erasure, in the restored patients' tombstones) for inline delivery.
	AuditEvents []audit.Written `json:"-"`
	// UnstoredAuditEvent is the restore's event when the restore log could not be written after
	// the switch (a warning says so): the caller must publish it directly.
	UnstoredAuditEvent *audit.Event `json:"unstoredAuditEvent,omitempty"`
	// LedgerHeld is true when the restored database's audit ledger is held (see holdLedger):
	// appends are refused until caro audit recover recovers it and removes the hold.
	LedgerHeld    bool          `json:"ledgerHeld,omitempty"`
	Duration      time.Duration `json:"durationNs"`
	DocsPerSecond float64       `json:"docsPerSecond"`
}

// CollectionRestore is one collection of a RestoreReport.
type CollectionRestore struct {
	Name      string `json:"name"`
	Documents int64  `json:"documents"`
	SHA256    string `json:"sha256"`
	Indexes   int    `json:"indexes"`
}

var errCrash = errors.New("simulated crash")

func (o *RestoreOptions) step(name string) error {
	if o.fail == nil {
		return nil
	}
	return o.fail(name)
}

func (o *RestoreOptions) loadOpts() loadOptions {
	lo := loadOptions{workers: o.Workers, batchBytes: o.BatchBytes, batchDocs: o.BatchDocs, recount: o.Recount, progress: o.Progress}
	if lo.workers <= 0 {
		lo.workers = DefaultWorkers
	}
	if lo.batchBytes <= 0 {
		lo.batchBytes = DefaultBatchBytes
	}
	// An insert command must stay below 16 MiB including the one document that may exceed the
	// batch budget.
	lo.batchBytes = min(lo.batchBytes, 8<<20)
	if lo.batchDocs <= 0 {
		lo.batchDocs = DefaultBatchDocs
	}
	return lo
}

// Restore restores a backup into the target database without ever leaving it half-restored:
//
//  1. The manifest is authenticated (encryption context, KMS unwrap, MAC) before the target is
//     contacted; then the target is pinged, and (unless SkipPreverify) the whole backup is read
//     once: every chunk authenticated, every count and checksum compared, nothing written.
//  2. An interrupted earlier switch is rolled back (see Recover); a non-empty target is refused
//     unless Replace.
//  3. Every collection is loaded into a staging collection _caro_stage_<suffix>_<name> in the
//     target database (FerretDB cannot rename across databases, and copying twice would halve the
//     speed), each chunk authenticated before its documents are used. Counts and SHA-256 sums are
//     compared with the manifest, the stored counts with the manifest, and the indexes recreated.
//     Any failure drops the staging collections: the target is as it was.
//  4. When the backup or the target holds an audit ledger, the ledger hold is placed first
//     (holdLedger): the audit writer appends nothing until caro audit recover removes it.
//     The switch writes a marker document, renames the existing collections aside
//     (_caro_prev_<suffix>_<name>) and the staging collections into place, one rename at a time
//     (each rename is atomic on its own). A failure rolls the renames back in reverse; a crash
//     leaves the marker, from which Recover (or the next Restore) rolls back.
//  5. Only after the marker says committed are the old collections and the marker dropped.
func Restore(ctx context.Context, o RestoreOptions) (RestoreReport, error) {
	start := time.Now()
	if o.Origin == (audit.Origin{}) {
		o.Origin = audit.Origin{Actor: "job:backup-restore", Interface: audit.InterfaceJob, RequestID: audit.NewEventID()}
	}
	if err := o.Origin.Validate(); err != nil {
		return RestoreReport{}, fmt.Errorf("restore: %w", err)
	}
	b, err := openBackup(ctx, o.Store, o.KMS, o.KeyID, o.BackupID)
	if err != nil {
		return RestoreReport{}, err
	}
	report(o.Progress, Progress{Phase: "manifest", Message: fmt.Sprintf("manifest of %s authenticated: %d collections, %d documents from %s", b.m.BackupID, len(b.m.Collections), b.m.Documents, b.m.SourceRegion)})
	if o.Database == "" {
		o.Database = b.m.Database
	}
	client, done, err := targetClient(ctx, o.Target, o.TargetURI, o.ConnectTimeout)
	if err != nil {
		return RestoreReport{}, err
	}
	defer done()
	db := client.Database(o.Database)
	// Read the erasure register before anything is written: a restore that could not re-apply
	// erasures must not start.
	var erasures []erasure.Erasure
	var register erasure.Source
	if o.SkipErasureRegister {
		report(o.Progress, Progress{Phase: "erasures", Message: "WARNING: the erasure register is skipped (--skip-erasure-register): every patient erased since " +
			b.m.CreatedAt.UTC().Format(time.RFC3339) + " comes back with personal data; run `caro gdpr reapply` as soon as the register is readable"})
	} else {
		register = o.Erasures
		if register == nil {
			register = erasure.BucketsRegister(o.ErasureStoreNames, append([]ObjectStore{o.Store}, o.ErasureStores...)...)
		}
		if erasures, err = register.List(ctx, time.Time{}); err != nil {
			return RestoreReport{}, newErr(ErrErasureRegister, err, hintErasureRegister, "reading the erasure register")
		}
		report(o.Progress, Progress{Phase: "erasures", Message: fmt.Sprintf("erasure register read: %d erasures to re-apply before the switch", len(erasures))})
	}
	if !o.SkipPreverify {
		if err := b.preverify(ctx, o.Progress); err != nil {
			return RestoreReport{}, err
		}
		report(o.Progress, Progress{Phase: "check", Message: fmt.Sprintf("all %d collections of %s authenticated; counts and checksums match the manifest", len(b.m.Collections), b.m.BackupID)})
	}
	if err := Recover(ctx, db); err != nil {
		return RestoreReport{}, err
	}
	existing, err := userCollections(ctx, db)
	if err != nil {
		return RestoreReport{}, newErr(ErrTargetUnreachable, err, hintTarget, "listing collections of %s", o.Database)
	}
	if len(existing) > 0 && !o.Replace {
		return RestoreReport{}, newErr(ErrTargetNotEmpty, nil, hintNotEmpty, "%s has %d collections (%s)", o.Database, len(existing), strings.Join(existing, ", "))
	}
	suffix := b.m.BackupID[len(b.m.BackupID)-8:]
	stageName := func(c string) string { return stagePrefix + suffix + "_" + c }
	prevName := func(c string) string { return prevPrefix + suffix + "_" + c }
	if err := dropPrefixed(ctx, db, stagePrefix+suffix+"_"); err != nil {
		return RestoreReport{}, fmt.Errorf("restore: removing leftover staging collections: %w", err)
	}
	// From here on, every failure drops the staging collections.
	cleanup := func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_ = dropPrefixed(cctx, db, stagePrefix+suffix+"_")
	}
	loaded, err := b.loadInto(ctx, db, stageName, o.loadOpts())
	if err == nil {
		err = o.step("loaded")
	}
	if err != nil {
		if !errors.Is(err, errCrash) {
			cleanup()
		}
		return RestoreReport{}, err
	}
	rep := RestoreReport{BackupID: b.m.BackupID, SourceRegion: b.m.SourceRegion, BackupTime: b.m.CreatedAt, Database: o.Database, Verified: true}
	for _, l := range loaded {
		report(o.Progress, Progress{Phase: "indexes", Collection: l.entry.Name})
		n, err := createIndexes(ctx, db, l.into, l.entry.Indexes)
		if err == nil {
			err = o.step("indexes")
		}
		if err != nil {
			if !errors.Is(err, errCrash) {
				cleanup()
			}
			return RestoreReport{}, fmt.Errorf("restore: recreating indexes of %s: %w (nothing was switched)", l.entry.Name, err)
		}
		rep.Collections = append(rep.Collections, CollectionRestore{Name: l.entry.Name, Documents: l.docs, SHA256: l.sha256, Indexes: n})
		rep.Documents += l.docs
	}
	names := make([]string, 0, len(loaded))
	for _, l := range loaded {
		names = append(names, l.entry.Name)
	}
	var appliedErasures map[string]bool
	if !o.SkipErasureRegister {
		sum, seen, err := applyErasures(ctx, db, stageName, erasures, register, o.Origin, o.Progress)
		appliedErasures = seen
		if err == nil {
			err = o.step("erasures")
		}
		if err != nil {
			if !errors.Is(err, errCrash) {
				cleanup()
			}
			return RestoreReport{}, fmt.Errorf("restore: re-applying registered erasures: %w (nothing was switched; fix the cause and run the restore again)", err)
		}
		rep.Erasures = &sum
	} else {
		rep.ErasureRegisterSkipped = true
	}
	held, placed, err := holdLedger(ctx, db, b.m.BackupID, names, existing, o.Progress)
	if err != nil {
		cleanup()
		return RestoreReport{}, err
	}
	report(o.Progress, Progress{Phase: "switch", Message: fmt.Sprintf("switching %d collections into %s", len(names), o.Database)})
	if err := switchCollections(ctx, db, b.m.BackupID, suffix, names, existing, stageName, prevName, &o); err != nil {
		if !errors.Is(err, errCrash) {
			cleanup()
		}
		if placed && !errors.Is(err, errCrash) && !errors.Is(err, ErrSwitchInterrupted) {
			// Rolled back: the target's ledger is as it was, so this restore's hold goes too (a
			// hold an earlier restore placed stays).
			_, _ = ledger.ReleaseHold(context.WithoutCancel(ctx), db)
		}
		return RestoreReport{}, err
	}
	rep.LedgerHeld = held
	rep.Replaced = existing
	if rep.Erasures != nil {
		// The erasures' events were written into the staging collections, now live under their
		// own names.
		for i := range rep.Erasures.Events {
			rep.Erasures.Events[i].Collection = strings.TrimPrefix(rep.Erasures.Events[i].Collection, stagePrefix+suffix+"_")
		}
		// An erasure the API recorded after the last listing but erased in the old collections
		// before they were switched out would come back: list once more now that the restored data
		// is live. The API records before it erases, so anything recorded later is erased by the
		// API itself in the restored data. The restore log is not written unless this succeeds,
		// so a failover step re-runs the whole restore.
		more, err := reapplyRecorded(ctx, db, erasure.Live(), appliedErasures, register, o.Origin, o.Progress)
		mergeErasures(rep.Erasures, more)
		if err != nil {
			return rep, newErr(ErrErasureRegister, err, hintErasureRegister,
				"the restored data is live in %s, but the erasure register could not be read again after the switch: run `caro gdpr reapply --target <uri> --yes` now, or run the restore again", db.Name())
		}
		if more.Registered > 0 {
			report(o.Progress, Progress{Phase: "erasures", Message: fmt.Sprintf("%d erasures recorded during the switch applied to the restored data", more.Registered)})
		}
	}
	rep.Duration = time.Since(start)
	rep.AuditEvents = append(rep.AuditEvents, writeRestoreLog(ctx, db, &b.m, &rep, o.Origin, o.Progress)...)
	if rep.Erasures != nil {
		rep.AuditEvents = append(rep.AuditEvents, rep.Erasures.Events...)
	}
	if s := rep.Duration.Seconds(); s > 0 {
		rep.DocsPerSecond = float64(rep.Documents) / s
	}
	report(o.Progress, Progress{Phase: "done", Done: rep.Documents, Total: rep.Documents, Message: fmt.Sprintf("restored %d documents into %s", rep.Documents, o.Database)})
	return rep, nil
}

// applyErasures applies the erasures listed before the load to the staging collections, then lists
// the register again and applies those recorded meanwhile, so only the few renames of the switch
// remain between the last listing and the restored data going live (Restore lists once more after
// the switch). It returns the erasures applied by their keys.
func applyErasures(ctx context.Context, db *mongo.Database, stageName func(string) string, first []erasure.Erasure, register erasure.Source, origin audit.Origin, progress func(Progress)) (erasure.Summary, map[string]bool, error) {
	say := func(m string) { report(progress, Progress{Phase: "erasures", Message: m}) }
	cols := erasure.Live().Renamed(stageName)
	sum, err := erasure.Reapply(ctx, erasure.ReapplyOptions{Source: erasure.Listed(first), DB: db, Collections: cols, Origin: origin, Progress: say})
	seen := make(map[string]bool, len(first))
	for _, e := range first {
		seen[erasure.Key(e.TenantID, e.PatientID)] = true
	}
	if err != nil {
		return sum, seen, err
	}
	more, err := reapplyRecorded(ctx, db, cols, seen, register, origin, progress)
	mergeErasures(&sum, more)
	if err == nil && more.Registered > 0 {
		say(fmt.Sprintf("%d erasures recorded during the restore applied as well", more.Registered))
	}
	return sum, seen, err
}

// reapplyRecorded lists the register and applies, to cols, the erasures not in seen, adding them to
// seen.
func reapplyRecorded(ctx context.Context, db *mongo.Database, cols erasure.Collections, seen map[string]bool, register erasure.Source, origin audit.Origin, progress func(Progress)) (erasure.Summary, error) {
	again, err := register.List(ctx, time.Time{})
	if err != nil {
		return erasure.Summary{}, newErr(ErrErasureRegister, err, hintErasureRegister, "reading the erasure register again")
	}
	var recent erasure.Listed
	for _, e := range again {
		if k := erasure.Key(e.TenantID, e.PatientID); !seen[k] {
			seen[k] = true
			recent = append(recent, e)
		}
	}
	if len(recent) == 0 {
		return erasure.Summary{}, nil
	}
	say := func(m string) { report(progress, Progress{Phase: "erasures", Message: m}) }
	return erasure.Reapply(ctx, erasure.ReapplyOptions{Source: recent, DB: db, Collections: cols, Origin: origin, Progress: say})
}

// mergeErasures adds more to sum.
func mergeErasures(sum *erasure.Summary, more erasure.Summary) {
	sum.Registered += more.Registered
	sum.Applied += more.Applied
	sum.Patients += more.Patients
	sum.Notes += more.Notes
	sum.AuditEvents += more.AuditEvents
	sum.Events = append(sum.Events, more.Events...)
}

// Restore's audit event: a restore replaces the whole database, so its event belongs to no tenant.
const (
	ActionRestore    = "backup:restore"
	ResourceDatabase = "database"
)

// writeRestoreLog records the completed restore in LogCollection together with its backup:restore
// event, in one single-document upsert: the record's fields are set and the event added to the
// document's outbox ($set outbox.<id>, $inc outboxPending), so a backup restored twice keeps the
// first restore's event if it is still pending. The event's resource ID is the backup ID; its after
// hash is the backup's plaintext SHA-256 (the state restored, before the re-applied erasures, each
// of which has its own event); there is no before hash (the replaced database is not read). A write
// that fails after the switch is only a warning (the data is in place): the event is then returned
// in RestoreReport.UnstoredAuditEvent for the caller to publish directly.
func writeRestoreLog(ctx context.Context, db *mongo.Database, m *Manifest, rep *RestoreReport, origin audit.Origin, progress func(Progress)) []audit.Written {
	now := time.Now().UTC()
	ev := origin.Event(now, audit.PlatformTenant, ActionRestore, ResourceDatabase, rep.BackupID)
	ev.AfterHash = m.PlaintextSHA256
	rep.AuditEventID = ev.ID
	set := bson.D{{Key: "tenantId", Value: audit.PlatformTenant}, {Key: "restoredAt", Value: now}, {Key: "documents", Value: rep.Documents},
		{Key: "plaintextSha256", Value: m.PlaintextSHA256}, {Key: "sourceRegion", Value: rep.SourceRegion}, {Key: "backupTime", Value: rep.BackupTime}}
	upd, err := audit.WithEvent(bson.D{{Key: "$set", Value: set}}, ev)
	if err == nil {
		// Conditional on the event not being there yet: an attempt that committed but timed out
		// must not add it (and count it pending) twice. If the record exists with the event, the
		// upsert's insert collides on _id: the event is stored.
		filter := bson.D{{Key: "_id", Value: rep.BackupID}, {Key: audit.FieldOutbox + "." + ev.ID, Value: bson.D{{Key: "$exists", Value: false}}}}
		for attempt := range 3 {
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			_, err = db.Collection(LogCollection).UpdateOne(wctx, filter, upd, options.UpdateOne().SetUpsert(true))
			cancel()
			if err == nil || mongo.IsDuplicateKeyError(err) {
				return []audit.Written{{Collection: LogCollection, TenantID: audit.PlatformTenant, DocID: rep.BackupID, Event: ev}}
			}
			time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
		}
	}
	// The data is in place and verified; only the bookkeeping failed.
	report(progress, Progress{Phase: "done", Message: "warning: could not record the restore and its audit event " + ev.ID + " in " + LogCollection + ": " + err.Error() +
		" (the event must be published directly: set CARO_AUDIT_TOPIC_ARN)"})
	rep.UnstoredAuditEvent = &ev
	return nil
}

// carryPendingEvents keeps the audit events still pending in the outboxes of replaced collections
// (renamed aside by a committed switch, about to be dropped): each is added to the outbox of the
// document "replaced-<backup ID>" in LogCollection (tenantId audit.PlatformTenant), which the
// reconciler publishes like any outbox. Only collections with the outbox index (audit.PendingIndex,
// which the API creates on every outbox collection) are scanned. Each event is added by one
// update that is conditional on it not being there yet, so a repeated carry-over (a crash, then
// Recover) neither duplicates nor double-counts it. It returns how many events were added.
func carryPendingEvents(ctx context.Context, db *mongo.Database, backupID string, collections []string) (int, error) {
	docID := "replaced-" + backupID
	log := db.Collection(LogCollection)
	added := 0
	for _, name := range collections {
		coll := db.Collection(name)
		specs, err := coll.Indexes().ListSpecifications(ctx)
		if err != nil {
			return added, fmt.Errorf("listing indexes of %s: %w", name, err)
		}
		if !slices.ContainsFunc(specs, func(s mongo.IndexSpecification) bool { return s.Name == audit.PendingIndexName }) {
			continue
		}
		cur, err := coll.Find(ctx, bson.D{{Key: audit.FieldPending, Value: bson.D{{Key: "$gt", Value: 0}}}},
			options.Find().SetProjection(bson.D{{Key: audit.FieldOutbox, Value: 1}}))
		if err != nil {
			return added, fmt.Errorf("reading pending audit events of %s: %w", name, err)
		}
		var docs []audit.Outbox
		if err := cur.All(ctx, &docs); err != nil {
			return added, fmt.Errorf("reading pending audit events of %s: %w", name, err)
		}
		for _, d := range docs {
			for id, ev := range d.Events {
				field := audit.FieldOutbox + "." + id
				res, err := log.UpdateOne(ctx, bson.D{{Key: "_id", Value: docID}, {Key: field, Value: bson.D{{Key: "$exists", Value: false}}}},
					bson.D{{Key: "$set", Value: bson.D{{Key: "tenantId", Value: audit.PlatformTenant}, {Key: field, Value: audit.OutboxEvent(ev)}}},
						{Key: "$inc", Value: bson.D{{Key: audit.FieldPending, Value: 1}}}},
					options.UpdateOne().SetUpsert(true))
				if mongo.IsDuplicateKeyError(err) {
					continue // already carried over: the document exists and holds the event
				}
				if err != nil {
					return added, fmt.Errorf("keeping pending audit event %s of %s: %w", id, name, err)
				}
				if res.ModifiedCount+res.UpsertedCount > 0 {
					added++
				}
			}
		}
	}
	return added, nil
}

// switchMarker is the document that records a switch in progress (in _caro_restore_marker).
type switchMarker struct {
	ID          string    `bson:"_id"`
	BackupID    string    `bson:"backupId"`
	State       string    `bson:"state"` // "switching" or "committed"
	Suffix      string    `bson:"suffix"`
	Collections []string  `bson:"collections"` // restored collection names
	Existing    []string  `bson:"existing"`    // collections that were in the target before
	Started     time.Time `bson:"started"`
}

// holdLedger places the audit ledger hold (ledger.PlaceHold) before the switch when the restore
// rolls back or replaces a ledger: the backup holds ledger_entries, or the target did. Until the
// ledger is recovered (caro audit recover, which removes the hold) the audit writer appends nothing
// and cuts no checkpoint, so the entries the checkpoints anchor beyond the backup can still be put
// back. A database without a ledger before or after gets no hold. It reports whether db is held
// and whether this call placed the hold (not an earlier restore).
func holdLedger(ctx context.Context, db *mongo.Database, backupID string, names, existing []string, progress func(Progress)) (held, placed bool, err error) {
	if !slices.Contains(names, ledger.EntriesCollection) && !slices.Contains(existing, ledger.EntriesCollection) {
		return false, false, nil
	}
	placed, err = ledger.PlaceHold(ctx, db, ledger.Hold{BackupID: backupID, Time: time.Now().UTC(),
		Reason: "database restored from backup " + backupID + ": the audit ledger is rolled back to the backup's time"})
	if err != nil {
		return false, false, fmt.Errorf("restore: %w (nothing was switched; run the restore again)", err)
	}
	msg := "audit ledger held: appends are refused until `caro audit recover --target <uri> ...` recovers the entries the checkpoints anchor"
	if !placed {
		msg = "audit ledger already held by an earlier restore not yet recovered: it stays held until `caro audit recover`"
	}
	report(progress, Progress{Phase: "switch", Message: msg})
	return true, placed, nil
}

func switchCollections(ctx context.Context, db *mongo.Database, backupID, suffix string, names, existing []string, stageName, prevName func(string) string, o *RestoreOptions) error {
	marker := db.Collection(markerCollection)
	m := switchMarker{ID: markerID, BackupID: backupID, State: "switching", Suffix: suffix, Collections: names, Existing: existing, Started: time.Now().UTC()}
	if _, err := marker.InsertOne(ctx, m); err != nil {
		return fmt.Errorf("restore: writing the switch marker: %w (nothing was switched)", err)
	}
	type rename struct{ from, to string }
	var done []rename
	rollback := func(cause error) error {
		if errors.Is(cause, errCrash) {
			return cause
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		for i := len(done) - 1; i >= 0; i-- {
			if err := renameCollection(rctx, db, done[i].to, done[i].from); err != nil {
				return newErr(ErrSwitchInterrupted, errors.Join(cause, err), hintRecover, "switch of %s failed and could not be rolled back", db.Name())
			}
		}
		_ = marker.Drop(rctx)
		return fmt.Errorf("restore: switching collections into %s failed, rolled back, the target is as it was: %w", db.Name(), cause)
	}
	step := func(from, to, name string) error {
		if err := o.step(name); err != nil {
			return err
		}
		if err := renameCollection(ctx, db, from, to); err != nil {
			return err
		}
		done = append(done, rename{from, to})
		return nil
	}
	for _, e := range existing {
		if err := step(e, prevName(e), "rename-existing:"+e); err != nil {
			return rollback(err)
		}
	}
	for _, c := range names {
		if err := step(stageName(c), c, "rename-stage:"+c); err != nil {
			return rollback(err)
		}
	}
	if err := o.step("commit"); err != nil {
		return rollback(err)
	}
	if _, err := marker.UpdateByID(ctx, markerID, bson.D{{Key: "$set", Value: bson.D{{Key: "state", Value: "committed"}}}}); err != nil {
		return rollback(err)
	}
	// Committed: the restore has succeeded and the old data is no longer needed. A failure from
	// here on leaves only garbage (previous collections, the marker) that Recover, run by the
	// next restore, removes; it does not fail this restore.
	if err := o.step("cleanup"); errors.Is(err, errCrash) {
		return err
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	prevs := make([]string, 0, len(existing))
	for _, e := range existing {
		prevs = append(prevs, prevName(e))
	}
	if n, err := carryPendingEvents(cctx, db, backupID, prevs); err != nil {
		// Keep the previous collections (and the marker): the next restore's Recover carries
		// their pending events over before it drops them.
		report(o.Progress, Progress{Phase: "switch", Message: "warning: the switch committed, but the audit events still pending in the replaced collections could not be kept yet (the replaced collections stay until the next restore, which keeps them): " + err.Error()})
		return nil
	} else if n > 0 {
		report(o.Progress, Progress{Phase: "switch", Message: fmt.Sprintf("%d audit events still pending in the replaced collections kept in %s for the reconciler", n, LogCollection)})
	}
	for _, p := range prevs {
		_ = db.Collection(p).Drop(cctx)
	}
	if err := marker.Drop(cctx); err != nil {
		report(o.Progress, Progress{Phase: "switch", Message: "warning: the switch committed but its marker could not be dropped (the next restore removes it): " + err.Error()})
	}
	return nil
}

// Recover finishes or undoes an interrupted restore switch in db, using the marker it left: a
// switch that had not committed is rolled back (restored collections moved back to staging,
// previous collections moved back into place, staging dropped); a committed one has its previous
// collections dropped. Without a marker it does nothing. It is idempotent.
func Recover(ctx context.Context, db *mongo.Database) error {
	var m switchMarker
	err := db.Collection(markerCollection).FindOne(ctx, bson.D{{Key: "_id", Value: markerID}}).Decode(&m)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil
	}
	if err != nil {
		return newErr(ErrTargetUnreachable, err, hintTarget, "reading the restore marker of %s", db.Name())
	}
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return newErr(ErrTargetUnreachable, err, hintTarget, "listing collections of %s", db.Name())
	}
	present := map[string]bool{}
	for _, n := range names {
		present[n] = true
	}
	has := func(n string) bool { return present[n] }
	move := func(from, to string) error {
		if err := renameCollection(ctx, db, from, to); err != nil {
			return err
		}
		present[from], present[to] = false, true
		return nil
	}
	stage := func(c string) string { return stagePrefix + m.Suffix + "_" + c }
	prev := func(c string) string { return prevPrefix + m.Suffix + "_" + c }
	fail := func(err error) error {
		return newErr(ErrSwitchInterrupted, err, "check the server and run the restore again", "backup %s into %s", m.BackupID, db.Name())
	}
	if m.State != "committed" {
		// A restored collection is in place exactly when its staging name is gone; the existing
		// collections were all moved aside before any staging collection moved in.
		for _, c := range m.Collections {
			if has(c) && !has(stage(c)) {
				if err := move(c, stage(c)); err != nil {
					return fail(err)
				}
			}
		}
		for _, e := range m.Existing {
			if has(prev(e)) && !has(e) {
				if err := move(prev(e), e); err != nil {
					return fail(err)
				}
			}
		}
		if err := dropPrefixed(ctx, db, stagePrefix+m.Suffix+"_"); err != nil {
			return fail(err)
		}
	} else {
		prevs := make([]string, 0, len(m.Existing))
		for _, e := range m.Existing {
			if has(prev(e)) {
				prevs = append(prevs, prev(e))
			}
		}
		if _, err := carryPendingEvents(ctx, db, m.BackupID, prevs); err != nil {
			return fail(err)
		}
		if err := dropPrefixed(ctx, db, prevPrefix+m.Suffix+"_"); err != nil {
			return fail(err)
		}
	}
	if err := db.Collection(markerCollection).Drop(ctx); err != nil {
		return fail(err)
	}
	return nil
}

func renameCollection(ctx context.Context, db *mongo.Database, from, to string) error {
	admin := db.Client().Database("admin")
	return admin.RunCommand(ctx, bson.D{
		{Key: "renameCollection", Value: db.Name() + "." + from},
		{Key: "to", Value: db.Name() + "." + to},
	}).Err()
}

// userCollections lists db's collections except reserved and system ones.
func userCollections(ctx context.Context, db *mongo.Database) ([]string, error) {
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return nil, err
	}
	out := names[:0]
	for _, n := range names {
		if strings.HasPrefix(n, reservedPrefix) || strings.HasPrefix(n, "system.") {
			continue
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}

func dropPrefixed(ctx context.Context, db *mongo.Database, prefix string) error {
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return err
	}
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			if err := db.Collection(n).Drop(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// targetClient returns the injected client or connects to uri, classifying failure as
// ErrTargetUnreachable. done releases a client it created.
func targetClient(ctx context.Context, c *mongo.Client, uri string, timeout time.Duration) (*mongo.Client, func(), error) {
	if timeout <= 0 {
		timeout = 20 * time.Second
	}
	if c != nil {
		pctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if err := c.Ping(pctx, nil); err != nil {
			return nil, nil, newErr(ErrTargetUnreachable, err, hintTarget, "pinging the target")
		}
		return c, func() {}, nil
	}
	if uri == "" {
		return nil, nil, errors.New("restore: no target: pass --target <mongodb-uri>")
	}
	c, err := connect(ctx, uri, timeout)
	if err != nil {
		return nil, nil, newErr(ErrTargetUnreachable, err, hintTarget, "connecting to %s", redactURI(uri))
	}
	return c, func() { _ = c.Disconnect(context.WithoutCancel(ctx)) }, nil
}

// redactURI removes credentials from a MongoDB URI before it is printed.
func redactURI(uri string) string {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return "<invalid uri>"
	}
	if at := strings.LastIndex(strings.SplitN(rest, "/", 2)[0], "@"); at >= 0 {
		rest = "***@" + rest[at+1:]
	}
	if q := strings.Index(rest, "?"); q >= 0 {
		rest = rest[:q]
	}
	return scheme + "://" + rest
}

// RestoreRecord is one completed restore as recorded in the target's LogCollection (the document
// also holds tenantId audit.PlatformTenant and the outbox of its audit events).
type RestoreRecord struct {
	BackupID        string    `bson:"_id" json:"backupId"`
	RestoredAt      time.Time `bson:"restoredAt" json:"restoredAt"`
	Documents       int64     `bson:"documents" json:"documents"`
	PlaintextSHA256 string    `bson:"plaintextSha256" json:"plaintextSha256"`
	SourceRegion    string    `bson:"sourceRegion" json:"sourceRegion"`
	BackupTime      time.Time `bson:"backupTime" json:"backupTime"`
}

// Restored reports whether backupID was restored into db (completely: the record is written only
// after the switch committed) and returns its record. A failover step uses it as its Check.
func Restored(ctx context.Context, db *mongo.Database, backupID string) (*RestoreRecord, error) {
	var rec RestoreRecord
	err := db.Collection(LogCollection).FindOne(ctx, bson.D{{Key: "_id", Value: backupID}}).Decode(&rec)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, newErr(ErrTargetUnreachable, err, hintTarget, "reading %s of %s", LogCollection, db.Name())
	}
	return &rec, nil
}
