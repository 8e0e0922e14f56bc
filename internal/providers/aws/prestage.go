package aws

import (
	"context"
	"fmt"
	"time"

	"github.com/carohealth/platform/internal/failover"
	"github.com/carohealth/platform/internal/prestage"
)

// Readiness checks of the standby's backups and pre-stage (internal/prestage).
const (
	CheckPrestage       = "prestage"
	CheckBackupSchedule = "backup-schedule"
)

// surveyPrestage reads the pre-stage records and backups in the target's bucket: what a failover
// now would find staged, a failed or slow pre-stage, the backup schedule and the RPO it implies.
// Warnings only: a failover without a staged copy still loads the backup (the cold path).
func (p *Provider) surveyPrestage(ctx context.Context, c *Clients, req failover.Request, outs map[string]string, restorer Restorer, s *failover.Survey) {
	if req.Restore == "atlas" {
		return
	}
	store, err := backupStore(c, outs[OutputBackupBucket])
	if err != nil {
		return // no S3 client of the SDK here (a test's fake): nothing to read
	}
	interval := prestage.DefaultBackupInterval
	if r, ok := restorer.(Restores); ok && r.Settings != nil && r.Settings.BackupInterval > 0 {
		interval = r.Settings.BackupInterval
	}
	st, err := prestage.Status(ctx, prestage.StatusOptions{Store: store, Source: req.From, Interval: interval, Now: p.now()})
	if err != nil {
		s.Warn(CheckPrestage, fmt.Sprintf("the pre-stage records in s3://%s/%s could not be read: %v", outs[OutputBackupBucket], prestage.Prefix, err))
		return
	}
	warned := map[string]bool{}
	for _, f := range st.Findings {
		s.Warn(f.Check, f.Message)
		warned[f.Check] = true
	}
	if !warned[CheckBackupSchedule] {
		s.OK(CheckBackupSchedule, fmt.Sprintf("backups every %s: a failover loses at most about %s of writes plus a backup's duration (the newest is %s old)",
			interval, interval, st.BackupAge.Round(time.Minute)))
	}
	if !warned[CheckPrestage] {
		s.OK(CheckPrestage, st.FailoverRTO)
	}
	if st.Latest != nil {
		s.Measure(CheckPrestage, st.Latest.Seconds)
	}
}

// planRestorePath makes the plan's restore step say which path it takes and how long that is.
func (p *Provider) planRestorePath(ctx context.Context, restorer Restorer, outs map[string]string, s *failover.Survey) {
	rp, ok := restorer.(RestorePlanner)
	if rs, ok := restorer.(RPOStater); ok && s.Backup.ID != "" {
		s.OK(CheckBackupAge, rs.RPO(s.Backup, p.now()))
	}
	if !ok || s.Backup.ID == "" {
		return
	}
	action, secs, err := rp.PlanRestore(ctx, outs, s.Backup)
	if err != nil {
		s.Warn(CheckTargetDB, fmt.Sprintf("what the target database has staged could not be read (%v): the restore step decides when it runs", err))
		return
	}
	for i := range s.Steps {
		if s.Steps[i].Name == "restore" {
			s.Steps[i].Action, s.Steps[i].ExpectedSeconds = action, secs
		}
	}
}
