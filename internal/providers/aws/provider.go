package aws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/carohealth/platform/internal/failover"
	"github.com/carohealth/platform/internal/restore"
	"github.com/carohealth/platform/regions"
)

// Stack outputs the failover reads from CaroPlatform-<region>. The platform stack must export them.
const (
	OutputUserPoolID    = "UserPoolId"
	OutputBackupBucket  = "BackupBucket"
	OutputBackupKeyArn  = "BackupKeyArn"
	OutputHealthCheckID = "HealthCheckId"
	// OutputRoutingControlArn is optional: with it (and ARC cluster endpoints) DNS moves on the
	// ARC data plane.
	OutputRoutingControlArn = "RoutingControlArn"
)

// Plan setting keys of the AWS provider.
const (
	SettingTemplateSHA = "template_sha256"
	SettingTemplate    = "template"
	SettingDNSMode     = "dns_mode"
	SettingMaxAge      = "max_backup_age_seconds"
)

// Step names (the same on every provider).
var stepNames = []string{"preflight", "deploy", "restore", "identities", "verify", "dns", "confirm"}

// KMSAPI is the part of the KMS client the preflight uses.
type KMSAPI interface {
	DescribeKey(context.Context, *kms.DescribeKeyInput, ...func(*kms.Options)) (*kms.DescribeKeyOutput, error)
}

