package backup

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

// VerifyOptions configure Verify.
type VerifyOptions struct {
	BackupID string
	Store    ObjectStore
	KMS      KMS
	// AllowedKeys are the KMS keys the backup may be encrypted under (required).
	AllowedKeys []string
	// ScratchURI is the MongoDB server to restore into (a scratch server or the standby cluster);
	// ignored when Scratch is set.
	ScratchURI string
	Scratch    *mongo.Client
	// ScratchDatabase is created for the test and dropped afterwards (default
	// caro_verify_<suffix>). It must not exist beforehand.
	ScratchDatabase string
	Workers         int
	ConnectTimeout  time.Duration
	Progress        func(Progress)
}

// VerifyReport is the result of a restore test.
type VerifyReport struct {
	BackupID        string              `json:"backupId"`
	SourceRegion    string              `json:"sourceRegion"`
	BackupTime      time.Time           `json:"backupTime"`
	ScratchDatabase string              `json:"scratchDatabase"`
	Collections     []CollectionRestore `json:"collections"`
	Documents       int64               `json:"documents"`
	OK              bool                `json:"ok"`
	Problem         string              `json:"problem,omitempty"`
	Duration        time.Duration       `json:"durationNs"`
}

// Verify performs the regular restore test the security page promises: it restores the backup
// into a scratch database, checks every chunk, count and checksum against the manifest and that the
// indexes can be recreated, then drops the scratch database. It returns a report with OK false
// and the error when anything fails.
func Verify(ctx context.Context, o VerifyOptions) (VerifyReport, error) {
	start := time.Now()
	rep := VerifyReport{BackupID: o.BackupID}
	fail := func(err error) (VerifyReport, error) {
		rep.OK = false
		rep.Problem = err.Error()
		rep.Duration = time.Since(start)
		return rep, err
	}
	b, err := openBackup(ctx, o.Store, o.KMS, o.AllowedKeys, o.BackupID)
	if err != nil {
		return fail(err)
	}
	rep.SourceRegion, rep.BackupTime = b.m.SourceRegion, b.m.CreatedAt
	client, done, err := targetClient(ctx, o.Scratch, o.ScratchURI, o.ConnectTimeout)
	if err != nil {
		return fail(err)
	}
	defer done()
	if o.ScratchDatabase == "" {
		o.ScratchDatabase = "caro_verify_" + b.m.BackupID[len(b.m.BackupID)-8:]
	}
	rep.ScratchDatabase = o.ScratchDatabase
	db := client.Database(o.ScratchDatabase)
	if names, err := db.ListCollectionNames(ctx, map[string]any{}); err != nil {
		return fail(newErr(ErrTargetUnreachable, err, hintTarget, "listing %s", o.ScratchDatabase))
	} else if len(names) > 0 {
		return fail(newErr(ErrTargetNotEmpty, nil, "pick another scratch database name; verify never drops data it did not create", "scratch database %s already exists", o.ScratchDatabase))
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_ = db.Drop(dctx)
	}()
	staged, err := (&Backup{b: b}).Stage(ctx, db, func(c string) string { return c }, StageOptions{Workers: o.Workers, Progress: o.Progress, Recount: true})
	if err != nil {
		return fail(err)
	}
	for _, c := range staged {
		rep.Collections = append(rep.Collections, c)
		rep.Documents += c.Documents
	}
	rep.OK = true
	rep.Duration = time.Since(start)
	return rep, nil
}
