// Package backupengine is the work of the backup engine's Lambda workers (lambdas/backupengine):
// the steps of two Step Functions state machines (constructs/backupengine), each the same Go code
// the CLI runs, in internal/backup, internal/restore and internal/prestage.
//
// The backup state machine (the primary, every BackupInterval): plan (backup.PlanBackup) -> a
// Distributed Map over the parts, one worker each (backup.RunPart) -> finalize (backup.Finalize,
// then the identity export). The pre-stage state machine (the standby, when a backup's manifest
// arrives and on a catch-up schedule): prestage-begin (prestage.Prepare, restore.Begin) -> a
// Distributed Map over the parts (restore.LoadPart) -> prestage-complete (restore.Complete,
// prestage.Finish); on any failure prestage-abort (restore.Abort, prestage.Fail). The failover's
// cold path on AWS starts the pre-stage state machine for the plan's backup.
package backupengine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/erasure"
	"github.com/carohealth/platform/internal/prestage"
	"github.com/carohealth/platform/internal/restore"
)

// The operations, the value of Event.Op.
const (
	OpPlan             = "plan"
	OpPart             = "part"
	OpFinalize         = "finalize"
	OpPrestageBegin    = "prestage-begin"
	OpPrestageLoad     = "prestage-load"
	OpPrestageComplete = "prestage-complete"
	OpPrestageAbort    = "prestage-abort"
)

// Event is a state's input to the worker.
type Event struct {
	Op string `json:"op"`
	// Execution is the state machine execution's name ($$.Execution.Name): it names the engine
	// run of a restore.
	Execution string `json:"execution,omitempty"`
	BackupID  string `json:"backupId,omitempty"`
	// Key is an S3 object key that names a backup (the manifest of an S3 event): its backup is
	// staged.
	Key  string  `json:"key,omitempty"`
	Part *uint32 `json:"part,omitempty"`
	Run  string  `json:"run,omitempty"`
	// StartedAt is when the pre-stage began (its record's time, carried between the states).
	StartedAt time.Time `json:"startedAt,omitzero"`
	// Error is what a Catch caught ({"Error": ..., "Cause": ...}).
	Error *StepError `json:"error,omitempty"`
}

// StepError is a caught failure as Step Functions passes it.
type StepError struct {
	Error string `json:"Error"`
	Cause string `json:"Cause"`
}

// Item is one part of a Distributed Map's items.
type Item struct {
	Part uint32 `json:"part"`
}

// Result is a state's output.
type Result struct {
	Op       string `json:"op"`
	BackupID string `json:"backupId,omitempty"`
	// Parts are the Map's items (plan, prestage-begin).
	Parts []Item `json:"parts,omitempty"`
	// Skip ends the execution successfully without a Map (nothing to do), Reason says why.
	Skip   bool   `json:"skip"`
	Reason string `json:"reason,omitempty"`
	Run    string `json:"run,omitempty"`
	// StartedAt is carried to the next states of a pre-stage.
	StartedAt time.Time        `json:"startedAt,omitzero"`
	Documents int64            `json:"documents,omitempty"`
	Record    *prestage.Record `json:"record,omitempty"`
}

// Config is the worker's configuration (from its environment, lambdas/backupengine).
type Config struct {
	// Region is this region; Database the application database.
	Region, Database string
	// Bucket and KeyID are this region's own backup bucket and multi-Region key (backups written).
	Bucket, KeyID string
	// StandbyBucket holds the peer region's backups in this region (replicated) and the pre-stage
	// records; PeerKeyID is this region's replica of the peer's backup key; PeerRegion the peer.
	StandbyBucket, PeerKeyID, PeerRegion string
	// PeerKeyParameter names the SSM parameter that holds PeerKeyID when the stack could not name
	// the key (the peer replicates it there at deploy time, constructs/peershare).
	PeerKeyParameter string
	// PartDocuments is the target documents per part (0: backup.DefaultPartDocuments).
	PartDocuments int64
	// TempDir holds a part's sealed object until it is uploaded (/tmp).
	TempDir string
	// UserPoolID, when set, makes finalize write the identity export of that pool.
	UserPoolID string
}