// STSAPI tells who we are.
type STSAPI interface {
	GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// Clients are the SDK clients of one region (Route 53 is global; ARC is optional).
type Clients struct {
	CloudFormation CloudFormationAPI
	S3             S3API
	KMS            KMSAPI
	Cognito        CognitoAPI
	STS            STSAPI
	Route53        Route53API
	ARC            *RoutingControls
	// StepFunctions runs the target's restore engine (its pre-stage state machine) on the cold path.
	StepFunctions SFNAPI
}

// BackupCatalog finds the newest usable backup (or Atlas snapshot) of a region.
type BackupCatalog interface {
	// Latest returns the newest usable backup of source that can be restored in target.
	Latest(ctx context.Context, c *Clients, outputs map[string]string, source, target string) (failover.BackupRef, error)
}

// Restorer restores a plan's backup into the target and says whether it already did.
type Restorer interface {
	Restored(ctx context.Context, c *Clients, outputs map[string]string, plan *failover.Plan) (bool, error)
	Restore(ctx context.Context, c *Clients, outputs map[string]string, plan *failover.Plan, progress failover.Progress) (string, error)
}

// RestoreInputs is implemented by a Restorer whose restore needs something from outside AWS, such
// as the target database's connection string. Plan (Survey) and the apply preflight ask it, so a
// missing input stops the failover before anything changes, not at the restore step after a
// ten-minute deploy.
type RestoreInputs interface {
	// CheckInputs returns what it checked, in words for the plan's checks, or an error that says
	// what to set. target is the region failed over to.
	CheckInputs(target string) (string, error)
}

// checkRestoreInputs asks restorer for its inputs when it has any to check.
func checkRestoreInputs(restorer Restorer, mode, target string) (string, error) {
	ri, ok := restorer.(RestoreInputs)
	if !ok {
		return "", nil
	}
	check, err := ri.CheckInputs(target)
	if err != nil {
		if mode == "" {
			mode = "backup"
		}
		return "", fmt.Errorf("the %s restore into %s cannot run: %w", mode, target, err)
	}
	return check, nil
}

// RestoreAdvisories is implemented by a Restorer with inputs the restore does not need but whose
// absence leaves something for on-call to do by hand, such as the audit ledger's recovery after
// the data restore. Plan (Survey) and the apply preflight show them as warnings and never refuse:
// nothing of the kind may stop traffic from moving.
type RestoreAdvisories interface {
	// InputWarnings returns one warning per missing or unusable input, each saying what will not
	// happen automatically and what to set; none when everything is in place. target is the
	// region failed over to.
	InputWarnings(target string) []string
}

// TargetLister is implemented by a Restorer that can list what the target database holds, so the
// plan records it and the restore step refuses a target that changed since (restore.Inventory).
type TargetLister interface {
	TargetInventory(ctx context.Context) (restore.Inventory, error)
}

// restoreWarnings asks restorer for its advisories when it has any.
func restoreWarnings(restorer Restorer, target string) []string {
	if ra, ok := restorer.(RestoreAdvisories); ok {
		return ra.InputWarnings(target)
	}
	return nil
}

// IdentitySource reads the backup's encrypted identity export.
type IdentitySource interface {
	Identities(ctx context.Context, c *Clients, outputs map[string]string, plan *failover.Plan) ([]Identity, error)
}

// Resolver resolves the public names (net.Resolver in production).
type Resolver interface {
	LookupCNAME(ctx context.Context, host string) (string, error)
}

// Provider implements failover.Provider on AWS.
type Provider struct {
	Regions regions.Set
	// ClientsFor builds the clients of a region.
	ClientsFor func(ctx context.Context, region string) (*Clients, error)
	Catalog    BackupCatalog
	Restorer   Restorer
	// AtlasCatalog and AtlasRestorer serve --restore atlas (Atlas cloud-backup snapshots with a
	// copy in the target region); nil means not available.
	AtlasCatalog  BackupCatalog
	AtlasRestorer Restorer
	Identities    IdentitySource
	// AssemblyDir is a synthesized cloud assembly to deploy instead of the release.
	AssemblyDir string
	HTTP        *http.Client
	Resolver    Resolver
	// HealthURL returns a region's regional API health URL (default https://api-<region>.<domain>/api/health).
	HealthURL func(def regions.Definition) string
	// PublicHealthURL is the health URL through CloudFront (default https://<apiDomain>/api/health).
	PublicHealthURL func(def regions.Definition) string
	// OriginSecret is sent as X-Caro-Origin-Verify on regional requests (the WAF wants it).
	OriginSecret string
	PollInterval time.Duration
	Now          func() time.Time
	// SettingLines are the resolved settings the provider was built from, each with its source,
	// shown among the plan's checks.
	SettingLines []string
	// SettingWarnings and SettingProblems are the settings that disagree (Config): the survey warns
	// of the first and blocks on the second, before anything changes.
	SettingWarnings, SettingProblems []string
	// Release names the release to deploy (default: the one the primary runs); ReleaseBucket is
	// the target region's release bucket. AssemblyDir, when set, deploys a local cloud assembly
	// instead (a platform engineer's choice).
	Release, ReleaseBucket string
	// PeerBackupKeyArn is the target's replica of the source's backup key when the target stack
	// does not export it (the peer writes it into the target's Parameter Store).
	PeerBackupKeyArn string
	// MaxBackupAge is the recovery point objective the newest backup is held to (0: not checked).
	MaxBackupAge time.Duration
	// LedgerReplicaBucket overrides the target's checkpoint replica bucket's name.
	LedgerReplicaBucket string
}

// Name implements failover.Provider.
func (p *Provider) Name() string { return "aws" }

func (p *Provider) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Provider) httpClient() *http.Client {
	if p.HTTP != nil {
		return p.HTTP
	}
	return &http.Client{Timeout: 5 * time.Second}
}

func (p *Provider) healthURL(d regions.Definition) string {
	if p.HealthURL != nil {
		return p.HealthURL(d)
	}
	return "https://api-" + d.Region + "." + d.Domain + "/api/health"
}

func (p *Provider) publicHealthURL(d regions.Definition) string {
	if p.PublicHealthURL != nil {
		return p.PublicHealthURL(d)
	}
	return "https://" + d.APIDomain + "/api/health"
}

// StackName is the platform stack of a region.
func StackName(region string) string { return "CaroPlatform-" + region }

