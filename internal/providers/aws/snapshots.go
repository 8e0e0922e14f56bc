package aws

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/carohealth/platform/internal/atlas"
	"github.com/carohealth/platform/internal/erasure"
	"github.com/carohealth/platform/internal/failover"
	"github.com/carohealth/platform/internal/restore"
	"github.com/carohealth/platform/regions"
)

// Snapshots serves --restore atlas: Atlas cloud-backup snapshots copied to the target region (the
// snapshot is the plan's backup, its age the RPO), restored by the post-restore protocol. It is the
// provider's AtlasCatalog and AtlasRestorer.
type Snapshots struct {
	Settings *RestoreSettings
	Regions  regions.Set
	Atlas    *atlas.Restorer
}

var (
	_ BackupCatalog     = (*Snapshots)(nil)
	_ Restorer          = (*Snapshots)(nil)
	_ RestoreInputs     = (*Snapshots)(nil)
	_ RestoreAdvisories = (*Snapshots)(nil)
	_ TargetLister      = (*Snapshots)(nil)
)

// Latest implements BackupCatalog: the newest completed snapshot of source with a copy in target.
func (a *Snapshots) Latest(ctx context.Context, _ *Clients, _ map[string]string, source, target string) (failover.BackupRef, error) {
	src, err := a.Regions.Get(source)
	if err != nil {
		return failover.BackupRef{}, err
	}
	snap, err := a.Atlas.PickSnapshot(ctx, src.Atlas.ProjectID, src.Atlas.Cluster, target)
	if err != nil {
		return failover.BackupRef{}, err
	}
	return failover.BackupRef{ID: snap.GetId(), TakenAt: snap.GetCreatedAt(),
		Location: fmt.Sprintf("Atlas snapshot %s of %s/%s (copy in %s)", snap.GetId(), src.Atlas.ProjectID, src.Atlas.Cluster, target)}, nil
}

// Restored implements Restorer.
func (a *Snapshots) Restored(ctx context.Context, _ *Clients, _ map[string]string, plan *failover.Plan) (bool, error) {
	if a.Settings.TargetMongoURI == "" {
		return false, nil // Restore says what to set
	}
	return a.Settings.restored(ctx, plan)
}

// Restore implements Restorer: the snapshot restored by the protocol (restore.Snapshot): the
// register is read and the target listed before the job starts, the job resumes one an interrupted
// run started, and after it the ledger is held, the register applied, the ledger recovered, the
// audit record and the marker written.
func (a *Snapshots) Restore(ctx context.Context, c *Clients, outs map[string]string, plan *failover.Plan, progress failover.Progress) (string, error) {
	s := a.Settings
	src, err := a.Regions.Get(plan.From)
	if err != nil {
		return "", err
	}
	dst, err := a.Regions.Get(plan.To)
	if err != nil {
		return "", err
	}
	if s.TargetMongoURI == "" {
		return "", fmt.Errorf("an Atlas snapshot restore brings back patients erased since the snapshot: give %s (the secret caro/<target>/mongodb-uri, or CARO_FAILOVER_MONGODB_URI) so the erasure register is re-applied after it, then resume; nothing was started", SettingTargetMongoURI)
	}
	register, names, err := s.erasureRegister(c, outs, plan)
	if err != nil {
		return "", err
	}
	if _, err := register.List(ctx, time.Time{}); err != nil {
		return "", fmt.Errorf("the erasure register in %s (%s) cannot be read, so no snapshot restore was started: %w (check the role may list and read it, then resume)",
			strings.Join(names, " and "), erasure.Prefix, err)
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
	job := func(ctx context.Context) (restore.SnapshotResult, error) {
		res, err := a.Atlas.Restore(ctx, atlas.SnapshotRestoreOptions{
			SourceProjectID: src.Atlas.ProjectID, SourceCluster: src.Atlas.Cluster,
			TargetProjectID: dst.Atlas.ProjectID, TargetCluster: dst.Atlas.Cluster, TargetRegion: plan.To,
			UnavailableRegions: []string{plan.From}, Progress: func(m string) { progress("%s", m) },
		})
		return restore.SnapshotResult{SnapshotID: res.SnapshotID, SnapshotTime: res.SnapshotTime, RestoreJobID: res.RestoreJobID, FinishedAt: res.FinishedAt}, err
	}
	rep, err := restore.Snapshot(ctx, o, restore.SnapshotSource{ID: plan.Backup.ID, Run: job})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s (into %s/%s)", restore.Summary(rep), dst.Atlas.ProjectID, dst.Atlas.Cluster), nil
}

// CheckInputs implements RestoreInputs: plan and the apply preflight refuse an Atlas restore without
// the target's connection string, which the protocol needs after the job (it would refuse at that
// point otherwise, after the deploy).
func (a *Snapshots) CheckInputs(target string) (string, error) {
	return a.Settings.targetURIInput(target, "an Atlas snapshot brings back every patient erased since it was taken, and the restore step re-applies the erasure register to the restored cluster through this connection string")
}

// InputWarnings implements RestoreAdvisories.
func (a *Snapshots) InputWarnings(target string) []string { return a.Settings.ledgerWarnings(target) }

// TargetInventory implements TargetLister.
func (a *Snapshots) TargetInventory(ctx context.Context) (restore.Inventory, error) {
	return a.Settings.targetInventory(ctx)
}

// RPO states the Atlas snapshot's age the way the logical backup's is (the plan's RPO line).
func (a *Snapshots) RPO(b failover.BackupRef, now time.Time) string {
	return fmt.Sprintf("RPO: Atlas snapshot %s is %s old: a failover to it loses the writes made since (the cluster's snapshot schedule bounds it)", b.ID, now.Sub(b.TakenAt).Round(time.Minute))
}
