package aws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/carohealth/platform/internal/failover"
	"github.com/carohealth/platform/internal/localstack"
	"github.com/carohealth/platform/regions"
)

// fakeSTS answers GetCallerIdentity (query protocol, version 2011-06-15).
func fakeSTS(t *testing.T) *sts.Client {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		if r.PostForm.Get("Action") != "GetCallerIdentity" || r.PostForm.Get("Version") != "2011-06-15" {
			t.Errorf("STS request %v", r.PostForm)
		}
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprint(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:sts::111122223333:assumed-role/OnCallFailoverRole/alice</Arn><UserId>AROA:alice</UserId><Account>111122223333</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>`)
	}))
	t.Cleanup(srv.Close)
	return sts.NewFromConfig(localstack.AWSConfig("eu-central-1", srv.URL))
}

type memCatalog struct{ b failover.BackupRef }

func (m *memCatalog) Latest(context.Context, *Clients, map[string]string, string, string) (failover.BackupRef, error) {
	return m.b, nil
}

type memRestorer struct {
	mu       sync.Mutex
	restored map[string]bool
	runs     int
}

func (m *memRestorer) Restored(_ context.Context, _ *Clients, _ map[string]string, p *failover.Plan) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.restored[p.Backup.ID], nil
}

func (m *memRestorer) Restore(_ context.Context, _ *Clients, outs map[string]string, p *failover.Plan, progress failover.Progress) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.runs++
	m.restored[p.Backup.ID] = true
	progress("restored %s", p.Backup.ID)
	return "restored " + p.Backup.ID + " into the database of " + outs[OutputBackupBucket], nil
}

type memIdentities struct{ users []Identity }

func (m *memIdentities) Identities(context.Context, *Clients, map[string]string, *failover.Plan) ([]Identity, error) {
	return m.users, nil
}

// dataPlaneResolver models Route 53 answering the failover record: the SECONDARY once the
// primary's health check is inverted (or the primary is down).
type dataPlaneResolver struct {
	r53         *fakeRoute53
	primaryDown bool
	// stale makes the name answer the old region whatever Route 53 holds (a resolver cache, a
	// change not yet propagated).
	stale bool
}

func (d *dataPlaneResolver) LookupCNAME(_ context.Context, host string) (string, error) {
	d.r53.mu.Lock()
	defer d.r53.mu.Unlock()
	if !d.stale && (d.primaryDown || d.r53.inverted["hc-eu-west-1"]) {
		return "api-eu-central-1.caro.health.", nil
	}
	return "api-eu-west-1.caro.health.", nil
}

type awsWorld struct {
	prov     *Provider
	cfn      map[string]*fakeCloudFormation
	r53      *fakeRoute53
	cognito  *fakeCognito
	restorer *memRestorer
	resolver *dataPlaneResolver
	health   map[string]bool // region -> answers /health
}

func newAWSWorld(t *testing.T) *awsWorld {
	t.Helper()
	defs, err := regions.Default()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	kmsSrv := localstack.StartKMSForTest(t, localstack.WithKMSRegion("eu-central-1"))
	kc := kms.NewFromConfig(localstack.AWSConfig("eu-central-1", kmsSrv.Endpoint()))
	key, err := kc.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("backup key replica")})
	if err != nil {
		t.Fatal(err)
	}
	s3c := newS3(t)
	w := &awsWorld{cfn: map[string]*fakeCloudFormation{}, r53: &fakeRoute53{inverted: map[string]bool{}},
		cognito: &fakeCognito{t: t, users: map[string]map[string]string{}}, restorer: &memRestorer{restored: map[string]bool{}},
		health: map[string]bool{"eu-west-1": false, "eu-central-1": true}}
	w.resolver = &dataPlaneResolver{r53: w.r53}
	r53c := newRoute53(t, w.r53)
	cogSrv := httptest.NewServer(w.cognito)
	t.Cleanup(cogSrv.Close)
	stsc := fakeSTS(t)
	clients := map[string]*Clients{}
	for _, region := range []string{"eu-west-1", "eu-central-1"} {
		f := &fakeCloudFormation{exists: true, status: "UPDATE_COMPLETE", template: tmplV1, describeUntilDone: 1, outputs: map[string]string{
			OutputBackupBucket: "caro-failover-eu-central-1", OutputBackupKeyArn: aws.ToString(key.KeyMetadata.Arn),
			OutputUserPoolID: "eu-central-1_Pool", OutputHealthCheckID: "hc-" + region,
		}}
		w.cfn[region] = f
		clients[region] = &Clients{CloudFormation: newCFN(t, f), S3: s3c, KMS: kc, STS: stsc, Route53: r53c,
			Cognito: cip.NewFromConfig(localstack.AWSConfig(region, cogSrv.URL))}
	}
	healthSrv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		region := strings.TrimPrefix(r.URL.Path, "/")
		region = strings.TrimSuffix(region, "/api/health")
		if r.Header.Get("X-Caro-Origin-Verify") != "origin-secret" {
			rw.WriteHeader(403) // the WAF
			return
		}
		if region == "public" {
			region = "eu-west-1"
			if cname, _ := w.resolver.LookupCNAME(r.Context(), "api-origin"); strings.Contains(cname, "eu-central-1") {
				region = "eu-central-1"
			}
		}
		if !w.health[region] {
			rw.WriteHeader(503)
			return
		}
		body := map[string]any{"status": "ok", "region": region}
		w.restorer.mu.Lock()
		restored := w.restorer.restored["20261123T020000Z-aaaaaaaa"]
		w.restorer.mu.Unlock()
		if restored && region == "eu-central-1" {
			body["restore"] = map[string]any{"backup_id": "20261123T020000Z-aaaaaaaa"}
		}
		json.NewEncoder(rw).Encode(body)
	}))
	t.Cleanup(healthSrv.Close)
	asm := t.TempDir()
	os.WriteFile(filepath.Join(asm, "CaroPlatform-eu-central-1.template.json"), []byte(tmplV2), 0o600)
	os.WriteFile(filepath.Join(asm, "CaroPlatform-eu-west-1.template.json"), []byte(tmplV1), 0o600)
	w.prov = &Provider{
		Regions:     defs,
		ClientsFor:  func(_ context.Context, region string) (*Clients, error) { return clients[region], nil },
		Catalog:     &memCatalog{b: failover.BackupRef{ID: "20261123T020000Z-aaaaaaaa", TakenAt: time.Now().Add(-20 * time.Minute), Records: 1000}},
		Restorer:    w.restorer,
		Identities:  &memIdentities{users: []Identity{{Phone: "+31600000001", TenantID: "t1", Roles: []string{"clinician"}, OldSubject: "s1"}}},
		AssemblyDir: asm, Resolver: w.resolver, OriginSecret: "origin-secret",
		HealthURL:       func(d regions.Definition) string { return healthSrv.URL + "/" + d.Region + "/api/health" },
		PublicHealthURL: func(regions.Definition) string { return healthSrv.URL + "/public/api/health" },
		PollInterval:    5 * time.Millisecond,
	}
	return w
}

func (w *awsWorld) apply(t *testing.T, p *failover.Plan) (*failover.Report, error) {
	t.Helper()
	ctx := context.Background()
	steps, err := w.prov.Steps(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	j, l, err := w.prov.JournalAndLock(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	return (&failover.Engine{Journal: j, Lock: l}).Apply(ctx, p, steps)
}

func TestAWSFailoverPlanAndApplyAgainstFakes(t *testing.T) {
	// GIVEN eu-west-1 answering /health no more, but its health check not (yet) failing
	w := newAWSWorld(t)
	ctx := context.Background()
	p, err := failover.MakePlan(ctx, w.prov, failover.Request{From: "eu-west-1", To: "eu-central-1", Primary: "eu-west-1", Restore: "backup"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if p.Settings[SettingDNSMode] != DNSModeHealthCheck || p.Backup.AgeSeconds < 1199 || len(p.Steps) != 7 {
		t.Fatalf("plan %+v", p)
	}
	// WHEN the plan is applied
	rep, err := w.apply(t, p)
	if err != nil || !rep.OK {
		t.Fatalf("apply: %v %+v", err, rep)
	}
	// THEN the stack was updated through a change set, users were created, the primary's health
	// check inverted (the control-plane fallback, since the data plane had not moved), and the
	// restore ran once
	for _, f := range []*sync.Mutex{&w.cfn["eu-central-1"].mu, &w.r53.mu, &w.cognito.mu} {
		f.Lock()
	}
	got := strings.Join(w.cfn["eu-central-1"].calls, ",")
	if !strings.Contains(got, "CreateChangeSet") || !strings.Contains(got, "ExecuteChangeSet") || w.cfn["eu-central-1"].template != tmplV2 {
		t.Errorf("CloudFormation calls %s", got)
	}
	if _, ok := w.cognito.users["+31600000001"]; !ok {
		t.Error("user not created")
	}
	if !w.r53.inverted["hc-eu-west-1"] || w.r53.inverted["hc-eu-central-1"] {
		t.Errorf("health checks %v", w.r53.inverted)
	}
	for _, f := range []*sync.Mutex{&w.cfn["eu-central-1"].mu, &w.r53.mu, &w.cognito.mu} {
		f.Unlock()
	}
	if w.restorer.runs != 1 {
		t.Errorf("restore ran %d times", w.restorer.runs)
	}
	for _, s := range rep.Steps {
		if s.Status != failover.StatusCompleted {
			t.Errorf("step %+v", s)
		}
		if s.Name == "deploy" && !strings.Contains(s.Detail, "deployed by change set") {
			t.Errorf("the deploy step says %q, not what it deployed", s.Detail)
		}
	}
	// AND a re-apply changes nothing
	rep, err = w.apply(t, p)
	if err != nil || !rep.OK || w.restorer.runs != 1 {
		t.Fatalf("re-apply %v %+v", err, rep)
	}
}

func TestAWSFailoverDataPlaneAlreadyMovedAndTemplateMatches(t *testing.T) {
	// GIVEN the primary region is down (its CloudFormation too) and Route 53 already answers the
	// standby by itself, and the standby runs the synthesized template
	w := newAWSWorld(t)
	w.resolver.primaryDown = true
	w.cfn["eu-central-1"].template = tmplV2
	p, err := failover.MakePlan(context.Background(), w.prov, failover.Request{From: "eu-west-1", To: "eu-central-1", Primary: "eu-west-1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	w.cfn["eu-west-1"].mu.Lock()
	w.cfn["eu-west-1"].exists = false
	w.cfn["eu-west-1"].mu.Unlock()
	w.r53.mu.Lock()
	w.r53.records = []r53types.ResourceRecordSet{{Name: aws.String("api-origin.caro.health."), Type: r53types.RRTypeCname, SetIdentifier: aws.String("eu-west-1"),
		Failover: r53types.ResourceRecordSetFailoverPrimary, HealthCheckId: aws.String("hc-eu-west-1"), TTL: aws.Int64(60),
		ResourceRecords: []r53types.ResourceRecord{{Value: aws.String("api-eu-west-1.caro.health")}}}}
	w.r53.mu.Unlock()
	rep, err := w.apply(t, p)
	if err != nil || !rep.OK {
		t.Fatalf("apply %v %+v", err, rep)
	}
	// THEN nothing is deployed, and the name is pinned to the standby: the old primary's health
	// check (found on its failover record, as its stack is unreadable) is inverted
	status := map[string]string{}
	for _, s := range rep.Steps {
		status[s.Name] = s.Status
	}
	if status["deploy"] != failover.StatusAlready || status["dns"] != failover.StatusCompleted {
		t.Fatalf("statuses %v", status)
	}
	w.r53.mu.Lock()
	defer w.r53.mu.Unlock()
	w.cfn["eu-central-1"].mu.Lock()
	defer w.cfn["eu-central-1"].mu.Unlock()
	if !w.r53.inverted["hc-eu-west-1"] || strings.Contains(strings.Join(w.cfn["eu-central-1"].calls, ","), "CreateChangeSet") {
		t.Fatalf("r53 %v cfn %v", w.r53.inverted, w.cfn["eu-central-1"].calls)
	}
}

func TestAWSFailoverCompletesWhenOnlyTheControlPlaneIsDown(t *testing.T) {
	// GIVEN Route 53 already answers the standby (data plane) but its API (us-east-1) fails
	w := newAWSWorld(t)
	w.resolver.primaryDown = true
	p, err := failover.MakePlan(context.Background(), w.prov, failover.Request{From: "eu-west-1", To: "eu-central-1", Primary: "eu-west-1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	w.r53.mu.Lock()
	w.r53.failUpdates = true
	w.r53.mu.Unlock()
	rep, err := w.apply(t, p)
	if err != nil || !rep.OK {
		t.Fatalf("apply %v %+v", err, rep)
	}
	// THEN the failover completes, and the report says loudly that the pin is missing and how to set it
	for _, s := range rep.Steps {
		if s.Name == "dns" && (!strings.Contains(s.Detail, "PINNING FAILED") || !strings.Contains(s.Detail, "update-health-check --health-check-id hc-eu-west-1 --inverted")) {
			t.Fatalf("dns detail %q", s.Detail)
		}
	}
}

func TestAWSFailbackRefusedWhileOldPrimaryUnhealthy(t *testing.T) {
	w := newAWSWorld(t)
	_, err := failover.MakePlan(context.Background(), w.prov, failover.Request{From: "eu-central-1", To: "eu-west-1", Primary: "eu-west-1"}, time.Now())
	if !errors.Is(err, failover.ErrTargetUnhealthy) || !strings.Contains(err.Error(), "failback") {
		t.Fatalf("err = %v", err)
	}
}

func TestAWSPlanNamesMissingStackOutputs(t *testing.T) {
	w := newAWSWorld(t)
	delete(w.cfn["eu-central-1"].outputs, OutputUserPoolID)
	_, err := failover.MakePlan(context.Background(), w.prov, failover.Request{From: "eu-west-1", To: "eu-central-1", Primary: "eu-west-1"}, time.Now())
	if err == nil || !strings.Contains(err.Error(), OutputUserPoolID) {
		t.Fatalf("err = %v", err)
	}
}

func TestAWSDeployUploadsLargeTemplateToS3(t *testing.T) {
	w := newAWSWorld(t)
	big := `{"Description":"` + strings.Repeat("x", 60000) + `","Resources":{}}`
	os.WriteFile(filepath.Join(w.prov.AssemblyDir, "CaroPlatform-eu-central-1.template.json"), []byte(big), 0o600)
	w.resolver.primaryDown = true
	p, err := failover.MakePlan(context.Background(), w.prov, failover.Request{From: "eu-west-1", To: "eu-central-1", Primary: "eu-west-1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := w.apply(t, p); err != nil || !rep.OK {
		t.Fatalf("apply %v %+v", err, rep)
	}
	w.cfn["eu-central-1"].mu.Lock()
	defer w.cfn["eu-central-1"].mu.Unlock()
	if !strings.HasPrefix(w.cfn["eu-central-1"].templateURL, "https://caro-failover-eu-central-1.s3.eu-central-1.amazonaws.com/failover/") {
		t.Fatalf("TemplateURL %q", w.cfn["eu-central-1"].templateURL)
	}
}

func TestAWSAtlasRestoreUsesTheAtlasCatalogAndRestorer(t *testing.T) {
	w := newAWSWorld(t)
	w.resolver.primaryDown = true
	ctx := context.Background()
	if _, err := failover.MakePlan(ctx, w.prov, failover.Request{From: "eu-west-1", To: "eu-central-1", Primary: "eu-west-1", Restore: "atlas"}, time.Now()); err == nil || !strings.Contains(err.Error(), "--restore backup") {
		t.Fatalf("atlas without configuration: %v", err)
	}
	atlasRestorer := &memRestorer{restored: map[string]bool{}}
	w.prov.AtlasCatalog = &memCatalog{b: failover.BackupRef{ID: "20261123T020000Z-aaaaaaaa", TakenAt: time.Now().Add(-time.Hour), Location: "atlas snapshot"}}
	w.prov.AtlasRestorer = atlasRestorer
	p, err := failover.MakePlan(ctx, w.prov, failover.Request{From: "eu-west-1", To: "eu-central-1", Primary: "eu-west-1", Restore: "atlas"}, time.Now())
	if err != nil || p.Backup.Location != "atlas snapshot" {
		t.Fatalf("plan %+v %v", p, err)
	}
	if rep, err := w.apply(t, p); err != nil || !rep.OK {
		t.Fatalf("apply %v %+v", err, rep)
	}
	if atlasRestorer.runs != 1 || w.restorer.runs != 0 {
		t.Fatalf("atlas restorer ran %d, backup restorer %d", atlasRestorer.runs, w.restorer.runs)
	}
}

// inputsRestorer is a restorer that needs an input from outside AWS (the target database's
// connection string), like cmd/caro's Atlas snapshot restorer.
type inputsRestorer struct {
	memRestorer
	missing bool
}

func (r *inputsRestorer) CheckInputs(target string) (string, error) {
	if r.missing {
		return "", errors.New("CARO_FAILOVER_MONGODB_URI is not set: set it to the connection string of the " + target + " cluster")
	}
	return "CARO_FAILOVER_MONGODB_URI set", nil
}

func TestAWSPlanAndPreflightCheckTheRestoreInputs(t *testing.T) {
	// GIVEN an Atlas restore whose restorer needs the target's connection string, which is not set
	w := newAWSWorld(t)
	w.resolver.primaryDown = true
	ctx := context.Background()
	restorer := &inputsRestorer{memRestorer: memRestorer{restored: map[string]bool{}}, missing: true}
	w.prov.AtlasCatalog = &memCatalog{b: failover.BackupRef{ID: "snap-1", TakenAt: time.Now().Add(-time.Hour), Location: "atlas snapshot"}}
	w.prov.AtlasRestorer = restorer
	req := failover.Request{From: "eu-west-1", To: "eu-central-1", Primary: "eu-west-1", Restore: "atlas"}

	// WHEN the failover is planned THEN the plan is refused, saying which restore cannot run and
	// what to set, before any AWS call
	_, err := failover.MakePlan(ctx, w.prov, req, time.Now())
	if err == nil || !strings.Contains(err.Error(), "atlas restore into eu-central-1 cannot run") || !strings.Contains(err.Error(), "CARO_FAILOVER_MONGODB_URI") {
		t.Fatalf("plan without the connection string: %v", err)
	}
	if calls := w.cfn["eu-central-1"].calls; len(calls) != 0 {
		t.Errorf("AWS was asked before the local inputs were checked: %v", calls)
	}

	// GIVEN the input is set WHEN planned THEN the plan lists the check
	restorer.missing = false
	p, err := failover.MakePlan(ctx, w.prov, req, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(p.Checks, "; "), "CARO_FAILOVER_MONGODB_URI set") {
		t.Errorf("plan checks %v do not name the restore input", p.Checks)
	}

	// GIVEN the apply runs where the input is missing again (another shell, a resumed apply)
	// WHEN the plan is applied THEN the preflight step fails and nothing was deployed or restored
	restorer.missing = true
	if rep, err := w.apply(t, p); err == nil && rep.OK {
		t.Fatal("apply without the connection string succeeded")
	}
	w.cfn["eu-central-1"].mu.Lock()
	calls := strings.Join(w.cfn["eu-central-1"].calls, ",")
	w.cfn["eu-central-1"].mu.Unlock()
	if strings.Contains(calls, "CreateChangeSet") || restorer.runs != 0 {
		t.Errorf("apply went past the preflight: CloudFormation %s, restore ran %d times", calls, restorer.runs)
	}

	// AND once it is set the same plan applies
	restorer.missing = false
	if rep, err := w.apply(t, p); err != nil || !rep.OK || restorer.runs != 1 {
		t.Fatalf("apply with the input: %v %+v (restore ran %d)", err, rep, restorer.runs)
	}
}

// advisoryRestorer is a restorer with an input it does not need but whose absence leaves work for
// on-call, like cmd/caro's restorers without the pinned ledger public key.
type advisoryRestorer struct {
	memRestorer
	warn bool
}

func (r *advisoryRestorer) InputWarnings(target string) []string {
	if !r.warn {
		return nil
	}
	return []string{"CARO_LEDGER_PUBLIC_KEY is not set: the audit ledger in " + target + " will NOT be recovered automatically"}
}

func TestAWSPlanAndPreflightWarnAboutAdvisoryInputs(t *testing.T) {
	// GIVEN a restorer whose advisory input (the ledger's pinned public key) is missing
	w := newAWSWorld(t)
	w.resolver.primaryDown = true
	ctx := context.Background()
	restorer := &advisoryRestorer{memRestorer: memRestorer{restored: map[string]bool{}}, warn: true}
	w.prov.Restorer = restorer
	req := failover.Request{From: "eu-west-1", To: "eu-central-1", Primary: "eu-west-1", Restore: "backup"}

	// WHEN the failover is planned THEN the plan is made, with the warning among its warnings
	p, err := failover.MakePlan(ctx, w.prov, req, time.Now())
	if err != nil {
		t.Fatalf("an advisory input refused the plan: %v", err)
	}
	if !strings.Contains(strings.Join(p.Warnings, "\n"), "CARO_LEDGER_PUBLIC_KEY is not set: the audit ledger in eu-central-1") {
		t.Errorf("plan warnings %v do not carry the advisory", p.Warnings)
	}

	// WHEN the plan is applied with the input still missing THEN every step runs (the restore
	// too), and the preflight says the warning on the progress stream and in its summary
	var lines []string
	var mu sync.Mutex
	ctx = failover.WithProgress(ctx, func(f string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, fmt.Sprintf(f, args...))
	})
	steps, err := w.prov.Steps(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := steps[0].Run(ctx); err != nil {
		t.Fatalf("preflight refused over an advisory input: %v", err)
	}
	summary := steps[0].(failover.Summarizer).Summary()
	if !strings.Contains(summary, "checked; WARNING: CARO_LEDGER_PUBLIC_KEY is not set") {
		t.Errorf("preflight summary %q", summary)
	}
	if got := strings.Join(lines, "\n"); !strings.Contains(got, "WARNING: CARO_LEDGER_PUBLIC_KEY is not set") {
		t.Errorf("preflight progress %q", got)
	}
	if rep, err := w.apply(t, p); err != nil || !rep.OK || restorer.runs != 1 {
		t.Fatalf("apply with the advisory missing: %v %+v (restore ran %d)", err, rep, restorer.runs)
	}

	// GIVEN the input is set WHEN planned again THEN there is no such warning
	restorer.warn = false
	p, err = failover.MakePlan(ctx, w.prov, req, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.Join(p.Warnings, "\n"), "CARO_LEDGER_PUBLIC_KEY") {
		t.Errorf("plan warnings %v with the input set", p.Warnings)
	}
}

// TestTheDNSStepIsNotDoneWhileTheNameAnswersTheOldRegion: traffic pinned to the target (the old
// primary's health check inverted) is not a done DNS step while the name still answers the old
// region (issue 23, mutant 4): the step's Check says not done, so a resume runs it, and after it
// the name must answer the target.
func TestTheDNSStepIsNotDoneWhileTheNameAnswersTheOldRegion(t *testing.T) {
	w := newAWSWorld(t)
	ctx := context.Background()
	p, err := failover.MakePlan(ctx, w.prov, failover.Request{From: "eu-west-1", To: "eu-central-1", Primary: "eu-west-1", Restore: "backup"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := w.apply(t, p); err != nil || !rep.OK {
		t.Fatalf("apply: %v %+v", err, rep)
	}
	steps, err := w.prov.Steps(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	var dns failover.Step
	for _, s := range steps {
		if s.Name() == "dns" {
			dns = s
		}
	}
	// GIVEN the pin in place and the name answering the target THEN the step is done
	if done, err := dns.Check(ctx); err != nil || !done {
		t.Fatalf("pinned and answering the target: done %v %v", done, err)
	}
	// GIVEN the pin in place but the name still answering the old region THEN it is not done
	w.resolver.stale = true
	if done, err := dns.Check(ctx); err != nil || done {
		t.Fatalf("pinned but answering eu-west-1: done %v %v", done, err)
	}
	// AND the step can decay, so a resume checks it again
	if d, ok := dns.(failover.Decayer); !ok || !d.Decays() {
		t.Fatal("the DNS step is not re-checked on resume")
	}
}