func outputs(ctx context.Context, c CloudFormationAPI, region string) (map[string]string, string, error) {
	out, err := c.DescribeStacks(ctx, &cfn.DescribeStacksInput{StackName: aws.String(StackName(region))})
	if err != nil {
		return nil, "", fmt.Errorf("describe %s: %w", StackName(region), err)
	}
	if len(out.Stacks) == 0 {
		return nil, "", fmt.Errorf("stack %s not found", StackName(region))
	}
	m := map[string]string{}
	for _, o := range out.Stacks[0].Outputs {
		m[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	return m, string(out.Stacks[0].StackStatus), nil
}

func need(m map[string]string, keys ...string) error {
	var missing []string
	for _, k := range keys {
		if m[k] == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the platform stack lacks the outputs %s: export them from cdk/platform_stack.go and deploy", strings.Join(missing, ", "))
	}
	return nil
}

// health GETs a health URL and decodes its JSON.
func (p *Provider) health(ctx context.Context, url string) (map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if p.OriginSecret != "" {
		req.Header.Set("X-Caro-Origin-Verify", p.OriginSecret)
	}
	resp, err := p.httpClient().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d", url, resp.StatusCode)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("GET %s: not JSON: %w", url, err)
	}
	return m, nil
}

// backupKeyArn is the target's replica of the source's backup key: the stack's output (when the
// key was given as an override at deploy) or the configured one (the peer's parameter).
func (p *Provider) backupKeyArn(outs map[string]string) string {
	if v := outs[OutputBackupKeyArn]; v != "" {
		return v
	}
	return p.PeerBackupKeyArn
}

// restoreWith returns the catalog and restorer of a restore mode ("backup" or "atlas").
func (p *Provider) restoreWith(mode string) (BackupCatalog, Restorer, error) {
	switch mode {
	case "", "backup":
		return p.Catalog, p.Restorer, nil
	case "atlas":
		if p.AtlasCatalog == nil || p.AtlasRestorer == nil {
			return nil, nil, errors.New("aws provider: --restore atlas is not configured (Atlas Admin API credentials missing?): set MONGODB_ATLAS_CLIENT_ID and MONGODB_ATLAS_CLIENT_SECRET, or use --restore backup")
		}
		return p.AtlasCatalog, p.AtlasRestorer, nil
	}
	return nil, nil, fmt.Errorf("unknown restore %q: use backup or atlas", mode)
}

// keptNote says what happens to what a restore of mode replaces.
func keptNote(mode string) string {
	if mode == "atlas" {
		return ": an Atlas snapshot replaces the whole cluster, nothing can be kept aside"
	}
	return ": it is moved aside and kept as _caro_prev_<run>_<name> until `caro backup discard-replaced` removes it"
}

// restoreEstimate models the restore at 2,000 documents/s (or 20 MB/s for Atlas) when nothing
// better is known.
func restoreEstimate(b failover.BackupRef) float64 {
	if b.Records > 0 {
		return 30 + float64(b.Records)/2000
	}
	return 1800
}

var changeSetName = regexp.MustCompile(`[^A-Za-z0-9-]`)

// JournalAndLock keeps the journal and the lock in the target region's backup bucket (S3), so they
// survive the operator's laptop and do not depend on the source region.
func (p *Provider) JournalAndLock(ctx context.Context, plan *failover.Plan) (failover.Journal, failover.Lock, error) {
	c, err := p.ClientsFor(ctx, plan.To)
	if err != nil {
		return nil, nil, err
	}
	outs, _, err := outputs(ctx, c.CloudFormation, plan.To)
	if err != nil {
		return nil, nil, err
	}
	if err := need(outs, OutputBackupBucket); err != nil {
		return nil, nil, err
	}
	b := outs[OutputBackupBucket]
	return &S3Journal{Client: c.S3, Bucket: b, PlanID: plan.ID}, &S3Lock{Client: c.S3, Bucket: b}, nil
}

// Steps implements failover.Provider.
func (p *Provider) Steps(ctx context.Context, plan *failover.Plan) ([]failover.Step, error) {
	to, err := p.Regions.Get(plan.To)
	if err != nil {
		return nil, err
	}
	from, err := p.Regions.Get(plan.From)
	if err != nil {
		return nil, err
	}
	c, err := p.ClientsFor(ctx, plan.To)
	if err != nil {
		return nil, err
	}
	r := &awsRun{p: p, plan: plan, to: to, from: from, c: c, texts: map[string]string{}}
	text := func(n string) func() string { return func() string { return r.texts[n] } }
	return []failover.Step{
		&failover.StepFunc{StepName: "preflight", RunFunc: r.preflight, SummaryText: text("preflight")},
		// A stack changed since (or a name moved back) is found on resume and the step redone.
		&failover.StepFunc{StepName: "deploy", CheckFunc: r.deployed, RunFunc: r.deploy, SummaryText: text("deploy"), Decaying: true},
		&failover.StepFunc{StepName: "restore", CheckFunc: r.restored, RunFunc: r.restore, SummaryText: text("restore")},
		&failover.StepFunc{StepName: "identities", RunFunc: r.identities, SummaryText: text("identities")},
		&failover.StepFunc{StepName: "verify", RunFunc: r.verify, SummaryText: text("verify")},
		&failover.StepFunc{StepName: "dns", CheckFunc: r.dnsDone, RunFunc: r.dns, SummaryText: text("dns"), Decaying: true},
		&failover.StepFunc{StepName: "confirm", RunFunc: r.confirm, SummaryText: text("confirm")},
	}, nil
}

type awsRun struct {
	p        *Provider
	plan     *failover.Plan
	to, from regions.Definition
	c        *Clients
	outs     map[string]string
	texts    map[string]string
}

func (r *awsRun) outputs(ctx context.Context) (map[string]string, error) {
	if r.outs != nil {
		return r.outs, nil
	}
	m, _, err := outputs(ctx, r.c.CloudFormation, r.plan.To)
	if err != nil {
		return nil, err
	}
	r.outs = m
	return m, nil
}

func (r *awsRun) preflight(ctx context.Context) error {
	if _, err := r.c.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		return fmt.Errorf("AWS credentials: %w: assume the on-call failover role again", err)
	}
	if _, _, err := r.template(ctx); err != nil {
		return err
	}
	// The apply may run in another shell than the plan (or resume after a crash): the restore's
	// inputs are checked again before the deploy step changes anything.
	catalog, restorer, err := r.p.restoreWith(r.plan.Restore)
	if err != nil {
		return err
	}
	if _, err := checkRestoreInputs(restorer, r.plan.Restore, r.plan.To); err != nil {
		return err
	}
	// Warnings only: said loudly now and kept in the step's summary, the failover goes on.
	warnings := restoreWarnings(restorer, r.plan.To)
	for _, w := range warnings {
		failover.ProgressFrom(ctx)("WARNING: %s", w)
	}
	defer func() {
		for _, w := range warnings {
			if r.texts["preflight"] != "" {
				r.texts["preflight"] += "; "
			}
			r.texts["preflight"] += "WARNING: " + w
		}
	}()
	outs, err := r.outputs(ctx)
	if err != nil {
		return err
	}
	keyArn := r.p.backupKeyArn(outs)
	key, err := r.c.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(keyArn)})
	if err != nil || key.KeyMetadata.KeyState != kmstypes.KeyStateEnabled {
		return fmt.Errorf("target KMS key %s not usable: %v", keyArn, err)
	}
	b, err := catalog.Latest(ctx, r.c, outs, r.plan.From, r.plan.To)
	if err != nil {
		return err
	}
	if b.ID != r.plan.Backup.ID {
		// A newer backup arrived: the planned one is still used (it is what was reviewed); say so.
		r.texts["preflight"] = fmt.Sprintf("note: a newer backup %s exists; restoring the planned %s", b.ID, r.plan.Backup.ID)
		return nil
	}
	r.texts["preflight"] = fmt.Sprintf("credentials, KMS key and backup %s checked", b.ID)
	return nil
}

