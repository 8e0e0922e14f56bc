package aws

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
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

// Names of the readiness checks (stable: the readiness function's metrics are named after them).
const (
	CheckCredentials   = "credentials"
	CheckSetting       = "setting"
	CheckRestoreInputs = "restore-inputs"
	CheckTargetDB      = "target-database"
	CheckTargetStack   = "target-stack"
	CheckRelease       = "release"
	CheckBackupKey     = "backup-key"
	CheckFailback      = "failback-target-health"
	CheckSourceHealth  = "source-health"
	CheckUserPool      = "user-pool"
	CheckDNSHealth     = "dns-health-check"
	CheckBackup        = "backup"
	CheckBackupAge     = "backup-age"
	CheckAtlasSnapshot = "atlas-snapshot"
	CheckLedgerReplica = "ledger-replica-lag"
)

// Survey implements failover.Provider: every check a plan (and `caro failover readiness`) runs,
// read-only. A check that fails blocks the plan without stopping the others, so the operator sees
// every blocker at once; only checks the later ones need (credentials, the target stack) end the
// survey early.
func (p *Provider) Survey(ctx context.Context, req failover.Request) (*failover.Survey, error) {
	to, err := p.Regions.Get(req.To)
	if err != nil {
		return nil, err
	}
	from, err := p.Regions.Get(req.From)
	if err != nil {
		return nil, err
	}
	s := &failover.Survey{Settings: map[string]string{}}
	// Local inputs first: a plan asks AWS nothing if the restore cannot run (readiness goes on, to
	// name every blocker).
	catalog, restorer, err := p.restoreWith(req.Restore)
	if err == nil {
		err = p.surveyRestoreInputs(req, restorer, s)
	}
	if err != nil {
		s.Block(CheckRestoreInputs, err.Error())
		if !req.Readiness {
			return s, nil
		}
	}
	c, err := p.ClientsFor(ctx, req.To)
	if err != nil {
		return nil, err
	}
	id, err := c.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		s.Block(CheckCredentials, fmt.Sprintf("AWS credentials do not work (%v): assume the on-call failover role with MFA first", err))
		return s, nil
	}
	s.OK(CheckCredentials, "acting as "+aws.ToString(id.Arn))
	p.surveySettings(s)
	if restorer != nil {
		p.surveyTargetDatabase(ctx, req, restorer, s)
	}
	outs, status, err := outputs(ctx, c.CloudFormation, req.To)
	if err == nil {
		err = need(outs, OutputBackupBucket, OutputUserPoolID, OutputHealthCheckID)
	}
	if err != nil {
		s.TargetDetail = err.Error()
		s.Block(CheckTargetStack, fmt.Sprintf("%s cannot take over: %v", req.To, err))
		return s, nil
	}
	s.OK(CheckTargetStack, fmt.Sprintf("target stack %s is %s", StackName(req.To), status))
	p.surveyTemplate(ctx, req, outs, s)
	p.surveyBackupKey(ctx, c, req, outs, s)
	p.surveyRegionHealth(ctx, req, to, from, s)
	p.surveyUserPool(ctx, c, outs, s)
	p.surveyHealthCheck(ctx, c, req, outs, s)
	if catalog != nil {
		p.surveyBackup(ctx, c, req, outs, catalog, s)
		p.surveyPrestage(ctx, c, req, outs, restorer, s)
	}
	if p.AtlasCatalog != nil && req.Restore != "atlas" {
		// Atlas restores are configured: the snapshot copy is the second way back.
		if b, err := p.AtlasCatalog.Latest(ctx, c, outs, req.From, req.To); err != nil {
			s.Warn(CheckAtlasSnapshot, fmt.Sprintf("no Atlas snapshot of %s has a copy in %s (%v): --restore atlas would not work", req.From, req.To, err))
		} else {
			s.OK(CheckAtlasSnapshot, fmt.Sprintf("Atlas snapshot %s copied to %s, taken %s", b.ID, req.To, b.TakenAt.UTC().Format(time.RFC3339)))
		}
	}
	p.surveyLedgerReplica(ctx, c, req, id, s)
	p.planSteps(req, to, outs, s)
	p.planRestorePath(ctx, restorer, outs, s)
	return s, nil
}

