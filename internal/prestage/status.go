package prestage

import (
	"context"
	"fmt"
	"time"

	"github.com/carohealth/platform/internal/backup"
)

// DefaultBackupInterval is the backup schedule unless the region's definition says otherwise
// (regions/<region>.json backupEveryHours): the RPO of a failover from a logical backup is at most
// this interval plus the backup's own duration.
const DefaultBackupInterval = 6 * time.Hour

// DefaultMaxRun is how long a pre-stage may run before readiness calls it slow.
const DefaultMaxRun = time.Hour

// Severities of a finding, as readiness reports them.
const (
	Blocker = "blocker"
	Warning = "warning"
)

// Finding is one thing readiness reports.
type Finding struct {
	Check    string `json:"check"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
}

// StatusOptions configure Status.
type StatusOptions struct {
	// Store is the bucket that holds the backups in the standby region (and the records).
	Store backup.ObjectStore
	// Source is the region whose backups are staged ("" any).
	Source string
	// Interval is the backup schedule (default DefaultBackupInterval); MaxRun how long a pre-stage
	// may take (default DefaultMaxRun).
	Interval time.Duration
	MaxRun   time.Duration
	Now      time.Time
}

// State is what readiness shows of the standby's backups and pre-stage (JSON in `caro failover
// readiness -o json`).
type State struct {
	// Newest is the newest readable backup in the standby region (nil: none).
	Newest *backup.Summary `json:"newest,omitempty"`
	// Interval is the backup schedule, RPO the data a failover now would lose at most (the
	// newest backup's age plus the time until the next, bounded by the interval when on schedule).
	Interval    time.Duration `json:"intervalNs"`
	BackupAge   time.Duration `json:"backupAgeNs"`
	RPOTarget   time.Duration `json:"rpoTargetNs"`
	Latest      *Record       `json:"latest,omitempty"`
	Staged      string        `json:"staged"`
	Behind      bool          `json:"behind"`
	Findings    []Finding     `json:"findings,omitempty"`
	FailoverRTO string        `json:"failoverPath"`
}

// Status reads the standby's backups and pre-stage records and says what a failover now would
// find: the newest backup's age against the schedule (a blocker when the schedule stopped), and
// the pre-stage (warnings: a failover still loads the backup when nothing is staged, only slower).
func Status(ctx context.Context, o StatusOptions) (State, error) {
	if o.Interval <= 0 {
		o.Interval = DefaultBackupInterval
	}
	if o.MaxRun <= 0 {
		o.MaxRun = DefaultMaxRun
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	s := State{Interval: o.Interval, RPOTarget: o.Interval}
	list, err := backup.List(ctx, o.Store, o.Now)
	if err != nil {
		return s, fmt.Errorf("listing the standby's backups: %w", err)
	}
	for i := range list {
		if list[i].Problem == "" && (o.Source == "" || list[i].SourceRegion == o.Source) {
			s.Newest = &list[i]
			break
		}
	}
	add := func(check, sev, format string, args ...any) {
		s.Findings = append(s.Findings, Finding{Check: check, Severity: sev, Message: fmt.Sprintf(format, args...)})
	}
	if s.Newest == nil {
		add("backup-schedule", Blocker, "no readable backup of %s is in the standby region: a failover has nothing to restore; check the backup schedule (its engine's executions) and the bucket's replication", sourceName(o.Source))
	} else {
		s.BackupAge = o.Now.Sub(s.Newest.CreatedAt)
		// A backup runs every Interval and takes a while; one more interval of slack before the
		// schedule counts as stopped.
		if limit := 2 * o.Interval; s.BackupAge > limit {
			add("backup-schedule", Blocker, "the newest backup %s is %s old, more than twice the schedule (every %s): a failover now loses %s of data; check the backup engine's executions and alarms",
				s.Newest.BackupID, s.BackupAge.Round(time.Minute), o.Interval, s.BackupAge.Round(time.Minute))
		}
	}
	latest, err := Latest(ctx, o.Store)
	if err != nil {
		return s, err
	}
	s.Latest = latest
	if latest != nil {
		s.Staged = latest.Staged
	}
	s.FailoverRTO = "cold: a failover loads the backup"
	if s.Newest == nil {
		return s, nil
	}
	newest := s.Newest.BackupID
	switch {
	case latest == nil:
		add("prestage", Warning, "the standby has never pre-staged a backup: a failover loads %s (the cold path, minutes per million documents); check the pre-stage engine's executions", newest)
	case latest.State == StateRunning && latest.BackupID == newest:
		if run := o.Now.Sub(latest.StartedAt); run > o.MaxRun {
			add("prestage", Warning, "the pre-stage of %s has run for %s, more than the %s expected: it is slow or stuck; check its engine execution", newest, run.Round(time.Minute), o.MaxRun)
		}
	case latest.State == StateFailed:
		add("prestage", Warning, "the last pre-stage (of %s) failed: %s; the standby holds %s", latest.BackupID, latest.Problem, stagedName(latest.Staged))
	}
	if s.Staged == newest {
		s.FailoverRTO = "staged: " + newest + " is loaded and verified in the standby; a failover only activates it"
	} else {
		s.Behind = true
		since := o.Now.Sub(s.Newest.CreatedAt).Round(time.Minute)
		if latest == nil || latest.State != StateRunning || latest.BackupID != newest {
			add("prestage", Warning, "the standby is behind: it holds %s staged, the newest backup is %s (taken %s ago); a failover now loads it (the cold path)", stagedName(s.Staged), newest, since)
		}
	}
	return s, nil
}

func stagedName(id string) string {
	if id == "" {
		return "no staged copy"
	}
	return "backup " + id
}