// Deps are the clients the worker uses.
type Deps struct {
	// Mongo is the connected client of this region's database.
	Mongo *mongo.Client
	// Own and Standby are the object stores of Config.Bucket and Config.StandbyBucket.
	Own, Standby backup.ObjectStore
	KMS          backup.KMS
	// Identities lists the user pool's users (nil: no identity export).
	Identities func(context.Context) ([]backup.IdentityRecord, error)
	Progress   func(backup.Progress)
	Now        func() time.Time
}

// Handle runs one state's work.
func Handle(ctx context.Context, c Config, d Deps, ev Event) (Result, error) {
	if c.Database == "" {
		c.Database = backup.DefaultDatabase
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	res := Result{Op: ev.Op, BackupID: ev.BackupID, Run: ev.Run, StartedAt: ev.StartedAt}
	switch ev.Op {
	case OpPlan:
		return plan(ctx, c, d, res)
	case OpPart:
		if ev.Part == nil {
			return res, errors.New("backup engine: part without a part number")
		}
		_, err := backup.RunPart(ctx, backup.PartOptions{BackupID: ev.BackupID, Stream: *ev.Part, Source: d.Mongo, Store: d.Own, KMS: d.KMS,
			AllowedKeys: []string{c.KeyID}, TempDir: c.TempDir, Progress: d.Progress, Now: d.Now})
		return res, err
	case OpFinalize:
		return finalize(ctx, c, d, res)
	case OpPrestageBegin:
		return prestageBegin(ctx, c, d, ev, res)
	case OpPrestageLoad:
		if ev.Part == nil {
			return res, errors.New("backup engine: prestage-load without a part number")
		}
		o := prestageOptions(c, d, ev.BackupID)
		_, err := restore.LoadPart(ctx, o.RestoreOptions(), o.BackupSource(ev.BackupID), ev.Run, *ev.Part)
		return res, err
	case OpPrestageComplete:
		return prestageComplete(ctx, c, d, ev, res)
	case OpPrestageAbort:
		return prestageAbort(ctx, c, d, ev, res)
	}
	return res, fmt.Errorf("backup engine: unknown op %q", ev.Op)
}

// plan starts a backup of this region's database, unless it holds a standby's staged copy (not the
// live data: the peer backs up the live data).
func plan(ctx context.Context, c Config, d Deps, res Result) (Result, error) {
	m, err := restore.ReadMarker(ctx, d.Mongo.Database(c.Database))
	if err != nil {
		return res, err
	}
	if m != nil && m.Staged != nil {
		res.Skip, res.Reason = true, fmt.Sprintf("%s's database holds the standby's staged copy of %s, not live data: nothing to back up", c.Region, m.BackupID)
		return res, nil
	}
	p, err := backup.PlanBackup(ctx, backup.PlanOptions{Source: d.Mongo, Database: c.Database, Store: d.Own, KMS: d.KMS, KeyID: c.KeyID,
		Region: c.Region, PartDocuments: c.PartDocuments, Now: d.Now})
	if err != nil {
		return res, err
	}
	res.BackupID = p.BackupID
	for _, pt := range p.Parts() {
		res.Parts = append(res.Parts, Item{Part: pt.Stream})
	}
	for _, col := range p.Collections {
		res.Documents += col.Estimated
	}
	return res, nil
}

// finalize writes the manifest once every part is sealed, then the identity export.
func finalize(ctx context.Context, c Config, d Deps, res Result) (Result, error) {
	m, err := backup.Finalize(ctx, backup.FinalizeOptions{BackupID: res.BackupID, Store: d.Own, KMS: d.KMS, AllowedKeys: []string{c.KeyID}, Now: d.Now})
	if err != nil {
		return res, err
	}
	res.Documents = m.Documents
	if d.Identities != nil {
		users, err := d.Identities(ctx)
		if err != nil {
			return res, fmt.Errorf("backup %s written, identity export failed: %w", m.BackupID, err)
		}
		if _, err := backup.WriteIdentityExport(ctx, backup.IdentityExportOptions{Store: d.Own, KMS: d.KMS, KeyID: c.KeyID, BackupID: m.BackupID, Region: c.Region}, users); err != nil {
			return res, fmt.Errorf("backup %s written, identity export failed: %w", m.BackupID, err)
		}
	}
	return res, nil
}

// prestageOptions are the pre-stage's options in this region: the peer's backups in the standby
// bucket under the replica of the peer's key, the erasure register of both buckets.
func prestageOptions(c Config, d Deps, backupID string) prestage.Options {
	return prestage.Options{Target: d.Mongo, Database: c.Database, Store: d.Standby, KMS: d.KMS, AllowedKeys: []string{c.PeerKeyID},
		Erasures: erasure.BucketsRegister([]string{c.StandbyBucket, c.Bucket}, d.Standby, d.Own), Region: c.Region, Source: c.PeerRegion,
		BackupID: backupID, Progress: d.Progress, Now: d.Now}
}

// backupIDOf returns the backup a manifest's key names ("" when it names none).
func backupIDOf(key string) string {
	rest, ok := strings.CutPrefix(key, backup.BackupPrefix)
	if !ok {
		return ""
	}
	id, file, _ := strings.Cut(rest, "/")
	if file != "manifest.json" || !backup.ValidBackupID(id) {
		return ""
	}
	return id
}

func prestageBegin(ctx context.Context, c Config, d Deps, ev Event, res Result) (Result, error) {
	id := ev.BackupID
	if id == "" && ev.Key != "" {
		if id = backupIDOf(ev.Key); id == "" {
			res.Skip, res.Reason = true, fmt.Sprintf("%s is not a backup's manifest", ev.Key)
			return res, nil
		}
	}
	o := prestageOptions(c, d, id)
	p, err := prestage.Prepare(ctx, o)
	if err != nil {
		return res, err
	}
	res.BackupID, res.StartedAt = p.Record.BackupID, p.Record.StartedAt
	if p.Skip {
		res.Skip, res.Reason, res.Record = true, p.Reason, &p.Record
		return res, nil
	}
	begun, _, err := restore.Begin(ctx, o.RestoreOptions(), o.BackupSource(p.Record.BackupID), ev.Execution)
	if err != nil {
		if errors.Is(err, restore.ErrRestoreRunning) {
			// Another execution stages already (the S3 event and the catch-up schedule can meet).
			res.Skip, res.Reason = true, err.Error()
			return res, nil
		}
		// Begin rolled its run back; the execution fails without an abort.
		r := prestage.Fail(ctx, o, p, err, ev.Execution)
		res.Record = &r
		return res, err
	}
	if begun.Done {
		res.Skip, res.Reason = true, fmt.Sprintf("backup %s was restored already", begun.BackupID)
		return res, nil
	}
	res.Run, res.Documents = begun.Run, begun.Documents
	for _, p := range begun.Parts {
		res.Parts = append(res.Parts, Item{Part: p})
	}
	return res, nil
}

// plannedAgain rebuilds the pre-stage's plan in a later state (the record's start and the marker
// before it are what Finish and Fail need).
func plannedAgain(ctx context.Context, c Config, d Deps, ev Event) (prestage.Options, *prestage.Plan) {
	o := prestageOptions(c, d, ev.BackupID)
	p := &prestage.Plan{Record: prestage.Record{BackupID: ev.BackupID, Region: c.Region, Database: c.Database, StartedAt: ev.StartedAt, Run: ev.Run}}
	if m, err := restore.ReadMarker(ctx, d.Mongo.Database(c.Database)); err == nil {
		p.Previous = m
	}
	return o, p
}

func prestageComplete(ctx context.Context, c Config, d Deps, ev Event, res Result) (Result, error) {
	o, p := plannedAgain(ctx, c, d, ev)
	rep, err := restore.Complete(ctx, o.RestoreOptions(), o.BackupSource(ev.BackupID), ev.Run)
	if err != nil {
		return res, err // the execution's Catch aborts and records it
	}
	r, err := prestage.Finish(ctx, o, p, rep, ev.Execution)
	res.Record, res.Documents = &r, rep.Documents
	return res, err
}

// prestageAbort rolls the run back (the database keeps the copy it held) and records the failure.
// It returns the failure again, so the execution fails and its alarm fires.
func prestageAbort(ctx context.Context, c Config, d Deps, ev Event, res Result) (Result, error) {
	o, p := plannedAgain(ctx, c, d, ev)
	cause := errors.New("the pre-stage failed")
	if ev.Error != nil {
		cause = fmt.Errorf("%s: %s", ev.Error.Error, ev.Error.Cause)
	}
	if ev.Run != "" {
		if _, err := restore.Abort(ctx, o.RestoreOptions(), ev.Run, cause.Error()); err != nil {
			cause = fmt.Errorf("%w; rolling it back failed too: %v (the next pre-stage or failover recovers it first)", cause, err)
		}
	}
	r := prestage.Fail(ctx, o, p, cause, ev.Execution)
	res.Record = &r
	return res, nil
}

// Environment of the worker (lambdas/backupengine; constructs/backupengine sets it).
const (
	EnvRegion           = "CARO_REGION"
	EnvDatabase         = "CARO_DATABASE"
	EnvMongoURI         = "CARO_MONGODB_URI"
	EnvMongoURISecret   = "CARO_MONGODB_URI_SECRET_ARN"
	EnvBucket           = "CARO_BACKUP_BUCKET"
	EnvKeyID            = "CARO_BACKUP_KEY_ID"
	EnvStandbyBucket    = "CARO_STANDBY_BUCKET"
	EnvPeerKeyID        = "CARO_PEER_BACKUP_KEY_ID"
	EnvPeerKeyParameter = "CARO_PEER_BACKUP_KEY_PARAMETER"
	EnvPeerRegion       = "CARO_PEER_REGION"
	EnvUserPoolID       = "CARO_USER_POOL_ID"
	EnvPartDocuments    = "CARO_BACKUP_PART_DOCUMENTS"
	EnvTempDir          = "CARO_BACKUP_TMPDIR"
	defaultLambdaTmpDir = "/tmp"
)

// ConfigFromEnv reads the worker's configuration; it also returns the database's connection
// string, or the ARN of the secret that holds it.
func ConfigFromEnv(getenv func(string) string) (c Config, uri, uriSecret string, err error) {
	c = Config{Region: getenv(EnvRegion), Database: getenv(EnvDatabase), Bucket: getenv(EnvBucket), KeyID: getenv(EnvKeyID),
		StandbyBucket: getenv(EnvStandbyBucket), PeerKeyID: getenv(EnvPeerKeyID), PeerRegion: getenv(EnvPeerRegion),
		UserPoolID: getenv(EnvUserPoolID), TempDir: getenv(EnvTempDir), PeerKeyParameter: getenv(EnvPeerKeyParameter)}
	if c.TempDir == "" {
		c.TempDir = defaultLambdaTmpDir
	}
	if v := getenv(EnvPartDocuments); v != "" {
		if _, err := fmt.Sscan(v, &c.PartDocuments); err != nil || c.PartDocuments <= 0 {
			return c, "", "", fmt.Errorf("backup engine: %s=%q is not a positive number of documents", EnvPartDocuments, v)
		}
	}
	uri, uriSecret = getenv(EnvMongoURI), getenv(EnvMongoURISecret)
	var missing []string
	for _, v := range []struct{ name, value string }{{EnvRegion, c.Region}, {EnvBucket, c.Bucket}, {EnvKeyID, c.KeyID}} {
		if v.value == "" {
			missing = append(missing, v.name)
		}
	}
	if uri == "" && uriSecret == "" {
		missing = append(missing, EnvMongoURI+" or "+EnvMongoURISecret)
	}
	if len(missing) > 0 {
		return c, "", "", fmt.Errorf("backup engine: missing %s (set by constructs/backupengine)", strings.Join(missing, ", "))
	}
	return c, uri, uriSecret, nil
}