// surveySettings lists the resolved settings with their sources, warns of overrides that differ
// from the platform's values and blocks on settings that contradict the target.
func (p *Provider) surveySettings(s *failover.Survey) {
	for _, l := range p.SettingLines {
		s.OK(CheckSetting, l)
	}
	for _, w := range p.SettingWarnings {
		s.Warn(CheckSetting, w)
	}
	for _, b := range p.SettingProblems {
		s.Block(CheckSetting, b)
	}
}

// surveyRestoreInputs checks what the restore needs from outside AWS (the target's connection
// string), without asking AWS anything.
func (p *Provider) surveyRestoreInputs(req failover.Request, restorer Restorer, s *failover.Survey) error {
	inputs, err := checkRestoreInputs(restorer, req.Restore, req.To)
	if err != nil {
		return err
	}
	if inputs != "" {
		s.OK(CheckRestoreInputs, inputs)
	}
	for _, w := range restoreWarnings(restorer, req.To) {
		s.Warn(CheckRestoreInputs, w)
	}
	return nil
}

// surveyTargetDatabase lists what the target database holds: the restore replaces it, and apply
// refuses if it changed since.
func (p *Provider) surveyTargetDatabase(ctx context.Context, req failover.Request, restorer Restorer, s *failover.Survey) {
	tl, ok := restorer.(TargetLister)
	if !ok {
		return
	}
	inv, err := tl.TargetInventory(ctx)
	if err != nil {
		s.Block(CheckTargetDB, fmt.Sprintf("listing what the target database of %s holds: %v", req.To, err))
		return
	}
	s.Settings[restore.SettingTargetInventory] = inv.Setting()
	s.OK(CheckTargetDB, fmt.Sprintf("target database %s holds: %s", inv.Database, inv))
	if len(inv.Collections) > 0 {
		s.Warn(CheckTargetDB, fmt.Sprintf("the restore replaces what %s's database %s holds (%s)%s; apply refuses if it changes before the restore, unless confirmed with --yes",
			req.To, inv.Database, inv, keptNote(req.Restore)))
	}
}

func (p *Provider) surveyBackupKey(ctx context.Context, c *Clients, req failover.Request, outs map[string]string, s *failover.Survey) {
	arn := p.backupKeyArn(outs)
	if arn == "" {
		s.TargetDetail = "no replica of " + req.From + "'s backup key is known in " + req.To
		s.Block(CheckBackupKey, fmt.Sprintf("%s cannot decrypt the backups: %s (deploy both platform stacks: CaroPlatform-%s writes /caro/peers/%s/backup-key-arn into %s)", req.To, s.TargetDetail, req.From, req.From, req.To))
		return
	}
	key, err := c.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(arn)})
	switch {
	case err != nil:
		s.TargetDetail = fmt.Sprintf("KMS key %s unusable: %v", arn, err)
	case key.KeyMetadata.KeyState != kmstypes.KeyStateEnabled:
		s.TargetDetail = fmt.Sprintf("KMS key %s is %s", arn, key.KeyMetadata.KeyState)
	default:
		s.TargetHealthy, s.TargetDetail = true, "stack, KMS key and backup bucket answer"
		s.OK(CheckBackupKey, fmt.Sprintf("the backup key's replica %s is enabled in %s", arn, req.To))
		return
	}
	s.Block(CheckBackupKey, fmt.Sprintf("%s cannot decrypt the backups: %s (deploy both platform stacks so %s replicates the peer's backup key)", req.To, s.TargetDetail, req.To))
}

// surveyRegionHealth asks both regions' APIs: a failback needs the old primary serving; a healthy
// source is only said.
func (p *Provider) surveyRegionHealth(ctx context.Context, req failover.Request, to, from regions.Definition, s *failover.Survey) {
	if req.Primary != "" && req.To == req.Primary {
		if _, err := p.health(ctx, p.healthURL(to)); err != nil {
			// MakePlan refuses a failback to an unhealthy region with its own message.
			s.TargetHealthy, s.TargetDetail = false, "its API does not answer /health: "+err.Error()
		}
	}
	if _, err := p.health(ctx, p.healthURL(from)); err == nil {
		s.SourceHealthy, s.SourceDetail = true, p.healthURL(from)+" answers"
	} else {
		s.OK(CheckSourceHealth, fmt.Sprintf("source %s is down: %v", req.From, err))
	}
}

