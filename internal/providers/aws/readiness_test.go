package aws

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carohealth/platform/internal/failover"
	"github.com/carohealth/platform/internal/objstore"
	"github.com/carohealth/platform/internal/release"
)

func checkNamed(r *failover.ReadinessReport, name string, status failover.CheckStatus) *failover.Check {
	for i := range r.Checks {
		if r.Checks[i].Name == name && r.Checks[i].Status == status {
			return &r.Checks[i]
		}
	}
	return nil
}

func TestReadinessOfAReadyStandby(t *testing.T) {
	// GIVEN a deployed standby with a fresh backup, its key, user pool and healthy health check
	w := newAWSWorld(t)
	w.prov.MaxBackupAge = 26 * time.Hour
	// WHEN readiness runs
	r := failover.Readiness(context.Background(), w.prov, failover.Request{From: "eu-west-1", To: "eu-central-1", Primary: "eu-west-1"}, time.Now())
	// THEN it is ready and says what it checked, with the backup's age as a measure
	if !r.Ready || r.Blockers != 0 {
		t.Fatalf("not ready: %+v", r.Checks)
	}
	for _, name := range []string{CheckCredentials, CheckTargetStack, CheckRelease, CheckBackupKey, CheckUserPool, CheckDNSHealth, CheckBackup, CheckBackupAge} {
		if checkNamed(r, name, failover.CheckOK) == nil {
			t.Errorf("no passed %s check: %+v", name, r.Checks)
		}
	}
	if c := checkNamed(r, CheckBackupAge, failover.CheckOK); c == nil || c.Value == nil || *c.Value < 1199 {
		t.Errorf("backup age measure: %+v", c)
	}
	// AND the ledger replica's absence is a warning, never a blocker
	if checkNamed(r, CheckLedgerReplica, failover.CheckWarning) == nil {
		t.Errorf("no ledger replica warning: %+v", r.Checks)
	}
}

func TestReadinessNamesEveryBlockerAndWarningWhereThePlanStopsAtTheFirst(t *testing.T) {
	// GIVEN a standby without the target's connection string, without its user pool, seen
	// unhealthy by Route 53, and a backup three days old against a 26-hour objective
	w := newAWSWorld(t)
	w.prov.Restorer = &inputsRestorer{memRestorer: memRestorer{restored: map[string]bool{}}, missing: true}
	w.cognito.poolMissing = true
	w.r53.unhealthy = map[string]bool{"hc-eu-central-1": true}
	w.prov.Catalog = &memCatalog{b: failover.BackupRef{ID: "old", TakenAt: time.Now().Add(-72 * time.Hour), Records: 10}}
	w.prov.MaxBackupAge = 26 * time.Hour
	req := failover.Request{From: "eu-west-1", To: "eu-central-1", Primary: "eu-west-1"}
	// WHEN readiness runs THEN it names both blockers and both warnings
	r := failover.Readiness(context.Background(), w.prov, req, time.Now())
	if r.Ready || r.Blockers != 2 {
		t.Fatalf("blockers = %d: %+v", r.Blockers, r.Checks)
	}
	for _, want := range []struct {
		name   string
		status failover.CheckStatus
		says   string
	}{
		{CheckRestoreInputs, failover.CheckBlocker, "CARO_FAILOVER_MONGODB_URI is not set"},
		{CheckUserPool, failover.CheckBlocker, "eu-central-1_Pool cannot be read"},
		{CheckDNSHealth, failover.CheckWarning, "0 of 3 checkers report success"},
		{CheckBackupAge, failover.CheckWarning, "over the recovery point objective of 26h0m0s"},
	} {
		if c := checkNamed(r, want.name, want.status); c == nil || !strings.Contains(c.Detail, want.says) {
			t.Errorf("%s %s saying %q: got %+v", want.status, want.name, want.says, c)
		}
	}
	// AND a plan refuses at the local blocker before asking AWS anything
	w.cfn["eu-central-1"].mu.Lock()
	w.cfn["eu-central-1"].calls = nil
	w.cfn["eu-central-1"].mu.Unlock()
	_, err := failover.MakePlan(context.Background(), w.prov, req, time.Now())
	var blocked *failover.BlockedError
	if !errors.As(err, &blocked) || len(blocked.Blockers) != 1 || blocked.Blockers[0].Name != CheckRestoreInputs {
		t.Fatalf("plan: %v", err)
	}
	if calls := w.cfn["eu-central-1"].calls; len(calls) != 0 {
		t.Errorf("the plan asked CloudFormation %v before refusing on a local input", calls)
	}
}

// publishRelease publishes template as version into the world's bucket, as the pipeline does.
func publishRelease(t *testing.T, store objstore.Store, version, template string) {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "CaroPlatform-eu-central-1.template.json"), []byte(template), 0o600)
	os.WriteFile(filepath.Join(dir, "CaroPlatform-eu-central-1.assets.json"), []byte(`{"files":{}}`), 0o600)
	if _, err := release.Publish(context.Background(), release.PublishOptions{Assembly: dir, Version: version, Stacks: []string{"CaroPlatform-eu-central-1"}, Store: store}); err != nil {
		t.Fatal(err)
	}
}

