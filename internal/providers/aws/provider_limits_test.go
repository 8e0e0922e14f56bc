package aws

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carohealth/platform/internal/failover"
	"github.com/carohealth/platform/regions"
)

// TestTemplatesUpTo51200BytesGoInline: CloudFormation takes a TemplateBody of up to 51,200 bytes;
// one byte more and the deploy step uploads the template to S3 and passes its URL.
func TestTemplatesUpTo51200BytesGoInline(t *testing.T) {
	if !fitsInline(strings.Repeat("x", 51200)) || fitsInline(strings.Repeat("x", 51201)) {
		t.Fatal("the inline limit is not 51,200 bytes")
	}
}

// TestRestoreEstimateWithoutBetterKnowledge: a backup of known size is estimated at 2,000 documents
// per second after 30 s of setup; one of unknown size at half an hour.
func TestRestoreEstimateWithoutBetterKnowledge(t *testing.T) {
	if got := restoreEstimate(failover.BackupRef{Records: 10000}); got != 35 {
		t.Errorf("10,000 records: %v s, want 35", got)
	}
	if got := restoreEstimate(failover.BackupRef{Records: 1}); got != 30.0005 {
		t.Errorf("1 record: %v s, want 30.0005", got)
	}
	if got := restoreEstimate(failover.BackupRef{}); got != 1800 {
		t.Errorf("unknown size: %v s, want 1800", got)
	}
}

// TestHealthChecksGiveUpAfter5Seconds: a region's health endpoint that does not answer within 5 s
// counts as unhealthy rather than stalling the plan; a client the caller gives is used as it is.
func TestHealthChecksGiveUpAfter5Seconds(t *testing.T) {
	p := &Provider{}
	if p.httpClient().Timeout != 5*time.Second {
		t.Fatalf("health client timeout %s", p.httpClient().Timeout)
	}
}

