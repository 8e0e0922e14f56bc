// Package prestage keeps the standby ready for a failover: every backup that arrives in the
// standby region is restored into the standby's own database by the one post-restore protocol
// (internal/restore, as a standby run: verified by counts and checksums, the erasure register
// applied, the copy guarded by the standby's maintenance switch), and the result is recorded where
// `caro failover readiness` and the compliance evidence read it. That restore is the regular
// restore test the security page promises, for every backup.
//
// Records live in the bucket that holds the backups in the standby region (its replica of the
// primary's backup bucket, the platform stack's BackupBucket output):
//
//	prestage/latest.json               the last pre-stage, overwritten (the bucket keeps versions)
//	prestage/runs/<backup-id>/<started>.json   every pre-stage, one object each (Object Lock)
//
// Status reads them and says whether the standby is behind.
package prestage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"time"

	"github.com/carohealth/platform/internal/backup"
)

// Keys of the records.
const (
	Prefix    = "prestage/"
	LatestKey = Prefix + "latest.json"
)

// States of a pre-stage.
const (
	// StateRunning: the restore is under way.
	StateRunning = "running"
	// StateStaged: the backup is loaded, verified and staged.
	StateStaged = "staged"
	// StateFailed: the restore failed or was stopped; the database keeps the copy it held (Staged).
	StateFailed = "failed"
	// StateCurrent: the newest backup was staged already; nothing was done.
	StateCurrent = "current"
)

// Record is one pre-stage's result, as JSON (`caro failover readiness` and `caro evidence` read
// it): the backup, documents, verified, seconds, and what the standby's database holds after it.
type Record struct {
	BackupID     string    `json:"backupId"`
	SourceRegion string    `json:"sourceRegion,omitempty"`
	BackupTime   time.Time `json:"backupTime,omitzero"`
	// Region and Database are where it was staged.
	Region   string `json:"region"`
	Database string `json:"database"`
	State    string `json:"state"`
	// Documents restored, Verified when every chunk, count and checksum matched the manifest
	// before anything was switched in, Seconds the pre-stage's duration.
	Documents int64   `json:"documents"`
	Verified  bool    `json:"verified"`
	Seconds   float64 `json:"seconds"`
	// Staged is the backup the standby's database holds staged after this run ("" when none): the
	// new one when it succeeded, the previous copy when it failed.
	Staged     string    `json:"staged"`
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	// Run is the restore run, Engine the engine execution that ran it ("" in one process).
	Run    string `json:"run,omitempty"`
	Engine string `json:"engine,omitempty"`
	// Problem says what failed and what to do (state failed).
	Problem string `json:"problem,omitempty"`
}

// RunKey is the object key of r's own record.
func RunKey(r Record) string {
	return path.Join(Prefix, "runs", r.BackupID, r.StartedAt.UTC().Format("20060102T150405.000Z")+".json")
}

// Write stores r as the latest record and, unless it is still running, as its own run record.
func Write(ctx context.Context, store backup.ObjectStore, r Record) error {
	body, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	keys := []string{LatestKey}
	if r.State != StateRunning && r.State != StateCurrent {
		keys = append(keys, RunKey(r))
	}
	for _, k := range keys {
		if err := store.Put(ctx, k, bytes.NewReader(body), int64(len(body))); err != nil {
			return fmt.Errorf("recording the pre-stage of %s in %s: %w", r.BackupID, k, err)
		}
	}
	return nil
}

// Latest reads the latest record; nil when there is none.
func Latest(ctx context.Context, store backup.ObjectStore) (*Record, error) {
	rc, err := store.Get(ctx, LatestKey)
	if errors.Is(err, backup.ErrObjectNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", LatestKey, err)
	}
	defer rc.Close()
	body, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", LatestKey, err)
	}
	var r Record
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%s is not a pre-stage record: %w", LatestKey, err)
	}
	return &r, nil
}

// History lists the run records of the pre-stages, oldest first (the evidence of the restore
// tests).
func History(ctx context.Context, store backup.ObjectStore) ([]Record, error) {
	objs, err := store.List(ctx, Prefix+"runs/")
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, o := range objs {
		rc, err := store.Get(ctx, o.Key)
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(io.LimitReader(rc, 1<<20))
		rc.Close()
		if err != nil {
			return nil, err
		}
		var r Record
		if json.Unmarshal(body, &r) == nil {
			out = append(out, r)
		}
	}
	return out, nil
}