func TestTheFailoverDeploysThePublishedReleaseThePrimaryRuns(t *testing.T) {
	ctx := context.Background()
	w := newAWSWorld(t)
	w.resolver.primaryDown = true
	c, _ := w.prov.ClientsFor(ctx, "eu-central-1")
	store := objstore.NewS3(c.S3, "caro-failover-eu-central-1", "")
	publishRelease(t, store, "1.4.2", tmplV2)
	w.prov.AssemblyDir, w.prov.ReleaseBucket = "", "caro-failover-eu-central-1"
	req := failover.Request{From: "eu-west-1", To: "eu-central-1", Primary: "eu-west-1"}
	// GIVEN the standby still runs release 1.4.1 while the primary runs 1.4.2
	w.cfn["eu-west-1"].outputs[OutputRelease] = "1.4.2"
	w.cfn["eu-central-1"].outputs[OutputRelease] = "1.4.1"
	// WHEN a plan is made THEN it refuses and asks which release to deploy
	_, err := failover.MakePlan(ctx, w.prov, req, time.Now())
	if err == nil || !strings.Contains(err.Error(), "eu-central-1 runs release 1.4.1 but eu-west-1 runs 1.4.2") || !strings.Contains(err.Error(), "--release 1.4.2") {
		t.Fatalf("plan with differing releases: %v", err)
	}
	// WHEN the operator names the release THEN the plan pins it by version and template hash
	w.prov.Release = "1.4.2"
	p, err := failover.MakePlan(ctx, w.prov, req, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if p.Settings[SettingRelease] != "1.4.2" || p.Settings[SettingTemplate] != "s3://caro-failover-eu-central-1/caro-releases/1.4.2/CaroPlatform-eu-central-1.template.json" || len(p.Settings[SettingTemplateSHA]) != 64 {
		t.Fatalf("plan settings %v", p.Settings)
	}
	// AND the deploy step deploys exactly that object, from the target region's bucket
	if rep, err := w.apply(t, p); err != nil || !rep.OK {
		t.Fatalf("apply %v %+v", err, rep)
	}
	w.cfn["eu-central-1"].mu.Lock()
	url := w.cfn["eu-central-1"].templateURL
	w.cfn["eu-central-1"].mu.Unlock()
	if url != "https://caro-failover-eu-central-1.s3.eu-central-1.amazonaws.com/caro-releases/1.4.2/CaroPlatform-eu-central-1.template.json" {
		t.Fatalf("TemplateURL %q", url)
	}
}

func TestAnAlteredOrMissingReleaseIsRefused(t *testing.T) {
	ctx := context.Background()
	w := newAWSWorld(t)
	w.resolver.primaryDown = true
	c, _ := w.prov.ClientsFor(ctx, "eu-central-1")
	store := objstore.NewS3(c.S3, "caro-failover-eu-central-1", "")
	publishRelease(t, store, "2.0.0", tmplV2)
	w.prov.AssemblyDir, w.prov.ReleaseBucket, w.prov.Release = "", "caro-failover-eu-central-1", "2.0.0"
	req := failover.Request{From: "eu-west-1", To: "eu-central-1", Primary: "eu-west-1"}
	p, err := failover.MakePlan(ctx, w.prov, req, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// WHEN the published template is replaced after the plan THEN the apply refuses before deploying
	body := `{"Resources":{"Evil":{"Type":"AWS::IAM::User"}}}`
	store.Put(ctx, release.TemplateKey("2.0.0", "CaroPlatform-eu-central-1"), bytes.NewReader([]byte(body)), int64(len(body)))
	rep, err := w.apply(t, p)
	if err == nil || rep.OK || !strings.Contains(err.Error(), "was altered") {
		t.Fatalf("apply of an altered release: %v", err)
	}
	// AND a release that is not published blocks the plan, saying where it looked
	w.prov.Release = "9.9.9"
	if _, err := failover.MakePlan(ctx, w.prov, req, time.Now()); err == nil || !strings.Contains(err.Error(), "release 9.9.9 is not usable in s3://caro-failover-eu-central-1") {
		t.Fatalf("plan of a missing release: %v", err)
	}
}

func TestTheBackupKeyReplicaComesFromThePeersParameterWhenTheStackHasNoOutput(t *testing.T) {
	w := newAWSWorld(t)
	req := failover.Request{From: "eu-west-1", To: "eu-central-1", Primary: "eu-west-1"}
	// GIVEN a target stack without the BackupKeyArn output (one deploy: the peer wrote a parameter)
	arn := w.cfn["eu-central-1"].outputs[OutputBackupKeyArn]
	delete(w.cfn["eu-central-1"].outputs, OutputBackupKeyArn)
	// WHEN the configuration knows no replica THEN readiness blocks, saying what writes it
	r := failover.Readiness(context.Background(), w.prov, req, time.Now())
	if c := checkNamed(r, CheckBackupKey, failover.CheckBlocker); c == nil || !strings.Contains(c.Detail, "/caro/peers/eu-west-1/backup-key-arn") {
		t.Fatalf("without the replica: %+v", r.Checks)
	}
	// WHEN it knows the replica from the peer's parameter THEN the key is checked and ready
	w.prov.PeerBackupKeyArn = arn
	r = failover.Readiness(context.Background(), w.prov, req, time.Now())
	if c := checkNamed(r, CheckBackupKey, failover.CheckOK); c == nil || !strings.Contains(c.Detail, arn) {
		t.Fatalf("with the parameter's replica: %+v", r.Checks)
	}
}
