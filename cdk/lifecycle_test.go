package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/carohealth/platform/constructs/replication"
	"github.com/carohealth/platform/constructs/retention"
)

// TestRetentionSettingDrivesTheJobAndTheLogs: one setting per region (retentionYears) drives the
// application data's expiry (the daily retention job gets it) and bounds every log that may hold
// personal data (access logs with client IPs, WAF logs, function logs): none is kept longer than
// the retention, and none for ever. The backups' and checkpoints' lifecycles are checked by
// TestEveryBucketOfPatientDataOrRecordsExpiresAtTheRetentionSetting.
func TestRetentionSettingDrivesTheJobAndTheLogs(t *testing.T) {
	// GIVEN the whole app and each region's retention setting
	pa := platformApp(t)
	years := map[string]int{}
	for _, def := range pa.Regions.All() {
		years[def.Region] = def.RetentionYears
	}
	av := newAppView(t)
	jobs := 0
	for _, s := range av.stacks {
		limit := replication.RetentionDays(years[s.region])
		if y, ok := years[s.region]; !ok || y == 0 {
			limit = replication.RetentionDays(retention.DefaultYears)
		}
		for id, r := range s.tpl.Resources {
			switch r.Type {
			case "AWS::Lambda::Function":
				// WHEN a region runs the retention job THEN it applies that region's setting daily
				env := mapOf(mapOf(r.Properties["Environment"])["Variables"])
				if v, ok := env[retention.EnvRetentionYears]; ok {
					jobs++
					if want := years[s.region]; stringOf(v) != strconv.Itoa(want) {
						t.Errorf("%s: %s applies %v years, the region's retentionYears is %d", s.name, id, v, want)
					}
				}
			case "AWS::Logs::LogGroup":
				// WHEN a log group is kept THEN for a bounded time within the retention
				d, ok := r.Properties["RetentionInDays"].(float64)
				if !ok {
					t.Errorf("%s: log group %s keeps its events for ever", s.name, id)
				} else if int(d) > limit {
					t.Errorf("%s: log group %s keeps %v days, longer than the region's retention (%d days)", s.name, id, d, limit)
				}
			case "AWS::S3::Bucket":
				// WHEN a bucket without Object Lock (access logs, assets) expires objects THEN within the
				// retention
				if stringOf(mapOf(r.Properties["ObjectLockConfiguration"])["ObjectLockEnabled"]) == "Enabled" {
					continue
				}
				if current, noncurrent := expiryRules(r); current > limit || noncurrent > limit {
					t.Errorf("%s: bucket %s keeps objects %d/%d days, longer than the region's retention (%d days)", s.name, id, current, noncurrent, limit)
				}
			}
		}
	}
	// THEN every platform stack has the job
	if want := len(pa.Platforms); jobs != want {
		t.Errorf("%d retention jobs in the app, want one per platform stack (%d)", jobs, want)
	}
	for _, s := range av.stacks {
		if !strings.HasPrefix(s.name, "CaroPlatform-") {
			continue
		}
		found := false
		for _, r := range s.tpl.Resources {
			if r.Type == "AWS::Events::Rule" && stringOf(r.Properties["ScheduleExpression"]) == "cron(30 3 * * ? *)" {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no daily retention rule", s.name)
		}
	}
}