func (r *awsRun) deployer(ctx context.Context) (*StackDeployer, error) {
	body, url, err := r.template(ctx)
	if err != nil {
		return nil, err
	}
	// Fixed per plan, so a resumed deploy finds the change set of its interrupted run.
	name := "caro-failover-" + changeSetName.ReplaceAllString(r.plan.ID, "-")
	return &StackDeployer{Client: r.c.CloudFormation, StackName: StackName(r.plan.To), TemplateBody: body, TemplateURL: url, ChangeSetName: name, PollInterval: r.p.PollInterval}, nil
}

func (r *awsRun) deployed(ctx context.Context) (bool, error) {
	d, err := r.deployer(ctx)
	if err != nil {
		return false, err
	}
	ok, err := d.Matches(ctx)
	if ok {
		r.texts["deploy"] = d.Summary()
	}
	return ok, err
}

// MaxTemplateBody is the largest template CloudFormation accepts inline; larger ones (most CDK
// stacks) go through S3.
const MaxTemplateBody = 51200

// fitsInline reports whether CloudFormation accepts template inline (TemplateBody).
func fitsInline(template string) bool { return len(template) <= MaxTemplateBody }

func (r *awsRun) deploy(ctx context.Context) error {
	d, err := r.deployer(ctx)
	if err != nil {
		return err
	}
	if d.TemplateURL == "" && !fitsInline(d.TemplateBody) {
		outs, err := r.outputs(ctx)
		if err != nil {
			return err
		}
		bucket := outs[OutputBackupBucket]
		key := "failover/" + r.plan.ID + "/" + StackName(r.plan.To) + ".template.json"
		if _, err := r.c.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
			Body: strings.NewReader(d.TemplateBody), ContentType: aws.String("application/json")}); err != nil {
			return fmt.Errorf("upload the %d-byte template to s3://%s/%s: %w", len(d.TemplateBody), bucket, key, err)
		}
		d.TemplateURL = fmt.Sprintf("https://%s.s3.%s.amazonaws.com/%s", bucket, r.plan.To, key)
	}
	if err := d.Deploy(ctx, failover.ProgressFrom(ctx)); err != nil {
		return err
	}
	r.outs = nil // outputs may have changed
	r.texts["deploy"] = d.Summary()
	return nil
}

