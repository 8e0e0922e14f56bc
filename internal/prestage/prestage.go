package prestage

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/erasure"
	"github.com/carohealth/platform/internal/restore"
)

// Options configure a pre-stage.
type Options struct {
	// Target is the standby's database server, Database its application database.
	Target   *mongo.Client
	Database string
	// Store is the bucket that holds the backups in the standby region (and the records).
	Store backup.ObjectStore
	KMS   backup.KMS
	// AllowedKeys are the keys the backups may be encrypted under (the standby's replica of the
	// primary's backup key).
	AllowedKeys []string
	// Erasures is the erasure register (both regions' buckets).
	Erasures erasure.Source
	// Region is the standby region; Source the region whose backups are staged ("" any).
	Region string
	Source string
	// BackupID is the backup to stage ("" = the newest readable one).
	BackupID string
	// Workers, BatchDocs tune the loader.
	Workers   int
	BatchDocs int
	// Settle is the wait for the maintenance switch (0: maintenance.Settle).
	Settle   time.Duration
	Progress func(backup.Progress)
	Now      func() time.Time
}

func (o *Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// ErrLive: the database serves traffic (it is not a standby): nothing is pre-staged into it.
var ErrLive = errors.New("the database is live")

// RestoreOptions are the protocol's options of a pre-stage.
func (o *Options) RestoreOptions() restore.Options {
	return restore.Options{Target: o.Target, Database: o.Database, Replace: true, Standby: true, Erasures: o.Erasures,
		Origin: audit.Origin{Actor: "job:standby-prestage", Interface: audit.InterfaceJob, RequestID: audit.NewEventID()},
		From:   o.Source, Settle: o.Settle, Progress: o.Progress}
}

// BackupSource is the protocol's source of backup id (loaded while authenticated: nothing is switched in unless all of it verified).
func (o *Options) BackupSource(id string) restore.BackupSource {
	return restore.BackupSource{ReadOptions: backup.ReadOptions{BackupID: id, Store: o.Store, KMS: o.KMS, AllowedKeys: o.AllowedKeys},
		Workers: o.Workers, BatchDocs: o.BatchDocs, SkipPreverify: true}
}

// Plan is what a pre-stage is about to do.
type Plan struct {
	// Record is the pre-stage's record so far (state running), or its final one when there is
	// nothing to do (Skip).
	Record Record
	// Skip is true when nothing is to be staged: the newest backup is staged already (state
	// current), or the database is live (ErrLive in Reason).
	Skip   bool
	Reason string
	// Previous is the database's marker before the pre-stage (what it replaces).
	Previous *restore.Marker
}

// Prepare picks the backup to stage and checks the standby's database: it must not be live (user
// data without a staged copy's marker: the primary, or a standby a failover activated), and the
// backup must not be staged already. It records the pre-stage as running.
func Prepare(ctx context.Context, o Options) (*Plan, error) {
	if o.Target == nil || o.Store == nil {
		return nil, errors.New("prestage: the standby's database and backup bucket are required")
	}
	if o.Database == "" {
		o.Database = backup.DefaultDatabase
	}
	rec := Record{Region: o.Region, Database: o.Database, StartedAt: o.now().UTC(), BackupID: o.BackupID}
	if rec.BackupID == "" {
		list, err := backup.List(ctx, o.Store, o.now())
		if err != nil {
			return nil, fmt.Errorf("prestage: listing the backups: %w", err)
		}
		for _, b := range list {
			if b.Problem == "" && (o.Source == "" || b.SourceRegion == o.Source) {
				rec.BackupID, rec.SourceRegion, rec.BackupTime = b.BackupID, b.SourceRegion, b.CreatedAt
				break
			}
		}
		if rec.BackupID == "" {
			return nil, fmt.Errorf("prestage: no readable backup of %s in the standby's bucket: check the backup schedule and the bucket's replication", sourceName(o.Source))
		}
	}
	db := o.Target.Database(o.Database)
	m, err := restore.ReadMarker(ctx, db)
	if err != nil {
		return nil, err
	}
	p := &Plan{Record: rec, Previous: m}
	if m != nil && m.Staged != nil {
		p.Record.Staged = m.BackupID
	}
	if m != nil && m.InProgress != nil && o.now().Sub(m.InProgress.Heartbeat) < restore.HeartbeatStale {
		r := m.InProgress
		p.Skip, p.Reason = true, fmt.Sprintf("restore run %s of %s is running (heartbeat %s ago): it is not disturbed", r.ID, r.BackupID, o.now().Sub(r.Heartbeat).Round(time.Second))
		return p, nil
	}
	if live, why, err := isLive(ctx, db, m); err != nil {
		return nil, err
	} else if live {
		p.Skip, p.Reason = true, why
		return p, nil
	}
	if m != nil && m.Staged != nil && m.InProgress == nil && m.BackupID == rec.BackupID {
		p.Skip, p.Reason = true, fmt.Sprintf("backup %s is staged already (verified %s)", rec.BackupID, m.Staged.VerifiedAt.Format(time.RFC3339))
		p.Record.State, p.Record.Documents, p.Record.Verified, p.Record.FinishedAt = StateCurrent, m.Documents, true, o.now().UTC()
		return p, Write(ctx, o.Store, p.Record)
	}
	p.Record.State = StateRunning
	return p, Write(ctx, o.Store, p.Record)
}

// isLive reports whether db serves traffic: it holds application collections and its marker does
// not record them as a staged copy (a standby a failover activated, or the primary itself).
func isLive(ctx context.Context, db *mongo.Database, m *restore.Marker) (bool, string, error) {
	inv, err := restore.Take(ctx, db)
	if err != nil {
		return false, "", err
	}
	if len(inv.Collections) == 0 || (m != nil && m.Staged != nil) {
		return false, "", nil
	}
	why := fmt.Sprintf("%s: %s holds %s and no pre-staged copy", ErrLive, db.Name(), inv)
	if m != nil && m.PlanID != "" {
		why += fmt.Sprintf(" (failover plan %s restored backup %s into it)", m.PlanID, m.BackupID)
	}
	return true, why + ": this region serves traffic, nothing is pre-staged here", nil
}

// Finish records a pre-stage that completed (rep) and drops the copy it replaced when that was the
// previous pre-staged copy, untouched (it came from a backup that is still in the bucket); anything
// else it replaced stays kept aside, and the record says so.
func Finish(ctx context.Context, o Options, p *Plan, rep *restore.Report, engine string) (Record, error) {
	r := p.Record
	r.State, r.Documents, r.Verified, r.Staged, r.Run, r.Engine = StateStaged, rep.Documents, rep.Verified, r.BackupID, rep.Run, engine
	r.FinishedAt = o.now().UTC()
	r.Seconds = r.FinishedAt.Sub(r.StartedAt).Seconds()
	if rep.SourceRegion != "" {
		r.SourceRegion, r.BackupTime = rep.SourceRegion, rep.BackupTime
	}
	if len(rep.Replaced) > 0 {
		if previousCopy(p.Previous, rep.Replaced) {
			if _, err := restore.DiscardKept(ctx, o.Target.Database(o.Database), rep.Run); err != nil {
				r.Problem = fmt.Sprintf("the previous staged copy (kept aside by run %s) could not be dropped: %v; `caro backup discard-replaced --run %s` drops it", rep.Run, err, rep.Run)
			}
		} else {
			r.Problem = fmt.Sprintf("the standby's database held data that was not a staged copy; it is kept aside by run %s (caro backup discard-replaced)", rep.Run)
		}
	}
	return r, Write(ctx, o.Store, r)
}

// previousCopy reports whether replaced is exactly the staged copy m recorded.
func previousCopy(m *restore.Marker, replaced []restore.Replaced) bool {
	if m == nil || m.Staged == nil {
		return false
	}
	got := map[string]int64{}
	for _, r := range replaced {
		got[r.Collection] = r.Documents
	}
	return maps.Equal(got, m.Staged.Inventory.Collections)
}

// Fail records a pre-stage that failed: the database keeps what it holds (the marker says which copy).
func Fail(ctx context.Context, o Options, p *Plan, cause error, engine string) Record {
	r := p.Record
	r.State, r.Engine, r.FinishedAt = StateFailed, engine, o.now().UTC()
	r.Seconds = r.FinishedAt.Sub(r.StartedAt).Seconds()
	r.Problem = cause.Error()
	r.Staged = ""
	if m, err := restore.ReadMarker(ctx, o.Target.Database(o.Database)); err == nil && m != nil && m.Staged != nil {
		r.Staged = m.BackupID
	}
	if err := Write(ctx, o.Store, r); err != nil {
		r.Problem += "; " + err.Error()
	}
	return r
}

// Run pre-stages one backup in this process (the drill; a small database): Prepare, the protocol
// as a standby run, Finish or Fail. A live database or a backup staged already is no error: the
// record says so.
func Run(ctx context.Context, o Options) (Record, error) {
	if o.Database == "" {
		o.Database = backup.DefaultDatabase
	}
	p, err := Prepare(ctx, o)
	if err != nil {
		return Record{}, err
	}
	if p.Skip {
		p.Record.Problem = p.Reason
		return p.Record, nil
	}
	rep, err := restore.Backup(ctx, o.RestoreOptions(), o.BackupSource(p.Record.BackupID))
	if err != nil {
		return Fail(ctx, o, p, err, ""), err
	}
	return Finish(ctx, o, p, rep, "")
}

func sourceName(s string) string {
	if s == "" {
		return "the primary"
	}
	return s
}