// TestAFailedStackDeployStopsTheFailover: when CloudFormation refuses the change set, the deploy
// step fails with its reason and nothing after it runs (no restore, no DNS move).
func TestAFailedStackDeployStopsTheFailover(t *testing.T) {
	w := newAWSWorld(t)
	ctx := context.Background()
	p, err := failover.MakePlan(ctx, w.prov, failover.Request{From: "eu-west-1", To: "eu-central-1", Primary: "eu-west-1", Restore: "backup"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cf := w.cfn["eu-central-1"]
	cf.mu.Lock()
	cf.executeRefused = "Requires capabilities : [CAPABILITY_AUTO_EXPAND]"
	cf.mu.Unlock()
	rep, err := w.apply(t, p)
	if err == nil || rep.OK || !strings.Contains(err.Error(), "CAPABILITY_AUTO_EXPAND") {
		t.Fatalf("apply: %v %+v", err, rep)
	}
	for _, s := range rep.Steps {
		switch {
		case s.Name == "deploy" && s.Status != failover.StatusFailed:
			t.Errorf("deploy step %+v, want failed", s)
		case s.Name == "restore" || s.Name == "dns":
			if s.Status != failover.StatusNotRun {
				t.Errorf("%s step %+v ran after the failed deploy", s.Name, s)
			}
		}
	}
	if w.restorer.runs != 0 {
		t.Errorf("restore ran %d times after the failed deploy", w.restorer.runs)
	}
}

// TestTheRestoreStepsCheckSeesARestoreDone: the restore step's Check answers from the target (a
// restore found done after a crash is not run again), before it ran and after.
func TestTheRestoreStepsCheckSeesARestoreDone(t *testing.T) {
	w := newAWSWorld(t)
	ctx := context.Background()
	p, err := failover.MakePlan(ctx, w.prov, failover.Request{From: "eu-west-1", To: "eu-central-1", Primary: "eu-west-1", Restore: "backup"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	restoreCheck := func() (bool, error) {
		steps, err := w.prov.Steps(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range steps {
			if s.Name() == "restore" {
				return s.Check(ctx)
			}
		}
		t.Fatal("no restore step")
		return false, nil
	}
	if done, err := restoreCheck(); err != nil || done {
		t.Fatalf("before the apply: done %v, %v", done, err)
	}
	if rep, err := w.apply(t, p); err != nil || !rep.OK {
		t.Fatalf("apply: %v %+v", err, rep)
	}
	if done, err := restoreCheck(); err != nil || !done {
		t.Fatalf("after the apply: done %v, %v", done, err)
	}
}

// TestTheVerifyStepWaitsForTheTargetToAnswer: a target still starting (its health endpoint failing
// for a while) is asked again until it answers, within the step's 2 minutes; the restore marker it
// reports must be the plan's backup.
func TestTheVerifyStepWaitsForTheTargetToAnswer(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	marker := "b1"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls <= 2 {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, `{"status":"ok","restore":{"backup_id":%q}}`, marker)
	}))
	defer srv.Close()
	p := &Provider{PollInterval: time.Millisecond, HealthURL: func(regions.Definition) string { return srv.URL }}
	r := &awsRun{p: p, plan: &failover.Plan{Backup: failover.BackupRef{ID: "b1"}}, texts: map[string]string{}}
	err := r.verify(context.Background())
	mu.Lock()
	n := calls
	mu.Unlock()
	if err != nil {
		t.Fatalf("verify: %v (after %d calls)", err, n)
	}
	if n != 3 || r.texts["verify"] != srv.URL+" answers with the restore marker of b1" {
		t.Fatalf("%d calls, says %q", n, r.texts["verify"])
	}
	mu.Lock()
	calls, marker = 10, "an-older-backup"
	mu.Unlock()
	if err := r.verify(context.Background()); err == nil || !strings.Contains(err.Error(), `reports restore marker "an-older-backup", want backup b1`) {
		t.Fatalf("a wrong marker: %v", err)
	}
}

// propagatingResolver answers the old region for the first lookups after Route 53 moved the name,
// as resolvers do until the change propagates.
type propagatingResolver struct {
	*dataPlaneResolver
	mu                sync.Mutex
	staleAfterTheMove int
}

func (p *propagatingResolver) LookupCNAME(ctx context.Context, host string) (string, error) {
	ans, err := p.dataPlaneResolver.LookupCNAME(ctx, host)
	p.mu.Lock()
	defer p.mu.Unlock()
	if ans == "api-eu-central-1.caro.health." && p.staleAfterTheMove > 0 {
		p.staleAfterTheMove--
		return "api-eu-west-1.caro.health.", err
	}
	return ans, err
}

// TestTheDNSStepWaitsForTheMoveToPropagate: after the DNS change the step keeps asking until the
// name answers the target (up to 5 minutes), rather than failing at the first stale answer.
func TestTheDNSStepWaitsForTheMoveToPropagate(t *testing.T) {
	w := newAWSWorld(t)
	w.prov.Resolver = &propagatingResolver{dataPlaneResolver: w.resolver, staleAfterTheMove: 3}
	p, err := failover.MakePlan(context.Background(), w.prov, failover.Request{From: "eu-west-1", To: "eu-central-1", Primary: "eu-west-1", Restore: "backup"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rep, err := w.apply(t, p)
	if err != nil || !rep.OK {
		t.Fatalf("apply: %v %+v", err, rep)
	}
}

// TestTheConfirmStepRefusesTheOldRegionBehindCloudFront: the smoke request through CloudFront must be
// answered by the target region; an answer from another region (a cached origin) fails the step, one
// that names no region is taken as the target's.
func TestTheConfirmStepRefusesTheOldRegionBehindCloudFront(t *testing.T) {
	defs, err := regions.Default()
	if err != nil {
		t.Fatal(err)
	}
	to, err := defs.Get("eu-central-1")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	body := `{"status":"ok","region":"eu-west-1"}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprint(w, body)
	}))
	defer srv.Close()
	p := &Provider{Resolver: &dataPlaneResolver{r53: &fakeRoute53{}, primaryDown: true}, PublicHealthURL: func(regions.Definition) string { return srv.URL }}
	r := &awsRun{p: p, to: to, plan: &failover.Plan{From: "eu-west-1", To: "eu-central-1"}, texts: map[string]string{}}
	if err := r.confirm(context.Background()); err == nil || !strings.Contains(err.Error(), "is served by eu-west-1, not eu-central-1") {
		t.Fatalf("served by the old region: %v", err)
	}
	for _, b := range []string{`{"status":"ok","region":"eu-central-1"}`, `{"status":"ok"}`} {
		mu.Lock()
		body = b
		mu.Unlock()
		if err := r.confirm(context.Background()); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
	}
}

// TestAcceptedKeysAreTheTargetsBothBackupKeysAndTheConfiguredOnesOnce: a backup in the target may be
// encrypted under the replica of the source's key, the target's own key or a configured one; each is
// listed once, and an unset output adds none.
func TestAcceptedKeysAreTheTargetsBothBackupKeysAndTheConfiguredOnesOnce(t *testing.T) {
	s := &RestoreSettings{AcceptedBackupKeys: []string{"arn:old", "arn:replica", "arn:old"}}
	got := s.acceptedKeys(map[string]string{OutputBackupKeyArn: "arn:replica", OutputOwnBackupKeyArn: "arn:own"})
	if strings.Join(got, ",") != "arn:replica,arn:own,arn:old" {
		t.Fatalf("accepted keys %v", got)
	}
	if got := s.acceptedKeys(map[string]string{}); strings.Join(got, ",") != "arn:old,arn:replica" {
		t.Fatalf("without outputs: %v", got)
	}
}

// TestTheIdentitiesStepReportsConflictsForAHuman: a user already in the target's pool under another
// tenant is not changed; the step completes and its line says how many conflicts are left for a
// human, and which (masked).
func TestTheIdentitiesStepReportsConflictsForAHuman(t *testing.T) {
	w := newAWSWorld(t)
	w.cognito.users["+31600000001"] = map[string]string{"phone_number": "+31600000001", "custom:tenant_id": "other"}
	p, err := failover.MakePlan(context.Background(), w.prov, failover.Request{From: "eu-west-1", To: "eu-central-1", Primary: "eu-west-1", Restore: "backup"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rep, err := w.apply(t, p)
	if err != nil || !rep.OK {
		t.Fatalf("apply: %v %+v", err, rep)
	}
	want := `0 users created in eu-central-1_Pool (1 already there), each must reset the password from an SMS; 1 CONFLICTS left for a human: *********001 exists in tenant "other", export says "t1"`
	for _, s := range rep.Steps {
		if s.Name == "identities" && s.Detail != want {
			t.Fatalf("identities step says %q, want %q", s.Detail, want)
		}
	}
	// AND without a conflict the line mentions none
	w = newAWSWorld(t)
	if p, err = failover.MakePlan(context.Background(), w.prov, failover.Request{From: "eu-west-1", To: "eu-central-1", Primary: "eu-west-1", Restore: "backup"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if rep, err = w.apply(t, p); err != nil || !rep.OK {
		t.Fatalf("apply: %v %+v", err, rep)
	}
	want = "1 users created in eu-central-1_Pool (0 already there), each must reset the password from an SMS"
	for _, s := range rep.Steps {
		if s.Name == "identities" && s.Detail != want {
			t.Fatalf("identities step says %q, want %q", s.Detail, want)
		}
	}
}

// TestACognitoFailureStopsTheIdentitiesStep: a user the pool refuses fails the identities step;
// the failover stops there.
func TestACognitoFailureStopsTheIdentitiesStep(t *testing.T) {
	w := newAWSWorld(t)
	w.prov.Identities = &memIdentities{users: []Identity{{Phone: "+31600000001", TenantID: "t1", Roles: []string{"clinician"}, OldSubject: "s1"}, {Phone: "", TenantID: "t1"}}}
	p, err := failover.MakePlan(context.Background(), w.prov, failover.Request{From: "eu-west-1", To: "eu-central-1", Primary: "eu-west-1", Restore: "backup"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rep, err := w.apply(t, p)
	if err == nil || rep.OK || !strings.Contains(err.Error(), "the export is damaged") {
		t.Fatalf("apply: %v %+v", err, rep)
	}
	for _, s := range rep.Steps {
		if s.Name == "identities" && s.Status != failover.StatusFailed {
			t.Fatalf("identities step %+v", s)
		}
	}
}