// surveyUserPool checks the target's user pool exists: the identities step creates users in it.
func (p *Provider) surveyUserPool(ctx context.Context, c *Clients, outs map[string]string, s *failover.Survey) {
	pool := outs[OutputUserPoolID]
	out, err := c.Cognito.DescribeUserPool(ctx, &cip.DescribeUserPoolInput{UserPoolId: aws.String(pool)})
	if err != nil {
		s.Block(CheckUserPool, fmt.Sprintf("the target's user pool %s cannot be read (%v): the identities step could not re-provision users", pool, err))
		return
	}
	n := int64(0)
	if out.UserPool != nil {
		n = int64(out.UserPool.EstimatedNumberOfUsers)
	}
	s.OK(CheckUserPool, fmt.Sprintf("user pool %s present (%d users now)", pool, n))
}

// surveyHealthCheck reads what Route 53's checkers say of the target's health check: the failover
// record answers with the target only while it is healthy.
func (p *Provider) surveyHealthCheck(ctx context.Context, c *Clients, req failover.Request, outs map[string]string, s *failover.Survey) {
	hc := outs[OutputHealthCheckID]
	out, err := c.Route53.GetHealthCheckStatus(ctx, &route53.GetHealthCheckStatusInput{HealthCheckId: aws.String(hc)})
	if err != nil {
		s.Warn(CheckDNSHealth, fmt.Sprintf("the health check %s of %s cannot be read (%v)", hc, req.To, err))
		return
	}
	healthy, total := checkersHealthy(out.HealthCheckObservations)
	if mostlyUnhealthy(healthy, total) {
		s.Warn(CheckDNSHealth, fmt.Sprintf("Route 53 sees %s unhealthy (%d of %d checkers report success): the failover record will not answer with it until its API serves; the deploy and verify steps bring it up",
			req.To, healthy, total))
		return
	}
	s.OK(CheckDNSHealth, fmt.Sprintf("Route 53 health check %s of %s: %d of %d checkers report success", hc, req.To, healthy, total))
}

// mostlyUnhealthy reports whether at most half of the checkers that answered report success: the
// failover record does not answer with the target then. No answer at all says nothing.
func mostlyUnhealthy(healthy, total int) bool { return total > 0 && healthy*2 <= total }

// checkersHealthy counts the observations whose status reports success.
func checkersHealthy(obs []r53types.HealthCheckObservation) (healthy, total int) {
	for _, o := range obs {
		total++
		if o.StatusReport != nil && strings.HasPrefix(aws.ToString(o.StatusReport.Status), "Success") {
			healthy++
		}
	}
	return healthy, total
}

// surveyBackup finds what the restore would use and how old it is against the recovery point
// objective.
func (p *Provider) surveyBackup(ctx context.Context, c *Clients, req failover.Request, outs map[string]string, catalog BackupCatalog, s *failover.Survey) {
	b, err := catalog.Latest(ctx, c, outs, req.From, req.To)
	if err != nil {
		s.Block(CheckBackup, fmt.Sprintf("no usable backup of %s in %s: %v", req.From, req.To, err))
		return
	}
	s.Backup = b
	s.OK(CheckBackup, fmt.Sprintf("backup %s of %s in %s (%d records)", b.ID, req.From, req.To, b.Records))
	if b.TakenAt.IsZero() {
		return
	}
	age := p.now().Sub(b.TakenAt)
	detail := fmt.Sprintf("the newest backup is %s old", age.Round(time.Minute))
	if p.MaxBackupAge > 0 && age > p.MaxBackupAge {
		s.Warn(CheckBackupAge, fmt.Sprintf("%s, over the recovery point objective of %s: a failover now loses more than promised (is the backup job failing, or the replication behind?)", detail, p.MaxBackupAge))
	} else {
		s.OK(CheckBackupAge, detail)
	}
	s.Measure(CheckBackupAge, age.Seconds())
}