func (r *awsRun) restored(ctx context.Context) (bool, error) {
	outs, err := r.outputs(ctx)
	if err != nil {
		return false, err
	}
	_, restorer, err := r.p.restoreWith(r.plan.Restore)
	if err != nil {
		return false, err
	}
	return restorer.Restored(ctx, r.c, outs, r.plan)
}

func (r *awsRun) restore(ctx context.Context) error {
	outs, err := r.outputs(ctx)
	if err != nil {
		return err
	}
	_, restorer, err := r.p.restoreWith(r.plan.Restore)
	if err != nil {
		return err
	}
	s, err := restorer.Restore(ctx, r.c, outs, r.plan, failover.ProgressFrom(ctx))
	r.texts["restore"] = s
	return err
}

func (r *awsRun) identities(ctx context.Context) error {
	outs, err := r.outputs(ctx)
	if err != nil {
		return err
	}
	users, err := r.p.Identities.Identities(ctx, r.c, outs, r.plan)
	if err != nil {
		return err
	}
	prov := &IdentityProvisioner{Client: r.c.Cognito, UserPoolID: outs[OutputUserPoolID]}
	res, err := prov.Provision(ctx, users, failover.ProgressFrom(ctx))
	if err != nil {
		return err
	}
	r.texts["identities"] = fmt.Sprintf("%d users created in %s (%d already there), each must reset the password from an SMS", res.Created, outs[OutputUserPoolID], res.Existing)
	if len(res.Conflicts) > 0 {
		r.texts["identities"] += fmt.Sprintf("; %d CONFLICTS left for a human: %s", len(res.Conflicts), strings.Join(res.Conflicts, "; "))
	}
	return nil
}

