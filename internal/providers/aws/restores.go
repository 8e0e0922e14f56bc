package aws

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/erasure"
	"github.com/carohealth/platform/internal/failover"
	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/internal/prestage"
	"github.com/carohealth/platform/internal/restore"
)

// The names the operator knows these settings by (the configuration's environment overrides);
// messages name them so an error says what to set. Nothing in this package reads them.
const (
	SettingTargetMongoURI  = "the setting failover-mongodb-uri"
	SettingOwnBackupBucket = "CARO_FAILOVER_BACKUP_OWN_BUCKET"
	SettingLedgerPublicKey = "CARO_LEDGER_PUBLIC_KEY"
	SettingLedgerBucket    = "CARO_FAILOVER_LEDGER_BUCKET"
	SettingLedgerOwnBucket = "CARO_FAILOVER_LEDGER_OWN_BUCKET"
)

// OutputOwnBackupBucket is the platform stack output with the region's own backup bucket (its
// erasure register); OutputOwnBackupKeyArn, when the stack exports it, the region's own backup key.
const (
	OutputOwnBackupBucket = "OwnBackupBucket"
	OutputOwnBackupKeyArn = "OwnBackupKeyArn"
)

// RestoreSettings are what the restore steps need from outside AWS and the stack outputs, resolved
// by the caller's configuration (none is read from the environment here).
type RestoreSettings struct {
	// TargetMongoURI is the target region's database connection string (it holds credentials and is
	// never printed). Required by both restores.
	TargetMongoURI string
	// Database is the application database (default backup.DefaultDatabase).
	Database string
	// AcceptedBackupKeys are KMS keys the backups may be encrypted under besides the target stack's
	// BackupKeyArn (its replica of the peer's multi-Region key) and OwnBackupKeyArn: the target
	// region's own backup key until the stack exports it.
	AcceptedBackupKeys []string
	// OwnBackupBucket overrides the target stack's OwnBackupBucket output.
	OwnBackupBucket string
	// LedgerReplicaBucket and LedgerOwnBucket override the target's checkpoint buckets (default
	// caro-ledger-replica-<account>-<target> and caro-ledger-<account>-<target>).
	LedgerReplicaBucket, LedgerOwnBucket string
	// LedgerPublicKey or LedgerPublicKeys (a key ring, for a failback) are the pinned ledger keys
	// the checkpoints are verified with; LedgerKeyProblem says why none is usable ("" when one is).
	LedgerPublicKey  crypto.PublicKey
	LedgerPublicKeys ledger.KeyRing
	LedgerKeyProblem string
	// RetentionYears is the region's retention of application data: the restore expires what is
	// past it (zero: not applied).
	RetentionYears int
	// LedgerRetentionYears and LedgerMaxAge are the ledger's (zero: the defaults).
	LedgerRetentionYears int
	LedgerMaxAge         time.Duration
	// Settle is the wait for the maintenance switch (zero: maintenance.Settle).
	Settle time.Duration
	// Origin names who runs the restore (the operator, interface job) for its audit events
	// (default: job:failover-restore). Deliver publishes them right away (optional).
	Origin  func(ctx context.Context, region string) audit.Origin
	Deliver func(ctx context.Context, region string, db *mongo.Database, events []audit.Written, unstored *audit.Event)
	// Engine, when set, loads a backup the target has not staged on the restore engine in the
	// target region (the cold path) instead of in this process. When it is nil, the target's
	// pre-stage state machine (stack output PrestageStateMachineArn) is that engine, run through
	// the target's Step Functions client; without either, this process loads.
	Engine RestoreEngine
	// BackupInterval is the backup schedule (setting backup-every-hours; zero: the default), for
	// the RPO the plan states.
	BackupInterval time.Duration
}

// engine returns the restore engine of the target, if any: the plan's execution name makes a
// resumed step follow the execution its interrupted run started.
func (s *RestoreSettings) engine(c *Clients, outs map[string]string, plan *failover.Plan) RestoreEngine {
	if s.Engine != nil {
		return s.Engine
	}
	arn := outs[OutputPrestageStateMachineArn]
	if arn == "" || c == nil || c.StepFunctions == nil {
		return nil
	}
	return &StateMachineEngine{Client: c.StepFunctions, StateMachineArn: arn, Name: "failover-" + plan.ID}
}

