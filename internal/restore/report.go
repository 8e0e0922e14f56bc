package restore

import (
	"fmt"
	"strings"
	"time"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/erasure"
	"github.com/carohealth/platform/internal/retention"
)

// Report is what a restore did (the -o json output of the restore commands).
type Report struct {
	Kind string `json:"kind"`
	// BackupID is the backup's ID, or the Atlas snapshot's.
	BackupID     string    `json:"backupId"`
	SourceRegion string    `json:"sourceRegion"`
	BackupTime   time.Time `json:"backupTime"`
	Database     string    `json:"database"`
	// Run names this restore's run (its kept-aside collections are KeptName(run, name)).
	Run         string                     `json:"run,omitempty"`
	Collections []backup.CollectionRestore `json:"collections,omitempty"`
	Documents   int64                      `json:"documents"`
	Verified    bool                       `json:"verified"`
	// Recovered is what the restore found interrupted and finished or rolled back first.
	Recovered *Recovery `json:"recovered,omitempty"`
	// AlreadyRestored is true when the restore of this backup (and plan) had completed before:
	// nothing was restored again.
	AlreadyRestored bool `json:"alreadyRestored,omitempty"`
	// Replaced lists what the target held and the switch moved aside (kept under KeptAs) or, for
	// an Atlas snapshot, replaced.
	Replaced []Replaced `json:"replaced,omitempty"`
	// TargetChanges are the differences from the expected target that the operator accepted.
	TargetChanges []string `json:"targetChanges,omitempty"`
	// Erasures says how many registered erasures were re-applied (nil when skipped).
	Erasures               *erasure.Summary `json:"erasures,omitempty"`
	ErasureRegisterSkipped bool             `json:"erasureRegisterSkipped,omitempty"`
	// Retention is what expired in the restored data because its retention ended since the backup
	// (nil when Options.RetentionYears is 0).
	Retention *retention.Report `json:"retention,omitempty"`
	// LedgerHeld is true when the restored database's audit ledger was held; LedgerRecovered when
	// it was then recovered (the hold removed); LedgerSummary says what happened or what to run.
	LedgerHeld      bool   `json:"ledgerHeld,omitempty"`
	LedgerRecovered bool   `json:"ledgerRecovered,omitempty"`
	LedgerSummary   string `json:"ledgerSummary,omitempty"`
	// AuditEventID is the restore's backup:restore event, stored pending in backup.LogCollection.
	AuditEventID string `json:"auditEventId,omitempty"`
	// AuditEvents locates every audit event the restore wrote (the restore's, then one per
	// re-applied erasure) for inline delivery.
	AuditEvents []audit.Written `json:"-"`
	// UnstoredAuditEvent is the restore's event when its record could not be written: it can only
	// be published (Deliver does).
	UnstoredAuditEvent *audit.Event `json:"unstoredAuditEvent,omitempty"`
	// SnapshotJob is the Atlas restore job of a snapshot restore.
	SnapshotJob string `json:"snapshotJob,omitempty"`
	// Warnings are things the operator must act on although the restore succeeded.
	Warnings      []string      `json:"warnings,omitempty"`
	Duration      time.Duration `json:"durationNs"`
	DocsPerSecond float64       `json:"docsPerSecond"`
}

// Recovery is what Recover found and did.
type Recovery struct {
	// Action is RolledBack, Finished or Cleared (only a left-over maintenance switch or staging
	// collections), or "" when there was nothing to do.
	Action string `json:"action"`
	Run    string `json:"run,omitempty"`
	Kind   string `json:"kind,omitempty"`
	// BackupID and PlanID are the interrupted run's.
	BackupID string `json:"backupId,omitempty"`
	PlanID   string `json:"planId,omitempty"`
	// Phase is where the interrupted run stopped.
	Phase string `json:"phase,omitempty"`
	// Detail says in words what was found and done.
	Detail string `json:"detail"`
	// Finished is the report of a finished run.
	Finished *Report `json:"finished,omitempty"`
}

// Recovery actions.
const (
	RolledBack = "rolled-back"
	Finished   = "finished"
	Cleared    = "cleared"
)

// Summary is a one-line account of rep: a failover step's detail, the CLI's closing line.
func Summary(rep *Report) string {
	var parts []string
	if rep.Recovered != nil && rep.Recovered.Action != "" {
		parts = append(parts, "first: "+rep.Recovered.Detail)
	}
	what := "backup"
	if rep.Kind == KindSnapshot {
		what = "Atlas snapshot"
	}
	switch {
	case rep.AlreadyRestored:
		parts = append(parts, fmt.Sprintf("%s %s was already restored (%d documents, run %s)", what, rep.BackupID, rep.Documents, rep.Run))
	case rep.Kind == KindSnapshot:
		parts = append(parts, fmt.Sprintf("restored %s %s (job %s, taken %s) into %s", what, rep.BackupID, rep.SnapshotJob, rep.BackupTime.UTC().Format(time.RFC3339), rep.Database))
	default:
		rate := "" // an activated staged copy loads nothing here: no rate to state
		if rep.DocsPerSecond > 0 {
			rate = fmt.Sprintf(" (%.0f docs/s)", rep.DocsPerSecond)
		}
		parts = append(parts, fmt.Sprintf("restored %s %s: %d documents in %d collections, counts and SHA-256 verified against the manifest%s",
			what, rep.BackupID, rep.Documents, len(rep.Collections), rate))
	}
	if rep.Retention != nil && rep.Retention.Expired > 0 {
		parts = append(parts, fmt.Sprintf("%d records past the retention of %d years expired", rep.Retention.Expired, rep.Retention.Years))
	}
	if rep.Erasures != nil {
		parts = append(parts, fmt.Sprintf("%d registered erasures re-applied (%d patients erased again)", rep.Erasures.Applied, rep.Erasures.Patients))
	}
	if rep.ErasureRegisterSkipped {
		parts = append(parts, "WARNING: the erasure register was NOT re-applied")
	}
	if k := keptList(rep.Replaced); k != "" {
		parts = append(parts, "replaced collections kept: "+k)
	} else if len(rep.Replaced) > 0 {
		names := make([]string, 0, len(rep.Replaced))
		for _, r := range rep.Replaced {
			names = append(names, fmt.Sprintf("%s (%d documents)", r.Collection, r.Documents))
		}
		parts = append(parts, "replaced (not kept): "+strings.Join(names, ", "))
	}
	if rep.LedgerSummary != "" {
		parts = append(parts, rep.LedgerSummary)
	}
	for _, w := range rep.Warnings {
		if w != rep.LedgerSummary {
			parts = append(parts, "WARNING: "+w)
		}
	}
	return strings.Join(parts, "; ")
}