func (r *awsRun) verify(ctx context.Context) error {
	url := r.p.healthURL(r.to)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		h, err := r.p.health(ctx, url)
		if err == nil {
			detail := fmt.Sprintf("%s answers", url)
			if m, ok := h["restore"].(map[string]any); ok {
				if id, _ := m["backup_id"].(string); id != r.plan.Backup.ID {
					return fmt.Errorf("%s reports restore marker %q, want backup %s", url, id, r.plan.Backup.ID)
				}
				detail += " with the restore marker of " + r.plan.Backup.ID
			} else {
				detail += " (the health handler reports no restore marker yet)"
			}
			r.texts["verify"] = detail
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s does not answer: %w", url, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(r.p.poll()):
		}
	}
}

func (p *Provider) poll() time.Duration {
	if p.PollInterval > 0 {
		return p.PollInterval
	}
	return 5 * time.Second
}

// regionalName is what the failover record must answer for a region: its regional record
// (api-<region>.<domain>) or the API Gateway domain behind it.
func (r *awsRun) answersTarget(ctx context.Context) (string, bool) {
	cname, err := r.p.Resolver.LookupCNAME(ctx, r.to.APIOriginDomain())
	if err != nil {
		return "", false
	}
	c := strings.TrimSuffix(strings.ToLower(cname), ".")
	return c, strings.Contains(c, "."+r.to.Region+".") || strings.HasPrefix(c, "api-"+r.to.Region+".")
}

// mover builds the DNS mover of this plan. The source's health check comes from its stack outputs
// or, when the source region (and its CloudFormation) is down, from its failover record in Route 53.
func (r *awsRun) mover(ctx context.Context) (*DNSMover, error) {
	outs, err := r.outputs(ctx)
	if err != nil {
		return nil, err
	}
	srcOuts, _, srcErr := r.sourceOutputs(ctx)
	m := &DNSMover{Mode: r.plan.Settings[SettingDNSMode], ARC: r.c.ARC, Route53: r.c.Route53, PollInterval: r.p.PollInterval,
		TargetControl: outs[OutputRoutingControlArn], SourceControl: srcOuts[OutputRoutingControlArn],
		TargetHealthCheck: outs[OutputHealthCheckID], SourceHealthCheck: srcOuts[OutputHealthCheckID],
		SourceIsPrimary: r.plan.Kind == failover.KindFailover, HostedZoneID: r.to.HostedZoneID}
	switch m.Mode {
	case DNSModeUpsert:
		m.Record = newPrimaryRecord(r.to.APIOriginDomain(), "api-"+r.to.Region+"."+r.to.Domain, r.p.Regions.Primary().Region, outs[OutputHealthCheckID])
	case DNSModeHealthCheck:
		if m.SourceHealthCheck == "" {
			id, err := r.recordHealthCheck(ctx, r.plan.From)
			if err != nil {
				return nil, fmt.Errorf("the health check of %s is unknown: its stack is unreadable (%v) and %w", r.plan.From, srcErr, err)
			}
			m.SourceHealthCheck = id
		}
	case DNSModeARC:
		if m.SourceControl == "" {
			return nil, fmt.Errorf("the routing control of %s is unknown (its stack is unreadable: %v): plan again with --dns health-check", r.plan.From, srcErr)
		}
	}
	return m, nil
}

// recordHealthCheck finds a region's health check on its failover record (set identifier = region).
func (r *awsRun) recordHealthCheck(ctx context.Context, region string) (string, error) {
	out, err := r.c.Route53.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{
		HostedZoneId: aws.String(r.to.HostedZoneID), StartRecordName: aws.String(r.to.APIOriginDomain()), StartRecordType: r53types.RRTypeCname,
	})
	if err != nil {
		return "", fmt.Errorf("listing the failover records failed: %w", err)
	}
	for _, rr := range out.ResourceRecordSets {
		if strings.TrimSuffix(aws.ToString(rr.Name), ".") == r.to.APIOriginDomain() && aws.ToString(rr.SetIdentifier) == region && rr.HealthCheckId != nil {
			return aws.ToString(rr.HealthCheckId), nil
		}
	}
	return "", fmt.Errorf("no failover record of %s with a health check in zone %s", region, r.to.HostedZoneID)
}

