package restore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/erasure"
	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/internal/maintenance"
)

// LedgerRecovery recovers the audit ledger of a restored database (the entries the restore rolled
// back, from the signed checkpoints) and removes the ledger hold. It never fails the restore: it
// returns a one-line summary and whether the ledger was recovered; when it was not, the hold stays
// and the summary says what to run.
type LedgerRecovery func(ctx context.Context, db *mongo.Database) (summary string, recovered bool)

// AfterRestore is the LedgerRecovery of the failover providers: ledger.RecoverAfterRestore with o
// (its Store is the restored database's ledger).
func AfterRestore(o ledger.AfterRestoreOptions) LedgerRecovery {
	return func(ctx context.Context, db *mongo.Database) (string, bool) {
		o.Store = ledger.NewMongoStore(db)
		return ledger.RecoverAfterRestore(ctx, o)
	}
}

// Deliver publishes audit events a restore wrote (stored pending in db, which the API's reconciler
// publishes otherwise) right away; unstored is an event that could not be stored and can only be
// published. It only warns: the events are safe either way.
type Deliver func(ctx context.Context, db *mongo.Database, events []audit.Written, unstored *audit.Event)

// Options configure a restore; every kind of restore takes them.
type Options struct {
	// Target is the connected target server (pinged first); Database the target database (default:
	// the backup's database, or backup.DefaultDatabase for a snapshot).
	Target   *mongo.Client
	Database string
	// Replace allows restoring over a database that holds collections: the switch moves them aside
	// and keeps them (Report.Replaced) until DiscardReplaced removes them.
	Replace bool
	// Expect is what the target held when the restore was planned (the failover plan's listing).
	// When set, the restore refuses before it switches if the target holds anything else, naming
	// the change (ErrTargetChanged), unless AcceptChanges (the operator's --yes).
	Expect        *Inventory
	AcceptChanges bool
	// Erasures is the erasure register, re-applied to the restored data before it goes live and
	// again right after (required unless SkipErasureRegister). SkipErasureRegister restores without
	// it: every patient erased since the backup comes back (only when the operator explicitly
	// accepts that and runs `caro gdpr reapply` as soon as the register is readable).
	Erasures            erasure.Source
	SkipErasureRegister bool
	// RetentionYears is the region's retentionYears: records whose retention ended (internal/retention,
	// the daily job's rule) are expired in the restored data before the restore completes, so an
	// older backup does not bring them back until the next daily run. 0: not applied.
	RetentionYears int
	// Ledger recovers the restored audit ledger after the switch (nil: the hold stays and the report
	// says what to run).
	Ledger LedgerRecovery
	// Deliver publishes the restore's audit events right away (nil: the reconciler publishes them).
	Deliver Deliver
	// Origin is who runs the restore and the run's request ID, carried by the restore's audit event
	// and every re-applied erasure's. Default: actor "job:backup-restore", interface job.
	Origin audit.Origin
	// PlanID names the failover plan the restore belongs to (recorded in the marker): a restore of
	// the same plan and backup that already completed is not run again.
	PlanID string
	// From is the source region recorded in the marker (default: the backup's).
	From string
	// Settle is how long the restore waits after the maintenance switch is on before it relies on
	// no more writes arriving (default maintenance.Settle). The load runs meanwhile.
	Settle time.Duration
	// Progress receives progress events (messages in Message).
	Progress func(backup.Progress)
	// Standby marks a standby's pre-stage: the marker records the staged copy (StagedCopy) and the
	// maintenance switch is handed to StandbyOwner at the end instead of being turned off.
	Standby bool

	// engine names the engine execution of a run started by Begin.
	engine string
	hooks  *hooks
}

// hooks let the package's tests inject failures and decide liveness.
type hooks struct {
	// fail is called at named steps; errCrash simulates the process dying there (no rollback).
	fail func(step string) error
	// dead, when set, decides whether an interrupted run's process is gone.
	dead func(Run) bool
}

var errCrash = errors.New("simulated crash")

func (o *Options) step(name string) error {
	if o.hooks == nil || o.hooks.fail == nil {
		return nil
	}
	return o.hooks.fail(name)
}

func (o *Options) say(phase, format string, args ...any) {
	if o.Progress != nil {
		o.Progress(backup.Progress{Phase: phase, Message: fmt.Sprintf(format, args...)})
	}
}

func (o *Options) settle() time.Duration {
	if o.Settle > 0 {
		return o.Settle
	}
	return maintenance.Settle
}

// prepare checks the options and fills the defaults.
func (o *Options) prepare() error {
	if o.Target == nil {
		return errors.New("restore: no target: pass --target <mongodb-uri>")
	}
	if o.Origin == (audit.Origin{}) {
		o.Origin = audit.Origin{Actor: "job:backup-restore", Interface: audit.InterfaceJob, RequestID: audit.NewEventID()}
	}
	if err := o.Origin.Validate(); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if o.Erasures == nil && !o.SkipErasureRegister {
		return errors.New("restore: no erasure register: a restore re-applies the erasures made since the backup; give the register (the backup buckets' erasures/), or skip it explicitly")
	}
	return nil
}

// db pings the target and returns the database.
func (o *Options) db(ctx context.Context) (*mongo.Database, error) {
	pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := o.Target.Ping(pctx, nil); err != nil {
		return nil, newErr(backup.ErrTargetUnreachable, err, hintTarget+"; nothing was written", "pinging the target")
	}
	return o.Target.Database(o.Database), nil
}

// newRun starts the description of a run of this process.
func (o *Options) newRun(kind, backupID string) Run {
	var b [4]byte
	_, _ = rand.Read(b[:])
	r := Run{ID: hex.EncodeToString(b[:]), Kind: kind, BackupID: backupID, PlanID: o.PlanID, From: o.From, Phase: PhaseStaging,
		EventID: audit.NewEventID(), Origin: o.Origin}
	r.Owner = fmt.Sprintf("restore %s (%s %s)", r.ID, kind, backupID)
	thisProcess(&r, time.Now())
	r.Engine, r.Standby = o.engine, o.Standby
	return r
}

// recoverOptions is what Recover needs of o.
func (o *Options) dead(r Run) bool {
	if o.hooks != nil && o.hooks.dead != nil {
		return o.hooks.dead(r)
	}
	return runDead(r, time.Now())
}
