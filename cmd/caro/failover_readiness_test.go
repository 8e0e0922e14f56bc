package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/carohealth/platform/internal/failover"
)

// surveyProvider is a failover provider whose survey is given: readiness only surveys.
type surveyProvider struct{ s failover.Survey }

func (p *surveyProvider) Name() string { return "survey" }
func (p *surveyProvider) Survey(_ context.Context, req failover.Request) (*failover.Survey, error) {
	if !req.Readiness {
		panic("readiness must ask for every check")
	}
	s := p.s
	return &s, nil
}
func (p *surveyProvider) Steps(context.Context, *failover.Plan) ([]failover.Step, error) {
	return nil, nil
}

func withSurvey(t *testing.T, s failover.Survey) {
	t.Helper()
	failoverProviders["survey"] = func(context.Context, string, map[string]string) (failover.Provider, error) {
		return &surveyProvider{s: s}, nil
	}
	t.Cleanup(func() { delete(failoverProviders, "survey") })
}

func TestReadinessNamesEachBlockerAndWarningAndExitsByVerdict(t *testing.T) {
	// GIVEN a standby whose survey finds a blocker and a warning
	var s failover.Survey
	s.OK("credentials", "acting as on-call")
	s.Warn("backup-age", "the newest backup is 30h old, over the recovery point objective of 26h")
	s.Block("user-pool", "the target's user pool cannot be read")
	withSurvey(t, s)
	// WHEN readiness runs THEN it exits 2 and lists the blocker first, then the warning
	code, out, errOut := runCaro("failover", "readiness", "--provider", "survey")
	if code != exitNotReady || !strings.Contains(errOut, "not ready to take over: 1 blocker(s)") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	b, w, ok := strings.Index(out, "BLOCKER  user-pool"), strings.Index(out, "WARNING  backup-age"), strings.Index(out, "OK       credentials")
	if !strings.Contains(out, "Readiness of eu-central-1 to take over from eu-west-1") || b < 0 || w < b || ok < w {
		t.Fatalf("report:\n%s", out)
	}
	// AND -o json carries every check with its status
	code, out, _ = runCaro("failover", "readiness", "--provider", "survey", "-o", "json")
	var rep failover.ReadinessReport
	if code != exitNotReady || json.Unmarshal([]byte(out), &rep) != nil || rep.Ready || rep.Blockers != 1 || rep.Warnings != 1 || len(rep.Checks) != 3 {
		t.Fatalf("json (exit %d):\n%s", code, out)
	}
}

func TestReadinessExitStatusesWithoutBlockers(t *testing.T) {
	var ready failover.Survey
	ready.OK("credentials", "acting as on-call")
	withSurvey(t, ready)
	if code, out, errOut := runCaro("failover", "readiness", "--provider", "survey", "--to", "eu-central-1"); code != 0 || !strings.Contains(out, ": READY (0 blocker(s), 0 warning(s))") {
		t.Fatalf("ready: exit %d\n%s%s", code, out, errOut)
	}
	var warned failover.Survey
	warned.Warn("dns-health-check", "Route 53 sees eu-central-1 unhealthy")
	withSurvey(t, warned)
	if code, _, errOut := runCaro("failover", "readiness", "--provider", "survey"); code != exitReadyWithWarns || !strings.Contains(errOut, "ready to take over, with 1 warning(s)") {
		t.Fatalf("warnings only: exit %d, %s", code, errOut)
	}
	if code, _, errOut := runCaro("failover", "readiness", "--provider", "survey", "--to", "mars-north-1"); code != 1 || !strings.Contains(errOut, "mars-north-1") {
		t.Fatalf("unknown region: exit %d, %s", code, errOut)
	}
}

func TestAPlanRefusesNamingEveryBlocker(t *testing.T) {
	var s failover.Survey
	s.Block("backup-key", "eu-central-1 cannot decrypt the backups")
	s.Block("release", "release 9.9.9 is not usable")
	withSurvey(t, s)
	failoverProviders["survey"] = func(context.Context, string, map[string]string) (failover.Provider, error) {
		return planSurvey{s}, nil
	}
	code, _, errOut := runCaro("failover", "plan", "--provider", "survey", "--out", t.TempDir()+"/plan.json")
	if code == 0 || !strings.Contains(errOut, "2 blocker(s)") || !strings.Contains(errOut, "backup-key: eu-central-1 cannot decrypt") || !strings.Contains(errOut, "release: release 9.9.9") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

// planSurvey answers a plan's survey (no readiness flag).
type planSurvey struct{ s failover.Survey }

func (p planSurvey) Name() string { return "survey" }
func (p planSurvey) Survey(context.Context, failover.Request) (*failover.Survey, error) {
	s := p.s
	return &s, nil
}
func (planSurvey) Steps(context.Context, *failover.Plan) ([]failover.Step, error) { return nil, nil }