// surveyLedgerReplica compares the newest checkpoint in the target's replica of the source's
// checkpoint bucket with the source's own (when the source answers): the lag is what the restore
// step could not recover if the source were lost now.
func (p *Provider) surveyLedgerReplica(ctx context.Context, c *Clients, req failover.Request, id *sts.GetCallerIdentityOutput, s *failover.Survey) {
	account := aws.ToString(id.Account)
	replica := fmt.Sprintf("caro-ledger-replica-%s-%s", account, req.To)
	source := fmt.Sprintf("caro-ledger-%s-%s", account, req.From)
	if p.LedgerReplicaBucket != "" {
		replica = p.LedgerReplicaBucket
	}
	newestReplica, err := newestObject(ctx, c.S3, replica, "checkpoints/")
	if err != nil {
		s.Warn(CheckLedgerReplica, fmt.Sprintf("the ledger checkpoints in s3://%s cannot be listed (%v): the restore step could not recover the audit ledger", replica, err))
		return
	}
	if newestReplica.IsZero() {
		s.Warn(CheckLedgerReplica, fmt.Sprintf("s3://%s holds no ledger checkpoint yet", replica))
		return
	}
	sc, err := p.ClientsFor(ctx, req.From)
	var newestSource time.Time
	if err == nil {
		newestSource, err = newestObject(ctx, sc.S3, source, "checkpoints/")
	}
	if err != nil {
		s.OK(CheckLedgerReplica, fmt.Sprintf("the newest checkpoint replicated to %s is %s old (the source's bucket does not answer: %v)", req.To, p.now().Sub(newestReplica).Round(time.Second), err))
		return
	}
	lag := max(newestSource.Sub(newestReplica), 0)
	if lag > 15*time.Minute { // S3 Replication Time Control replicates 99.99 % within 15 minutes
		s.Warn(CheckLedgerReplica, fmt.Sprintf("the ledger replica in %s is %s behind %s's checkpoints (S3 replication promises 15 minutes): entries anchored since would be lost with %s", req.To, lag.Round(time.Second), req.From, req.From))
	} else {
		s.OK(CheckLedgerReplica, fmt.Sprintf("the ledger replica in %s is %s behind %s's checkpoints", req.To, lag.Round(time.Second), req.From))
	}
	s.Measure(CheckLedgerReplica, lag.Seconds())
}

// newestObject returns the newest LastModified under prefix (zero when there is none).
func newestObject(ctx context.Context, c S3API, bucket, prefix string) (time.Time, error) {
	var newest time.Time
	var token *string
	for {
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix), ContinuationToken: token})
		if err != nil {
			return time.Time{}, err
		}
		for _, o := range out.Contents {
			if t := aws.ToTime(o.LastModified); t.After(newest) {
				newest = t
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			return newest, nil
		}
		token = out.NextContinuationToken
	}
}

// planSteps writes the plan's steps and DNS mode.
func (p *Provider) planSteps(req failover.Request, to regions.Definition, outs map[string]string, s *failover.Survey) {
	mode := req.Settings[SettingDNSMode]
	if mode == "" {
		mode = DNSModeHealthCheck
		if outs[OutputRoutingControlArn] != "" {
			mode = DNSModeARC
		}
	}
	s.Settings[SettingDNSMode] = mode
	if mode != DNSModeARC {
		s.Warnings = append(s.Warnings, fmt.Sprintf("DNS: if Route 53 health checks have not moved %s by themselves, the %s fallback is used: %s", to.APIOriginDomain(), mode, ControlPlaneWarning))
	}
	template := s.Settings[SettingTemplate]
	s.Steps = []failover.PlannedStep{
		{Name: "preflight", Action: "credentials, restore inputs, target KMS key, backup present and fresh, template unchanged since planning", ExpectedSeconds: 5},
		{Name: "deploy", Action: fmt.Sprintf("CloudFormation change set on %s from %s (skipped when the deployed template matches)", StackName(req.To), template), ExpectedSeconds: 600},
		{Name: "restore", Action: fmt.Sprintf("restore backup %s into %s's database, verified by counts and checksums", s.Backup.ID, req.To), ExpectedSeconds: restoreEstimate(s.Backup)},
		{Name: "identities", Action: fmt.Sprintf("AdminCreateUser in pool %s for every user of the identity export (SMS temporary password, reset forced)", outs[OutputUserPoolID]), ExpectedSeconds: 120},
		{Name: "verify", Action: "GET " + p.healthURL(to) + " answers (with the restore marker when the handler reports it)", ExpectedSeconds: 5},
		{Name: "dns", Action: fmt.Sprintf("%s to %s and pinned there (%s); Route 53 health checks (data plane) move it by themselves when %s is down", to.APIOriginDomain(), req.To, mode, req.From), ExpectedSeconds: 120},
		{Name: "confirm", Action: "resolve " + to.APIOriginDomain() + " and GET " + p.publicHealthURL(to) + " through CloudFront", ExpectedSeconds: 10},
	}
}
