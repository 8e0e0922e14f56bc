package aws

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/carohealth/platform/internal/failover"
	"github.com/carohealth/platform/internal/restore"
	"github.com/carohealth/platform/regions"
)

// listingRestorer is a restorer that lists what the target database holds.
type listingRestorer struct {
	*memRestorer
	inv restore.Inventory
}

func (l listingRestorer) TargetInventory(context.Context) (restore.Inventory, error) {
	return l.inv, nil
}

// TestReadinessListsWhatTheTargetDatabaseHolds: readiness (and the plan) list what the restore will
// replace in the target database, say loudly that it is replaced, and keep the listing in the plan
// so apply can refuse if it changes.
func TestReadinessListsWhatTheTargetDatabaseHolds(t *testing.T) {
	w := newAWSWorld(t)
	w.prov.MaxBackupAge = 26 * time.Hour
	w.prov.Restorer = listingRestorer{memRestorer: w.restorer, inv: restore.Inventory{Database: "caro", Collections: map[string]int64{"patients": 3}}}
	r := failover.Readiness(context.Background(), w.prov, failover.Request{From: "eu-west-1", To: "eu-central-1", Primary: "eu-west-1"}, time.Now())
	ok, warn := checkNamed(r, CheckTargetDB, failover.CheckOK), checkNamed(r, CheckTargetDB, failover.CheckWarning)
	if ok == nil || !strings.Contains(ok.Detail, "target database caro holds") || warn == nil || !strings.Contains(warn.Detail, "the restore replaces what eu-central-1's database caro holds") {
		t.Fatalf("target database checks: %+v", r.Checks)
	}
	// AND an empty target database is listed without the warning
	w.prov.Restorer = listingRestorer{memRestorer: w.restorer, inv: restore.Inventory{Database: "caro", Collections: map[string]int64{}}}
	r = failover.Readiness(context.Background(), w.prov, failover.Request{From: "eu-west-1", To: "eu-central-1", Primary: "eu-west-1"}, time.Now())
	if checkNamed(r, CheckTargetDB, failover.CheckOK) == nil || checkNamed(r, CheckTargetDB, failover.CheckWarning) != nil {
		t.Fatalf("empty target database: %+v", r.Checks)
	}
}

// TestReadinessOfABackupRestoreChecksTheAtlasSnapshotToo: with Atlas restores configured, a
// failover from a logical backup also reports the snapshot copy, the second way back.
func TestReadinessOfABackupRestoreChecksTheAtlasSnapshotToo(t *testing.T) {
	w := newAWSWorld(t)
	w.prov.MaxBackupAge = 26 * time.Hour
	w.prov.AtlasCatalog = &memCatalog{b: failover.BackupRef{ID: "snapshot-5f1e", TakenAt: time.Now().Add(-time.Hour)}}
	r := failover.Readiness(context.Background(), w.prov, failover.Request{From: "eu-west-1", To: "eu-central-1", Primary: "eu-west-1", Restore: "backup"}, time.Now())
	if c := checkNamed(r, CheckAtlasSnapshot, failover.CheckOK); c == nil || !strings.Contains(c.Detail, "Atlas snapshot snapshot-5f1e copied to eu-central-1") {
		t.Fatalf("no Atlas snapshot check: %+v", r.Checks)
	}
}

// TestRoute53SeesTheTargetUnhealthyWhenAtMostHalfItsCheckersSucceed: the failover record answers
// with the target only while more than half of Route 53's checkers report success; a status counts
// when it starts with "Success"; no observation says nothing either way.
func TestRoute53SeesTheTargetUnhealthyWhenAtMostHalfItsCheckersSucceed(t *testing.T) {
	for _, c := range []struct {
		healthy, total int
		unhealthy      bool
	}{{0, 0, false}, {0, 1, true}, {1, 2, true}, {2, 3, false}, {8, 8, false}} {
		if got := mostlyUnhealthy(c.healthy, c.total); got != c.unhealthy {
			t.Errorf("%d of %d report success: unhealthy %v, want %v", c.healthy, c.total, got, c.unhealthy)
		}
	}
	obs := func(statuses ...string) []r53types.HealthCheckObservation {
		var out []r53types.HealthCheckObservation
		for _, s := range statuses {
			out = append(out, r53types.HealthCheckObservation{StatusReport: &r53types.StatusReport{Status: aws.String(s)}})
		}
		return append(out, r53types.HealthCheckObservation{}) // a checker without a report
	}
	if h, n := checkersHealthy(obs("Success", "Success: HTTP Status Code 200, OK", "Failure: Connection timed out", "success")); h != 2 || n != 5 {
		t.Fatalf("%d healthy of %d, want 2 of 5", h, n)
	}
}

