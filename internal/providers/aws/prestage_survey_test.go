package aws

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/erasure"
	"github.com/carohealth/platform/internal/failover"
	"github.com/carohealth/platform/internal/prestage"
)

// checksOf renders a survey's checks as "name status: detail" lines, with the value when measured.
func checksOf(s *failover.Survey) string {
	var lines []string
	for _, c := range s.Readiness {
		line := fmt.Sprintf("%s %s: %s", c.Name, c.Status, c.Detail)
		if c.Value != nil {
			line += fmt.Sprintf(" [%v]", *c.Value)
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}

// TestTheSurveyReadsThePrestageAndTheBackupSchedule: readiness reports the backup schedule (the
// configured interval, else every 6 h) and what a failover now would find staged, with the last
// pre-stage's duration as its value; unreadable records are a warning; an Atlas restore, which uses
// no backup of the bucket, and a store it cannot read add nothing.
func TestTheSurveyReadsThePrestageAndTheBackupSchedule(t *testing.T) {
	ctx := context.Background()
	w := newRestoreWorld(t)
	seedPatients(t, w.db.Client().Database("surveysource"), "t1", "Ada")
	m, err := backup.Create(ctx, backup.CreateOptions{Source: w.db.Client(), Database: "surveysource", Store: w.replica, KMS: w.kms, KeyID: w.keyARN, Region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	p := &Provider{Now: func() time.Time { return m.CreatedAt.Add(30 * time.Minute) }}
	req := failover.Request{From: "eu-west-1", To: "eu-central-1", Restore: "backup"}
	survey := func(req failover.Request, c *Clients, outs map[string]string, r Restorer) string {
		s := &failover.Survey{}
		p.surveyPrestage(ctx, c, req, outs, r, s)
		return checksOf(s)
	}

	// GIVEN nothing staged yet (a warning, not an OK line), the default schedule
	got := survey(req, w.clients, w.outs, Restores{})
	if !strings.Contains(got, "backup-schedule ok: backups every 6h0m0s") || !strings.Contains(got, "(the newest is 30m0s old)") ||
		!strings.Contains(got, "prestage warning: the standby has never pre-staged a backup") || strings.Contains(got, "prestage ok") || strings.Contains(got, "[") {
		t.Fatalf("nothing staged:\n%s", got)
	}
	if got := survey(req, w.clients, w.outs, Restores{Settings: &RestoreSettings{}}); !strings.Contains(got, "backups every 6h0m0s") {
		t.Fatalf("settings without an interval:\n%s", got)
	}
	// GIVEN a configured schedule
	if got := survey(req, w.clients, w.outs, Restores{Settings: &RestoreSettings{BackupInterval: 2 * time.Hour}}); !strings.Contains(got, "backups every 2h0m0s") {
		t.Fatalf("configured interval:\n%s", got)
	}
	// GIVEN the backup staged by the standby
	if _, err := prestage.Run(ctx, prestage.Options{Target: w.db.Client(), Database: "standbysurvey", Store: w.replica, KMS: w.kms, AllowedKeys: []string{w.keyARN},
		Erasures: erasure.BucketsRegister(nil, w.replica, w.own), Region: "eu-central-1", Source: "eu-west-1", BackupID: m.BackupID, Settle: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	got = survey(req, w.clients, w.outs, Restores{})
	if !strings.Contains(got, "prestage ok: staged: "+m.BackupID) || !strings.Contains(got, "[") {
		t.Fatalf("staged:\n%s", got)
	}
	// GIVEN a backup schedule that stopped, THEN a warning replaces the OK line
	p.Now = func() time.Time { return m.CreatedAt.Add(13 * time.Hour) }
	got = survey(req, w.clients, w.outs, Restores{})
	if !strings.Contains(got, "backup-schedule warning") || strings.Contains(got, "backup-schedule ok") {
		t.Fatalf("late backups:\n%s", got)
	}
	p.Now = func() time.Time { return m.CreatedAt.Add(30 * time.Minute) }

	// GIVEN a bucket it cannot read
	outs := map[string]string{OutputBackupBucket: "no-such-bucket"}
	if got := survey(req, w.clients, outs, Restores{}); !strings.HasPrefix(got, "prestage warning: the pre-stage records in s3://no-such-bucket/"+prestage.Prefix+" could not be read") {
		t.Fatalf("unreadable records:\n%s", got)
	}
	// GIVEN an Atlas restore, or no S3 client of the SDK, THEN nothing is said
	if got := survey(failover.Request{From: "eu-west-1", To: "eu-central-1", Restore: "atlas"}, w.clients, w.outs, Restores{}); got != "" {
		t.Fatalf("atlas:\n%s", got)
	}
	if got := survey(req, &Clients{}, w.outs, Restores{}); got != "" {
		t.Fatalf("no S3 client:\n%s", got)
	}
}

// plannerStub is a Restorer that plans its path and states an RPO.
type plannerStub struct {
	Restorer
	err error
}

func (plannerStub) RPO(b failover.BackupRef, _ time.Time) string { return "rpo of " + b.ID }
func (p plannerStub) PlanRestore(context.Context, map[string]string, failover.BackupRef) (string, float64, error) {
	return "staged path: activate", 42, p.err
}

// TestThePlanSaysWhichRestorePathItTakes: the plan's restore step carries the path the restorer
// plans and its duration, and the RPO is stated; a path that cannot be read is a warning (the step
// decides when it runs); without a backup, or a restorer that plans, the plan is left as it was.
func TestThePlanSaysWhichRestorePathItTakes(t *testing.T) {
	ctx := context.Background()
	p := &Provider{}
	fresh := func(backupID string) *failover.Survey {
		return &failover.Survey{Backup: failover.BackupRef{ID: backupID}, Steps: []failover.PlannedStep{{Name: "deploy", Action: "deploy", ExpectedSeconds: 1}, {Name: "restore", Action: "restore", ExpectedSeconds: 1}}}
	}
	s := fresh("b1")
	p.planRestorePath(ctx, plannerStub{}, nil, s)
	if s.Steps[1].Action != "staged path: activate" || s.Steps[1].ExpectedSeconds != 42 || s.Steps[0].Action != "deploy" || s.Steps[0].ExpectedSeconds != 1 {
		t.Fatalf("steps %+v", s.Steps)
	}
	if got := checksOf(s); got != "backup-age ok: rpo of b1" {
		t.Fatalf("checks %q", got)
	}
	s = fresh("b1")
	p.planRestorePath(ctx, plannerStub{err: fmt.Errorf("listing refused")}, nil, s)
	if s.Steps[1].Action != "restore" || !strings.HasPrefix(checksOf(s), "backup-age ok: rpo of b1\ntarget-database warning: what the target database has staged could not be read (listing refused)") {
		t.Fatalf("unreadable path: %+v\n%s", s.Steps, checksOf(s))
	}
	for name, c := range map[string]struct {
		r      Restorer
		backup string
	}{"no backup": {plannerStub{}, ""}, "no planner": {&memRestorer{}, "b1"}} {
		s := fresh(c.backup)
		p.planRestorePath(ctx, c.r, nil, s)
		if s.Steps[1].Action != "restore" || len(s.Readiness) != 0 {
			t.Errorf("%s: %+v %s", name, s.Steps, checksOf(s))
		}
	}
}
