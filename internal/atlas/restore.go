package atlas

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/atlas-sdk/v20250312012/admin"
)

// Errors callers (the failover runbook) react to.
var (
	// ErrNoSnapshot: no completed snapshot has a copy in the target region.
	ErrNoSnapshot = errors.New("no usable Atlas snapshot")
	// ErrEncryptionPreflight: encryption at rest makes the restore impossible; use the logical
	// backup (caro backup restore) instead.
	ErrEncryptionPreflight = errors.New("atlas snapshot restore cannot work with this encryption-at-rest setup")
	// ErrRestoreFailed: the restore job failed, was cancelled or expired.
	ErrRestoreFailed = errors.New("atlas restore job did not finish")
	// ErrTimeout: the job did not finish within the timeout (it may still finish in Atlas).
	ErrTimeout = errors.New("atlas restore job timed out")
)

const logicalHint = "restore the newest logical backup instead: caro backup restore <backup-id> --mongodb-uri <standby-uri> (its key is a multi-Region KMS key with a replica in the standby region)"

// SnapshotRestoreOptions describe one snapshot restore into the standby cluster.
type SnapshotRestoreOptions struct {
	SourceProjectID string
	SourceCluster   string
	TargetProjectID string
	TargetCluster   string
	// TargetRegion is the standby region, AWS style ("eu-central-1") or Atlas style
	// ("EU_CENTRAL_1"); the snapshot must have a copy there.
	TargetRegion string
	// UnavailableRegions are AWS regions known to be down (the failed primary); a restore whose
	// encryption key lives there is refused up front.
	UnavailableRegions []string
	// Timeout bounds the whole restore (default 2h); PollInterval starts the backoff (default
	// 10s), MaxPollInterval caps it (default 2m).
	Timeout         time.Duration
	PollInterval    time.Duration
	MaxPollInterval time.Duration
	// Progress receives one line per state change.
	Progress func(string)
}

// RestoreResult reports a finished snapshot restore.
type RestoreResult struct {
	SnapshotID   string    `json:"snapshotId"`
	SnapshotTime time.Time `json:"snapshotTime"`
	RestoreJobID string    `json:"restoreJobId"`
	FinishedAt   time.Time `json:"finishedAt"`
	Polls        int       `json:"polls"`
}