// TestReadinessSaysWhetherTheSourceIsDownAndCountsThePoolsUsers: a source that is down is a passed
// check (a failover is what it needs); one that answers is a warning (a failover moves live
// traffic); the target's pool is reported with its users.
func TestReadinessSaysWhetherTheSourceIsDownAndCountsThePoolsUsers(t *testing.T) {
	w := newAWSWorld(t)
	w.prov.MaxBackupAge = 26 * time.Hour
	w.cognito.users["+31600000042"] = map[string]string{"custom:tenant_id": "t1"}
	req := failover.Request{From: "eu-west-1", To: "eu-central-1", Primary: "eu-west-1"}
	r := failover.Readiness(context.Background(), w.prov, req, time.Now())
	if c := checkNamed(r, CheckSourceHealth, failover.CheckOK); c == nil || !strings.HasPrefix(c.Detail, "source eu-west-1 is down") {
		t.Fatalf("source down: %+v", r.Checks)
	}
	if c := checkNamed(r, CheckUserPool, failover.CheckOK); c == nil || !strings.HasSuffix(c.Detail, "(1 users now)") {
		t.Fatalf("user pool: %+v", r.Checks)
	}
	w.health["eu-west-1"] = true
	r = failover.Readiness(context.Background(), w.prov, req, time.Now())
	if checkNamed(r, CheckSourceHealth, failover.CheckOK) != nil || checkNamed(r, "source-health", failover.CheckWarning) == nil {
		t.Fatalf("source healthy: %+v", r.Checks)
	}
}

// TestTheBackupAgeIsWarnedOnlyOverTheObjective: a backup older than the recovery point objective is
// a warning; one exactly at it, or any backup without an objective set, passes; the age is measured.
func TestTheBackupAgeIsWarnedOnlyOverTheObjective(t *testing.T) {
	now := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	cat := &memCatalog{b: failover.BackupRef{ID: "b1", TakenAt: now.Add(-time.Hour)}}
	for objective, want := range map[time.Duration]failover.CheckStatus{0: failover.CheckOK, time.Hour: failover.CheckOK, 59 * time.Minute: failover.CheckWarning} {
		p := &Provider{MaxBackupAge: objective, Now: func() time.Time { return now }}
		s := &failover.Survey{}
		p.surveyBackup(context.Background(), nil, failover.Request{From: "eu-west-1", To: "eu-central-1"}, nil, cat, s)
		var age *failover.Check
		for i := range s.Readiness {
			if s.Readiness[i].Name == CheckBackupAge {
				age = &s.Readiness[i]
			}
		}
		if age == nil || age.Status != want || age.Value == nil || *age.Value != 3600 {
			t.Errorf("objective %s: %+v, want %s measured 3600 s", objective, age, want)
		}
	}
}

// TestThePlanWarnsOfTheControlPlaneFallbackUnlessARCMovesDNS: with Route 53 ARC the DNS step needs no
// control-plane fallback; with health checks (the default, or asked for) the plan warns about it.
func TestThePlanWarnsOfTheControlPlaneFallbackUnlessARCMovesDNS(t *testing.T) {
	defs, err := regions.Default()
	if err != nil {
		t.Fatal(err)
	}
	to, err := defs.Get("eu-central-1")
	if err != nil {
		t.Fatal(err)
	}
	p := &Provider{}
	for _, c := range []struct {
		outs    map[string]string
		mode    string
		warning bool
	}{
		{map[string]string{OutputRoutingControlArn: "arn:aws:route53-recovery-control::111122223333:controlpanel/x/routingcontrol/y"}, DNSModeARC, false},
		{map[string]string{}, DNSModeHealthCheck, true},
	} {
		s := &failover.Survey{Settings: map[string]string{}}
		p.planSteps(failover.Request{From: "eu-west-1", To: "eu-central-1"}, to, c.outs, s)
		if s.Settings[SettingDNSMode] != c.mode || (len(s.Warnings) == 1) != c.warning {
			t.Errorf("mode %s: settings %v, warnings %q", c.mode, s.Settings, s.Warnings)
		}
	}
}

// TestANamedReleaseIsDeployedAndAMoveIsSaid: --release decides; when the standby runs another
// release the survey says the deploy step moves it, and says nothing when it runs that one already
// or does not say.
func TestANamedReleaseIsDeployedAndAMoveIsSaid(t *testing.T) {
	p := &Provider{Release: "1.2.0", ClientsFor: func(context.Context, string) (*Clients, error) { return nil, errors.New("eu-west-1 is down") }}
	req := failover.Request{From: "eu-west-1", To: "eu-central-1"}
	for standby, said := range map[string]string{
		"1.1.0": "eu-central-1 runs release 1.1.0; the deploy step moves it to release 1.2.0, as asked",
		"1.2.0": "",
		"":      "",
	} {
		s := &failover.Survey{}
		release, ok := p.chooseRelease(context.Background(), req, map[string]string{OutputRelease: standby}, s)
		if release != "1.2.0" || !ok {
			t.Fatalf("standby %q: release %q %v", standby, release, ok)
		}
		if got := checksOf(s); (said == "" && got != "") || (said != "" && got != "release ok: "+said) {
			t.Errorf("standby %q: checks %q, want %q", standby, got, said)
		}
	}
}