// dnsDone: the name answers the target and traffic is pinned there (the old primary cannot take it
// back by itself when its health check passes again).
func (r *awsRun) dnsDone(ctx context.Context) (bool, error) {
	c, ok := r.answersTarget(ctx)
	if !ok {
		return false, nil
	}
	m, err := r.mover(ctx)
	if err != nil {
		return false, nil
	}
	if pinned, err := m.Done(ctx); err != nil || !pinned {
		return false, nil
	}
	r.texts["dns"] = fmt.Sprintf("%s already answers %s and is pinned there (%s)", r.to.APIOriginDomain(), c, m.Mode)
	return true, nil
}

// dns moves the name to the target and pins it there. When the source region is down, Route 53's
// health checks (data plane) have usually moved the name already; the pin is still needed so that the
// old primary, once its /health passes again with stale data, does not take traffic back. If the
// control plane needed for the pin is down but the data plane already answers the target, the step
// completes with a loud warning and the exact command to pin later.
func (r *awsRun) dns(ctx context.Context) error {
	progress := failover.ProgressFrom(ctx)
	if c, ok := r.answersTarget(ctx); ok {
		progress("%s already answers %s (Route 53 health checks, data plane); pinning it there", r.to.APIOriginDomain(), c)
	}
	m, err := r.mover(ctx)
	if err == nil {
		err = m.Move(ctx, progress)
	}
	if err != nil {
		if c, ok := r.answersTarget(ctx); ok {
			pin := "invert the old primary's health check: aws route53 update-health-check --health-check-id <id of " + r.plan.From + "> --inverted"
			if m != nil && m.SourceHealthCheck != "" {
				pin = "aws route53 update-health-check --health-check-id " + m.SourceHealthCheck + " --inverted"
			}
			r.texts["dns"] = fmt.Sprintf("%s answers %s through Route 53 health checks (data plane), but PINNING FAILED (%v): when %s's health check passes again Route 53 sends traffic back to it; pin as soon as the control plane answers: %s",
				r.to.APIOriginDomain(), c, err, r.plan.From, pin)
			progress("WARNING: %s", r.texts["dns"])
			return nil
		}
		return err
	}
	if !r.waitAnswer(ctx, 5*time.Minute) {
		return fmt.Errorf("%s still does not answer %s after the %s change: run apply again to keep waiting", r.to.APIOriginDomain(), r.plan.To, m.Mode)
	}
	r.texts["dns"] = m.Summary()
	return nil
}

func (r *awsRun) sourceOutputs(ctx context.Context) (map[string]string, string, error) {
	sc, err := r.p.ClientsFor(ctx, r.plan.From)
	if err != nil {
		return map[string]string{}, "", err
	}
	m, s, err := outputs(ctx, sc.CloudFormation, r.plan.From)
	if m == nil {
		m = map[string]string{}
	}
	return m, s, err
}

func (r *awsRun) waitAnswer(ctx context.Context, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if _, ok := r.answersTarget(ctx); ok {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(r.p.poll()):
		}
	}
}

func (r *awsRun) confirm(ctx context.Context) error {
	c, ok := r.answersTarget(ctx)
	if !ok {
		return fmt.Errorf("%s answers %q, not %s", r.to.APIOriginDomain(), c, r.plan.To)
	}
	url := r.p.publicHealthURL(r.to)
	h, err := r.p.health(ctx, url)
	if err != nil {
		return fmt.Errorf("smoke request through CloudFront: %w", err)
	}
	if region, _ := h["region"].(string); region != "" && region != r.plan.To {
		return fmt.Errorf("%s is served by %s, not %s (CloudFront origin still cached? wait a minute and run apply again)", url, region, r.plan.To)
	}
	r.texts["confirm"] = fmt.Sprintf("%s -> %s; %s answers from %s", r.to.APIOriginDomain(), c, url, r.plan.To)
	return nil
}