// Restorer runs snapshot restores with an Admin API client.
type Restorer struct {
	Backups    admin.CloudBackupsApi
	Encryption admin.EncryptionAtRestUsingCustomerKeyManagementApi
	// Sleep waits between polls (tests make it instant); nil means a real timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

// NewRestorer returns a Restorer using client.
func NewRestorer(client *admin.APIClient) *Restorer {
	return &Restorer{Backups: client.CloudBackupsApi, Encryption: client.EncryptionAtRestUsingCustomerKeyManagementApi}
}

// AtlasRegion converts an AWS region name ("eu-central-1") to Atlas's ("EU_CENTRAL_1"); Atlas
// names pass through.
func AtlasRegion(r string) string { return strings.ToUpper(strings.ReplaceAll(r, "-", "_")) }

// AWSRegion converts an Atlas region name to AWS's.
func AWSRegion(r string) string { return strings.ToLower(strings.ReplaceAll(r, "_", "-")) }

// PickSnapshot returns the newest completed snapshot of the cluster that has a copy in region.
func (r *Restorer) PickSnapshot(ctx context.Context, projectID, cluster, region string) (admin.DiskBackupReplicaSet, error) {
	want := AtlasRegion(region)
	var best *admin.DiskBackupReplicaSet
	for page := 1; ; page++ {
		res, _, err := r.Backups.ListBackupSnapshots(ctx, projectID, cluster).PageNum(page).ItemsPerPage(100).Execute()
		if err != nil {
			return admin.DiskBackupReplicaSet{}, fmt.Errorf("listing snapshots of %s/%s: %w", projectID, cluster, apiErr(err))
		}
		items := res.GetResults()
		for i := range items {
			s := items[i]
			if s.GetStatus() != "completed" || !slices.ContainsFunc(s.GetCopyRegions(), func(c string) bool { return AtlasRegion(c) == want }) {
				continue
			}
			if best == nil || s.GetCreatedAt().After(best.GetCreatedAt()) {
				best = &s
			}
		}
		if len(items) < 100 || page*100 >= res.GetTotalCount() {
			break
		}
	}
	if best == nil {
		return admin.DiskBackupReplicaSet{}, fmt.Errorf("%w: cluster %s has no completed snapshot with a copy in %s (check the backup schedule's copy settings); %s", ErrNoSnapshot, cluster, want, logicalHint)
	}
	return *best, nil
}

// Preflight checks that a snapshot encrypted with a customer-managed key can be restored into
// the target project: Atlas needs the target project's AWS KMS key valid and in the same region
// as the source project's key, and that key's region reachable. It returns an error wrapping
// ErrEncryptionPreflight that explains why otherwise.
func (r *Restorer) Preflight(ctx context.Context, o SnapshotRestoreOptions, snap admin.DiskBackupReplicaSet) error {
	src, _, err := r.Encryption.GetEncryptionAtRest(ctx, o.SourceProjectID).Execute()
	if err != nil {
		// With the primary region down, the source project's settings may still be readable (the
		// Admin API is global); if not, the snapshot's own key reference decides below.
		src = nil
	}
	srcKMS := src.GetAwsKms()
	encrypted := snap.GetMasterKeyUUID() != "" || srcKMS.GetEnabled()
	if !encrypted {
		return nil
	}
	srcRegion := AtlasRegion(srcKMS.GetRegion())
	if srcRegion == "" {
		return fmt.Errorf("%w: snapshot %s is encrypted with a customer-managed key, but the source project's key region cannot be read (%v); %s", ErrEncryptionPreflight, snap.GetId(), err, logicalHint)
	}
	for _, down := range o.UnavailableRegions {
		if AtlasRegion(down) == srcRegion {
			return fmt.Errorf("%w: snapshot %s is encrypted with the source project's AWS KMS key in %s, which is unavailable, and Atlas needs that key to restore it; %s", ErrEncryptionPreflight, snap.GetId(), AWSRegion(srcRegion), logicalHint)
		}
	}
	dst, _, err := r.Encryption.GetEncryptionAtRest(ctx, o.TargetProjectID).Execute()
	if err != nil {
		return fmt.Errorf("reading encryption at rest of the target project %s: %w", o.TargetProjectID, apiErr(err))
	}
	dstKMS := dst.GetAwsKms()
	switch {
	case !dstKMS.GetEnabled():
		return fmt.Errorf("%w: snapshot %s is encrypted with a customer-managed key but the target project %s has no AWS KMS encryption at rest; enable it with a key in %s, or %s", ErrEncryptionPreflight, snap.GetId(), o.TargetProjectID, AWSRegion(srcRegion), logicalHint)
	case dstKMS.HasValid() && !dstKMS.GetValid():
		return fmt.Errorf("%w: the target project's AWS KMS key is not valid (Atlas cannot use it); fix its IAM role, or %s", ErrEncryptionPreflight, logicalHint)
	case AtlasRegion(dstKMS.GetRegion()) != srcRegion:
		return fmt.Errorf("%w: the snapshot's key is in %s but the target project's key is in %s; Atlas restores such snapshots across projects only with both keys in the same region; %s", ErrEncryptionPreflight, AWSRegion(srcRegion), AWSRegion(dstKMS.GetRegion()), logicalHint)
	}
	return nil
}

// Restore picks the snapshot, runs the preflight, starts an automated restore job into the
// target cluster and polls it with exponential backoff until it is finished, failed, cancelled or
// expired, or the timeout passes.
func (r *Restorer) Restore(ctx context.Context, o SnapshotRestoreOptions) (RestoreResult, error) {
	if o.SourceProjectID == "" || o.SourceCluster == "" || o.TargetProjectID == "" || o.TargetCluster == "" || o.TargetRegion == "" {
		return RestoreResult{}, errors.New("atlas restore: source project and cluster, target project, cluster and region are required")
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Hour
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 10 * time.Second
	}
	if o.MaxPollInterval <= 0 {
		o.MaxPollInterval = 2 * time.Minute
	}
	say := func(format string, args ...any) {
		if o.Progress != nil {
			o.Progress(fmt.Sprintf(format, args...))
		}
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	snap, err := r.PickSnapshot(ctx, o.SourceProjectID, o.SourceCluster, o.TargetRegion)
	if err != nil {
		return RestoreResult{}, err
	}
	res := RestoreResult{SnapshotID: snap.GetId(), SnapshotTime: snap.GetCreatedAt()}
	say("snapshot %s of %s taken %s has a copy in %s", res.SnapshotID, o.SourceCluster, res.SnapshotTime.UTC().Format(time.RFC3339), AtlasRegion(o.TargetRegion))
	if err := r.Preflight(ctx, o, snap); err != nil {
		return res, err
	}
	say("encryption-at-rest preflight passed")
	// A rerun (a failover step repeated after a crash) resumes the job it started before instead of
	// restoring the same snapshot over the target a second time.
	existing, err := r.findJob(ctx, o, res.SnapshotID)
	if err != nil {
		return res, err
	}
	if existing != nil {
		res.RestoreJobID = existing.GetId()
		say("restore job %s of this snapshot into %s/%s already exists; resuming it", res.RestoreJobID, o.TargetProjectID, o.TargetCluster)
		if existing.HasFinishedAt() {
			res.FinishedAt = existing.GetFinishedAt()
			say("restore job %s finished at %s", res.RestoreJobID, res.FinishedAt.UTC().Format(time.RFC3339))
			return res, nil
		}
	} else {
		job := admin.NewDiskBackupSnapshotRestoreJob("automated")
		job.SetSnapshotId(res.SnapshotID)
		job.SetTargetGroupId(o.TargetProjectID)
		job.SetTargetClusterName(o.TargetCluster)
		created, _, err := r.Backups.CreateBackupRestoreJob(ctx, o.SourceProjectID, o.SourceCluster, job).Execute()
		if err != nil {
			return res, fmt.Errorf("starting the restore job of snapshot %s into %s/%s: %w", res.SnapshotID, o.TargetProjectID, o.TargetCluster, apiErr(err))
		}
		res.RestoreJobID = created.GetId()
		say("restore job %s started into %s/%s", res.RestoreJobID, o.TargetProjectID, o.TargetCluster)
	}
	sleep := r.Sleep
	if sleep == nil {
		sleep = func(ctx context.Context, d time.Duration) error {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	wait := o.PollInterval
	for {
		if err := sleep(ctx, wait); err != nil {
			return res, fmt.Errorf("%w after %s: job %s is still running in Atlas; watch it there, or %s", ErrTimeout, o.Timeout, res.RestoreJobID, logicalHint)
		}
		wait = min(wait*2, o.MaxPollInterval)
		j, _, err := r.Backups.GetBackupRestoreJob(ctx, o.SourceProjectID, o.SourceCluster, res.RestoreJobID).Execute()
		res.Polls++
		if err != nil {
			if ctx.Err() != nil {
				return res, fmt.Errorf("%w after %s: job %s; %s", ErrTimeout, o.Timeout, res.RestoreJobID, logicalHint)
			}
			say("poll %d failed: %v (retrying)", res.Polls, apiErr(err))
			continue
		}
		switch {
		case j.GetFailed():
			return res, fmt.Errorf("%w: job %s failed; %s", ErrRestoreFailed, res.RestoreJobID, logicalHint)
		case j.GetCancelled():
			return res, fmt.Errorf("%w: job %s was cancelled; %s", ErrRestoreFailed, res.RestoreJobID, logicalHint)
		case j.GetExpired():
			return res, fmt.Errorf("%w: job %s expired; %s", ErrRestoreFailed, res.RestoreJobID, logicalHint)
		case j.HasFinishedAt():
			res.FinishedAt = j.GetFinishedAt()
			say("restore job %s finished at %s", res.RestoreJobID, res.FinishedAt.UTC().Format(time.RFC3339))
			return res, nil
		}
		say("restore job %s running (poll %d)", res.RestoreJobID, res.Polls)
	}
}

// findJob returns an automated restore job of snapshotID into the target cluster that did not
// fail, was not cancelled and did not expire, if one exists.
func (r *Restorer) findJob(ctx context.Context, o SnapshotRestoreOptions, snapshotID string) (*admin.DiskBackupSnapshotRestoreJob, error) {
	for page := 1; ; page++ {
		res, _, err := r.Backups.ListBackupRestoreJobs(ctx, o.SourceProjectID, o.SourceCluster).PageNum(page).ItemsPerPage(100).Execute()
		if err != nil {
			return nil, fmt.Errorf("listing restore jobs of %s/%s: %w", o.SourceProjectID, o.SourceCluster, apiErr(err))
		}
		jobs := res.GetResults()
		for i := range jobs {
			j := jobs[i]
			if j.GetSnapshotId() == snapshotID && j.GetTargetGroupId() == o.TargetProjectID && j.GetTargetClusterName() == o.TargetCluster &&
				j.GetDeliveryType() == "automated" && !j.GetFailed() && !j.GetCancelled() && !j.GetExpired() {
				return &j, nil
			}
		}
		if len(jobs) < 100 || page*100 >= res.GetTotalCount() {
			return nil, nil
		}
	}
}

// apiErr shortens an Admin API error to its code and detail (the SDK's error carries the whole
// response body).
func apiErr(err error) error {
	if e, ok := admin.AsError(err); ok && e.GetErrorCode() != "" {
		return fmt.Errorf("%s (HTTP %d): %s", e.GetErrorCode(), e.GetError(), e.GetDetail())
	}
	return err
}