// Restores serves the restore step from logical backups: the backups replicated to the target's
// bucket, decrypted with the target's replica of the multi-Region key, restored by the post-restore
// protocol (internal/restore). It is the provider's Catalog, Restorer and Identities.
type Restores struct{ Settings *RestoreSettings }

var (
	_ BackupCatalog     = Restores{}
	_ Restorer          = Restores{}
	_ IdentitySource    = Restores{}
	_ RestoreInputs     = Restores{}
	_ RestoreAdvisories = Restores{}
	_ TargetLister      = Restores{}
)

func backupStore(c *Clients, bucket string) (backup.ObjectStore, error) {
	s3c, ok := c.S3.(*s3.Client)
	if !ok {
		return nil, errors.New("backup store needs an S3 client")
	}
	return backup.NewS3Store(s3c, bucket, ""), nil
}

func backupKMS(c *Clients) (backup.KMS, error) {
	k, ok := c.KMS.(*kms.Client)
	if !ok {
		return nil, errors.New("backup KMS needs a KMS client")
	}
	return backup.NewAWSKMS(k), nil
}

// acceptedKeys are the keys a backup in the target may be encrypted under.
func (s *RestoreSettings) acceptedKeys(outs map[string]string) []string {
	var keys []string
	for _, k := range append([]string{outs[OutputBackupKeyArn], outs[OutputOwnBackupKeyArn]}, s.AcceptedBackupKeys...) {
		if k != "" && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

func (s *RestoreSettings) database() string {
	if s.Database != "" {
		return s.Database
	}
	return backup.DefaultDatabase
}

// targetDatabaseTimeout bounds each operation on the target database, so a target that stops
// answering fails the step (which can be run again) rather than hanging it.
const targetDatabaseTimeout = 30 * time.Second

// connect reaches the target database.
func (s *RestoreSettings) connect(ctx context.Context) (*mongo.Client, error) {
	if s.TargetMongoURI == "" {
		return nil, fmt.Errorf("no target database: set %s to the target region's connection string (on-call vault)", SettingTargetMongoURI)
	}
	c, err := mongo.Connect(options.Client().ApplyURI(s.TargetMongoURI).SetTimeout(targetDatabaseTimeout))
	if err != nil {
		return nil, fmt.Errorf("connecting to the target database %s: %w", backup.RedactURI(s.TargetMongoURI), err)
	}
	return c, nil
}

// restoreProgressEvery is how often a running restore step prints its counts.
const restoreProgressEvery = 2 * time.Second

// options are the protocol's options for a restore step of plan.
func (s *RestoreSettings) options(ctx context.Context, c *Clients, client *mongo.Client, plan *failover.Plan, register erasure.Source, progress failover.Progress) (restore.Options, error) {
	origin := audit.Origin{Actor: "job:failover-restore", Interface: audit.InterfaceJob, RequestID: audit.NewEventID()}
	if s.Origin != nil {
		origin = s.Origin(ctx, plan.To)
	}
	o := restore.Options{Target: client, Database: s.database(), Replace: true, PlanID: plan.ID, From: plan.From, Erasures: register, RetentionYears: s.RetentionYears,
		Ledger: s.LedgerRecovery(ctx, c, plan, progress), Origin: origin, Settle: s.Settle, AcceptChanges: failover.OperatorConfirmed(ctx),
		Progress: restore.ProgressLines(progress, restoreProgressEvery)}
	if s.Deliver != nil {
		o.Deliver = func(ctx context.Context, db *mongo.Database, events []audit.Written, unstored *audit.Event) {
			s.Deliver(ctx, plan.To, db, events, unstored)
		}
	}
	inv, ok, err := restore.PlannedInventory(plan.Settings)
	if err != nil {
		return o, err
	}
	if ok {
		o.Expect = &inv
	}
	return o, nil
}

// Latest implements BackupCatalog: the newest readable backup of source in the target's bucket.
func (r Restores) Latest(ctx context.Context, c *Clients, outs map[string]string, source, _ string) (failover.BackupRef, error) {
	store, err := backupStore(c, outs[OutputBackupBucket])
	if err != nil {
		return failover.BackupRef{}, err
	}
	list, err := backup.List(ctx, store, time.Now())
	if err != nil {
		return failover.BackupRef{}, err
	}
	for _, b := range list {
		if b.Problem == "" && b.SourceRegion == source {
			return failover.BackupRef{ID: b.BackupID, TakenAt: b.CreatedAt, Records: b.Documents,
				Location: "s3://" + outs[OutputBackupBucket] + "/" + backup.ManifestKey(b.BackupID)}, nil
		}
	}
	return failover.BackupRef{}, fmt.Errorf("no readable backup of %s in s3://%s: check the replication of the backup bucket", source, outs[OutputBackupBucket])
}

// Restored implements Restorer: the target's marker names this plan's backup and plan, and no
// restore is in progress.
func (r Restores) Restored(ctx context.Context, _ *Clients, _ map[string]string, plan *failover.Plan) (bool, error) {
	return r.Settings.restored(ctx, plan)
}

func (s *RestoreSettings) restored(ctx context.Context, plan *failover.Plan) (bool, error) {
	c, err := s.connect(ctx)
	if err != nil {
		return false, err
	}
	defer c.Disconnect(context.WithoutCancel(ctx))
	_, done, err := restore.Restored(ctx, c.Database(s.database()), plan.Backup.ID, plan.ID)
	return done, err
}

// Restore implements Restorer: the plan's backup, restored by the protocol with the target's
// accepted keys, the erasure register of both backup buckets, the ledger recovery and the plan's
// listing of the target.
func (r Restores) Restore(ctx context.Context, c *Clients, outs map[string]string, plan *failover.Plan, progress failover.Progress) (string, error) {
	s := r.Settings
	store, err := backupStore(c, outs[OutputBackupBucket])
	if err != nil {
		return "", err
	}
	bk, err := backupKMS(c)
	if err != nil {
		return "", err
	}
	register, _, err := s.erasureRegister(c, outs, plan)
	if err != nil {
		return "", err
	}
	client, err := s.connect(ctx)
	if err != nil {
		return "", err
	}
	defer client.Disconnect(context.WithoutCancel(ctx))
	o, err := s.options(ctx, c, client, plan, register, progress)
	if err != nil {
		return "", err
	}
	src := restore.BackupSource{ReadOptions: backup.ReadOptions{BackupID: plan.Backup.ID, Store: store, KMS: bk, AllowedKeys: s.acceptedKeys(outs)}}
	// What the standby staged decides the path (restore.Choose): activate it, wait for its
	// pre-stage, or load the backup (on the engine when the target has one).
	var cold func(context.Context) (*restore.Report, error)
	if e := s.engine(c, outs, plan); e != nil {
		withEngine := *s
		withEngine.Engine = e
		cold = coldOnEngine(&withEngine, o, src, plan.ID, progress)
	}
	rep, choice, err := restore.Failover(ctx, o, src, restore.WaitOptions{}, cold)
	if err != nil {
		return choice.Detail, err
	}
	return fmt.Sprintf("%s path (%s); %s", choice.Path, choice.Detail, restore.Summary(rep)), nil
}

// RestorePlanner is implemented by a Restorer that can say, at plan time, how the restore step
// will bring the backup in (staged, wait, cold) and how long that takes.
type RestorePlanner interface {
	PlanRestore(ctx context.Context, outs map[string]string, b failover.BackupRef) (action string, seconds float64, err error)
}

// RPOStater is implemented by a Restorer that states the RPO its backup means (the plan's and
// readiness's line).
type RPOStater interface {
	RPO(b failover.BackupRef, now time.Time) string
}

var (
	_ RestorePlanner = Restores{}
	_ RPOStater      = Restores{}
	_ RPOStater      = (*Snapshots)(nil)
)

// RPO implements RestorePlanner: the backup's age and the schedule.
func (r Restores) RPO(b failover.BackupRef, now time.Time) string {
	every := r.Settings.BackupInterval
	if every <= 0 {
		every = prestage.DefaultBackupInterval
	}
	age := now.Sub(b.TakenAt).Round(time.Minute)
	return fmt.Sprintf("RPO: backup %s is %s old, so a failover now loses the writes of the last %s; backups run every %s (an RPO of at most %s plus a backup's duration while the schedule runs)",
		b.ID, age, age, every, every)
}

// PlanRestore implements RestorePlanner: it reads what the target database has staged.
func (r Restores) PlanRestore(ctx context.Context, outs map[string]string, b failover.BackupRef) (string, float64, error) {
	c, err := r.Settings.connect(ctx)
	if err != nil {
		return "", 0, err
	}
	defer c.Disconnect(context.WithoutCancel(ctx))
	m, err := restore.ReadMarker(ctx, c.Database(r.Settings.database()))
	if err != nil {
		return "", 0, err
	}
	choice := restore.Choose(m, b.ID)
	engine := outs[OutputPrestageStateMachineArn] != "" || r.Settings.Engine != nil
	secs := restore.EstimateSeconds(choice, b.Records, engine)
	where := "in this process"
	if engine && choice.Path != restore.PathStaged {
		where = "on the restore engine in the target region"
	}
	return fmt.Sprintf("%s path: %s (%s)", choice.Path, choice.Detail, where), secs, nil
}

// Identities implements IdentitySource: the identity export of the plan's backup (for an Atlas
// restore, of the newest logical backup), read under the accepted keys only.
func (r Restores) Identities(ctx context.Context, c *Clients, outs map[string]string, plan *failover.Plan) ([]Identity, error) {
	store, err := backupStore(c, outs[OutputBackupBucket])
	if err != nil {
		return nil, err
	}
	bk, err := backupKMS(c)
	if err != nil {
		return nil, err
	}
	id := plan.Backup.ID
	if plan.Restore == "atlas" {
		// Snapshots carry no identity export: use the newest logical backup's.
		b, err := r.Latest(ctx, c, outs, plan.From, plan.To)
		if err != nil {
			return nil, fmt.Errorf("identity export for an Atlas restore: %w", err)
		}
		id = b.ID
	}
	recs, err := backup.ReadIdentityExport(ctx, backup.IdentityExportOptions{Store: store, KMS: bk, AllowedKeys: r.Settings.acceptedKeys(outs), BackupID: id})
	if err != nil {
		return nil, err
	}
	// Users of tenants offboarded since the export (the register's tenant-level entries) are not
	// re-created.
	register, _, err := r.Settings.erasureRegister(c, outs, plan)
	if err != nil {
		return nil, err
	}
	offboarded, err := erasure.OffboardedTenants(ctx, register)
	if err != nil {
		return nil, err
	}
	out := make([]Identity, 0, len(recs))
	for _, rec := range recs {
		if !offboarded[rec.TenantID] {
			out = append(out, Identity{Phone: rec.Phone, TenantID: rec.TenantID, Roles: rec.Roles, OldSubject: rec.OldSubject})
		}
	}
	return out, nil
}

// CheckInputs implements RestoreInputs: the backup restore writes into the target database.
func (r Restores) CheckInputs(target string) (string, error) {
	return r.Settings.targetURIInput(target, "the restore step loads the backup into the target cluster through this connection string")
}

// InputWarnings implements RestoreAdvisories: the restore recovers the ledger only with a pinned key.
func (r Restores) InputWarnings(target string) []string { return r.Settings.ledgerWarnings(target) }

// TargetInventory implements TargetLister: what the target database holds now.
func (r Restores) TargetInventory(ctx context.Context) (restore.Inventory, error) {
	return r.Settings.targetInventory(ctx)
}

func (s *RestoreSettings) targetInventory(ctx context.Context) (restore.Inventory, error) {
	c, err := s.connect(ctx)
	if err != nil {
		return restore.Inventory{}, err
	}
	defer c.Disconnect(context.WithoutCancel(ctx))
	return restore.Take(ctx, c.Database(s.database()))
}

// targetURIInput checks the target's connection string without ever printing it.
func (s *RestoreSettings) targetURIInput(target, why string) (string, error) {
	uri := s.TargetMongoURI
	switch {
	case uri == "":
		return "", fmt.Errorf("%s is not set (%s): put the connection string of the %s cluster into the secret caro/%s/mongodb-uri in %s (the on-call role reads it), or set CARO_FAILOVER_MONGODB_URI, then run the command again", SettingTargetMongoURI, why, target, target, target)
	case !strings.HasPrefix(uri, "mongodb://") && !strings.HasPrefix(uri, "mongodb+srv://"):
		return "", fmt.Errorf("%s is not a MongoDB connection string (it must start with mongodb:// or mongodb+srv://): fix the secret caro/%s/mongodb-uri (or CARO_FAILOVER_MONGODB_URI) so it holds the connection string of the %s cluster, then run the command again", SettingTargetMongoURI, target, target)
	}
	return SettingTargetMongoURI + " is set: the restore reaches the " + target + " cluster", nil
}
