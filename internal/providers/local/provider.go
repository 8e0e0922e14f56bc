package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/erasure"
	"github.com/carohealth/platform/internal/failover"
	"github.com/carohealth/platform/internal/localstack"
	"github.com/carohealth/platform/internal/prestage"
	"github.com/carohealth/platform/internal/restore"
	"github.com/carohealth/platform/regions"
)

// Step names, the same on every provider.
const (
	StepPreflight  = "preflight"
	StepDeploy     = "deploy"
	StepRestore    = "restore"
	StepIdentities = "identities"
	StepVerify     = "verify"
	StepDNS        = "dns"
	StepConfirm    = "confirm"
)

// StepNames lists the steps in order.
var StepNames = []string{StepPreflight, StepDeploy, StepRestore, StepIdentities, StepVerify, StepDNS, StepConfirm}

// PauseEnv names the environment variable `caro failover drill --kill-at` sets on its apply subprocess; the
// caro command reads it into Provider.PauseAt.
const PauseEnv = "CARO_DRILL_PAUSE_AT"

// IdentityDatabase is the database standing in for a region's Cognito user pool.
const IdentityDatabase = "cognito"

// Setting keys the provider puts in plans.
const (
	SettingEnv     = "env"
	SettingEnvHash = "env_sha256"
)

// Provider is the local failover provider.
type Provider struct {
	// EnvPath is the environment file when the request has no "env" setting.
	EnvPath string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// PauseAt, when set to a step name, makes that step stop in its middle (after part of its
	// effect) and wait to be killed: `caro failover drill --kill-at` sets it (through the drill's pause
	// setting) on its apply subprocess, so the kill lands mid-step every time.
	PauseAt string
}

// Name implements failover.Provider.
func (p *Provider) Name() string { return "local" }

func (p *Provider) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// clients of one region.
type regionClients struct {
	r     Region
	kms   *kms.Client
	store backup.ObjectStore
	bkms  backup.KMS
}

func clientsFor(name string, r Region) regionClients {
	kc := kms.NewFromConfig(localstack.AWSConfig(name, r.KMSEndpoint))
	sc := s3.NewFromConfig(localstack.AWSConfig(name, r.S3Endpoint), func(o *s3.Options) { o.UsePathStyle = true })
	return regionClients{r: r, kms: kc, store: backup.NewS3Store(sc, r.BackupBucket, ""), bkms: backup.NewAWSKMS(kc)}
}

// connect is a client for the provider's checks: every operation answers within 30 s.
func connect(ctx context.Context, uri string) (*mongo.Client, error) {
	return connectWithin(ctx, uri, 30*time.Second)
}

// jobOperationTimeout bounds one operation of a job that moves a whole database (seed, pre-stage,
// restore, checksum): on a loaded 2-core machine FerretDB counts or scans a collection of 500,000
// documents of 1 KB in more than 30 s (a drill of 1,000,000 records failed there).
const jobOperationTimeout = 10 * time.Minute

// connectJob is a client for such a job.
func connectJob(ctx context.Context, uri string) (*mongo.Client, error) {
	return connectWithin(ctx, uri, jobOperationTimeout)
}

func connectWithin(ctx context.Context, uri string, timeout time.Duration) (*mongo.Client, error) {
	c, err := mongo.Connect(options.Client().ApplyURI(uri).SetTimeout(timeout).SetServerSelectionTimeout(3 * time.Second))
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := c.Ping(pctx, nil); err != nil {
		_ = c.Disconnect(context.Background())
		return nil, fmt.Errorf("database %s does not answer: %w", uri, err)
	}
	return c, nil
}

// targetInventory lists what the target database holds (restore.Take).
func targetInventory(ctx context.Context, uri, database string) (restore.Inventory, error) {
	c, err := connect(ctx, uri)
	if err != nil {
		return restore.Inventory{}, err
	}
	defer c.Disconnect(context.Background())
	return restore.Take(ctx, c.Database(database))
}

// regionReady checks a region's own services: database, KMS key, backup bucket.
func regionReady(ctx context.Context, name string, c regionClients) error {
	db, err := connect(ctx, c.r.MongoURI)
	if err != nil {
		return err
	}
	_ = db.Disconnect(ctx)
	kctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	out, err := c.kms.DescribeKey(kctx, &kms.DescribeKeyInput{KeyId: aws.String(c.r.KMSKey)})
	if err != nil {
		return fmt.Errorf("KMS key %s of %s unusable: %w", c.r.KMSKey, name, err)
	}
	if out.KeyMetadata.KeyState != kmstypes.KeyStateEnabled {
		return fmt.Errorf("KMS key %s of %s is %s, not Enabled", c.r.KMSKey, name, out.KeyMetadata.KeyState)
	}
	if _, err := c.store.List(kctx, backup.BackupPrefix); err != nil {
		return fmt.Errorf("backup bucket %s of %s unreachable: %w", c.r.BackupBucket, name, err)
	}
	return nil
}

// Survey implements failover.Provider.
func (p *Provider) Survey(ctx context.Context, req failover.Request) (*failover.Survey, error) {
	envPath := req.Settings[SettingEnv]
	if envPath == "" {
		envPath = p.EnvPath
	}
	if envPath == "" {
		return nil, errors.New("local provider: no environment file: pass --env <file> (written by `caro failover drill`)")
	}
	envPath, _ = filepath.Abs(envPath)
	env, hash, err := LoadEnv(envPath)
	if err != nil {
		return nil, err
	}
	if req.Restore != "" && req.Restore != "backup" {
		return nil, fmt.Errorf("local provider: --restore %s is not available locally (no Atlas here): use --restore backup", req.Restore)
	}
	target, err := env.Region(req.To)
	if err != nil {
		return nil, err
	}
	s := &failover.Survey{Settings: map[string]string{SettingEnv: envPath, SettingEnvHash: hash}}
	tc := clientsFor(req.To, target)
	if err := regionReady(ctx, req.To, tc); err != nil {
		s.TargetDetail = err.Error()
		if req.Readiness {
			s.Block("target-region", fmt.Sprintf("%s cannot take over: %v", req.To, err))
		}
		return s, nil
	}
	s.TargetHealthy, s.TargetDetail = true, "database, KMS key and backup bucket answer"
	s.OK("target-region", fmt.Sprintf("target %s: database, KMS key %s and backup bucket %s answer", req.To, target.KMSKey, target.BackupBucket))
	inv, err := targetInventory(ctx, target.MongoURI, env.Database)
	if err != nil {
		return nil, err
	}
	s.Settings[restore.SettingTargetInventory] = inv.Setting()
	s.OK("target-database", fmt.Sprintf("target database %s holds: %s", env.Database, inv))
	marker, err := targetMarker(ctx, target.MongoURI, env.Database)
	if err != nil {
		return nil, err
	}
	if marker != nil && marker.Staged != nil && marker.InProgress == nil {
		s.OK("target-database", fmt.Sprintf("it is the pre-staged copy of backup %s (verified %s): the restore activates it", marker.BackupID, marker.Staged.VerifiedAt.Format(time.RFC3339)))
	} else if len(inv.Collections) > 0 {
		s.Warn("target-database", fmt.Sprintf("the restore replaces what %s's database %s holds (%s): it is moved aside and kept as %s<run>_<name> until `caro backup discard-replaced` removes it; "+
			"apply refuses if it changes before the restore, unless confirmed with --yes", req.To, env.Database, inv, "_caro_prev_"))
	}
	if req.From != "" {
		if src, err := env.Region(req.From); err == nil {
			if h, err := GetHealth(ctx, src.APIBase()); err == nil {
				s.SourceHealthy, s.SourceDetail = true, "its API answers /health ("+h.Status+")"
			} else {
				s.SourceDetail = err.Error()
				s.OK("source-health", fmt.Sprintf("source %s is down: %v", req.From, err))
			}
		}
	}
	list, err := backup.List(ctx, tc.store, p.now())
	if err != nil {
		return nil, fmt.Errorf("list backups in %s: %w", target.BackupBucket, err)
	}
	var chosen *backup.Summary
	for i := range list {
		b := &list[i]
		if b.Problem == "" && (req.From == "" || b.SourceRegion == req.From) {
			chosen = b
			break
		}
	}
	if chosen == nil {
		s.Block("backup", fmt.Sprintf("no usable backup of %s in the %s bucket %s: take one (caro backup create) and replicate it, then plan again", req.From, req.To, target.BackupBucket))
		return s, nil
	}
	s.Backup = failover.BackupRef{ID: chosen.BackupID, Location: "s3://" + target.BackupBucket + "/" + backup.ManifestKey(chosen.BackupID),
		TakenAt: chosen.CreatedAt, Records: chosen.Documents}
	maxAge := time.Duration(env.MaxBackupAge * float64(time.Second))
	if maxAge <= 0 {
		maxAge = 24 * time.Hour
	}
	s.OK("backup", fmt.Sprintf("backup %s from %s: %d documents, taken %s", chosen.BackupID, chosen.SourceRegion, chosen.Documents, chosen.CreatedAt.Format(time.RFC3339)))
	age := p.now().Sub(chosen.CreatedAt)
	if age > maxAge {
		s.Warn("backup-age", fmt.Sprintf("backup %s is %s old, more than the %s allowed: preflight will refuse it; take a fresh backup if the source still answers", chosen.BackupID, age.Round(time.Second), maxAge))
	} else {
		s.OK("backup-age", fmt.Sprintf("the newest backup is %s old (allowed: %s)", age.Round(time.Second), maxAge))
	}
	s.Measure("backup-age", age.Seconds())
	choice := restore.Choose(marker, chosen.BackupID)
	restoreSecs := localRestoreSeconds(choice, chosen.Documents)
	// The standby's pre-stage, as readiness shows it (warnings: the cold path still works).
	if st, err := prestage.Status(ctx, prestage.StatusOptions{Store: tc.store, Source: req.From, Now: p.now()}); err != nil {
		s.Warn("prestage", fmt.Sprintf("the pre-stage records could not be read: %v", err))
	} else {
		for _, f := range st.Findings {
			if f.Check == "prestage" {
				s.Warn(f.Check, f.Message)
			}
		}
		if !st.Behind {
			s.OK("prestage", st.FailoverRTO)
		}
	}
	ledgerAction, ledgerWarnings := ledgerPlanNotes(req.To, target)
	for _, w := range ledgerWarnings {
		s.Warn("ledger", w)
	}
	s.Steps = []failover.PlannedStep{
		{Name: StepPreflight, Action: fmt.Sprintf("check %s's database, KMS key and the backup's manifest; refuse a backup older than %s", req.To, maxAge), ExpectedSeconds: 0.5},
		{Name: StepDeploy, Action: fmt.Sprintf("start %s's API on %s (skipped if it answers)", req.To, target.APIBase()), ExpectedSeconds: 1},
		{Name: StepRestore, Action: fmt.Sprintf("%s path: %s; backup %s (%d documents), counts and checksums verified%s, the restore marker written", choice.Path, choice.Detail, chosen.BackupID, chosen.Documents, ledgerAction), ExpectedSeconds: restoreSecs},
		{Name: StepIdentities, Action: fmt.Sprintf("re-create the users of the backup's encrypted identity export in %s's user store, forcing a password reset", req.To), ExpectedSeconds: 1},
		{Name: StepVerify, Action: fmt.Sprintf("GET %s/health answers with the restore marker of %s", target.APIBase(), chosen.BackupID), ExpectedSeconds: 0.2},
		{Name: StepDNS, Action: fmt.Sprintf("RFC 2136 update of %s to %s at %s, then wait until the server answers it", env.Name, target.IP, env.DNSAddr), ExpectedSeconds: 0.2},
		{Name: StepConfirm, Action: fmt.Sprintf("resolve %s and GET /health through it: must be %s with the restore marker", env.Name, req.To), ExpectedSeconds: 0.2},
	}
	return s, nil
}

// Steps implements failover.Provider.
func (p *Provider) Steps(ctx context.Context, plan *failover.Plan) ([]failover.Step, error) {
	envPath := plan.Settings[SettingEnv]
	env, hash, err := LoadEnv(envPath)
	if err != nil {
		return nil, err
	}
	if hash != plan.Settings[SettingEnvHash] {
		return nil, fmt.Errorf("the local environment %s changed since the plan was made (servers restarted?): run `caro failover plan` again", envPath)
	}
	target, err := env.Region(plan.To)
	if err != nil {
		return nil, err
	}
	r := &run{p: p, env: env, plan: plan, target: target, tc: clientsFor(plan.To, target)}
	steps := []failover.Step{
		&failover.StepFunc{StepName: StepPreflight, RunFunc: r.preflight, SummaryText: r.text(StepPreflight)},
		// The region's API can stop after the step (and the DNS name move back): both are checked
		// again on resume and redone when their effect is gone.
		&failover.StepFunc{StepName: StepDeploy, CheckFunc: r.deployed, RunFunc: r.deploy, SummaryText: r.text(StepDeploy), Decaying: true},
		&failover.StepFunc{StepName: StepRestore, CheckFunc: r.restored, RunFunc: r.restore, SummaryText: r.text(StepRestore)},
		&failover.StepFunc{StepName: StepIdentities, CheckFunc: r.identitiesDone, RunFunc: r.identities, SummaryText: r.text(StepIdentities)},
		&failover.StepFunc{StepName: StepVerify, RunFunc: r.verify, SummaryText: r.text(StepVerify)},
		&failover.StepFunc{StepName: StepDNS, CheckFunc: r.dnsDone, RunFunc: r.dns, SummaryText: r.text(StepDNS), Decaying: true},
		&failover.StepFunc{StepName: StepConfirm, RunFunc: r.confirm, SummaryText: r.text(StepConfirm)},
	}
	return steps, nil
}

// run is one apply's state.
type run struct {
	p      *Provider
	env    *Env
	plan   *failover.Plan
	target Region
	tc     regionClients
	texts  map[string]string
}

func (r *run) text(step string) func() string {
	return func() string { return r.texts[step] }
}

func (r *run) say(step, format string, args ...any) {
	if r.texts == nil {
		r.texts = map[string]string{}
	}
	r.texts[step] = fmt.Sprintf(format, args...)
}

// pause stops a step in its middle when the drill asked for it, and waits to be killed.
func (r *run) pause(ctx context.Context, step string) {
	if r.p.PauseAt != step {
		return
	}
	_ = os.WriteFile(filepath.Join(r.env.StateDir, "paused-"+step), []byte(strconv.Itoa(os.Getpid())), 0o600)
	failover.ProgressFrom(ctx)("paused mid-step for the drill's kill (pid %d)", os.Getpid())
	select {
	case <-ctx.Done():
	case <-time.After(2 * time.Minute):
	}
}

func (r *run) preflight(ctx context.Context) error {
	if err := regionReady(ctx, r.plan.To, r.tc); err != nil {
		return fmt.Errorf("target %s is not ready: %w", r.plan.To, err)
	}
	r.pause(ctx, StepPreflight)
	list, err := backup.List(ctx, r.tc.store, r.p.now())
	if err != nil {
		return err
	}
	for _, b := range list {
		if b.BackupID != r.plan.Backup.ID {
			continue
		}
		if b.Problem != "" {
			return fmt.Errorf("backup %s is unreadable: %s", b.BackupID, b.Problem)
		}
		maxAge := time.Duration(r.env.MaxBackupAge * float64(time.Second))
		if maxAge <= 0 {
			maxAge = 24 * time.Hour
		}
		if b.Age > maxAge {
			return fmt.Errorf("backup %s is %s old, more than %s: take a fresh backup and plan again", b.BackupID, b.Age, maxAge)
		}
		r.say(StepPreflight, "target ready; backup %s present, %s old", b.BackupID, b.Age)
		return nil
	}
	return fmt.Errorf("backup %s of the plan is gone from %s: plan again", r.plan.Backup.ID, r.target.BackupBucket)
}

func (r *run) pidFile() string {
	return filepath.Join(r.env.StateDir, "api-"+r.plan.To+".pid")
}

func (r *run) deployed(ctx context.Context) (bool, error) {
	_, err := GetHealth(ctx, r.target.APIBase())
	if err == nil {
		r.say(StepDeploy, "%s's API already answers at %s", r.plan.To, r.target.APIBase())
	}
	return err == nil, nil
}

func (r *run) deploy(ctx context.Context) error {
	if len(r.env.ServeCommand) == 0 {
		return errors.New("the local environment has no serve_command to start a region's API")
	}
	// A server started by an interrupted run may still be starting: reuse it if its pid lives.
	if b, err := os.ReadFile(r.pidFile()); err == nil {
		if pid, _ := strconv.Atoi(strings.TrimSpace(string(b))); pid > 0 && syscall.Kill(pid, 0) == nil {
			return r.waitAPI(ctx, pid)
		}
	}
	args := append(append([]string{}, r.env.ServeCommand[1:]...), "--env", r.plan.Settings[SettingEnv], "--region", r.plan.To)
	cmd := exec.Command(r.env.ServeCommand[0], args...)
	cmd.Env = append(os.Environ(), r.env.ServeEnv...)
	logf, err := os.OpenFile(filepath.Join(r.env.StateDir, "api-"+r.plan.To+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own session: the region's API outlives this apply (and a kill -9 of it).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s's API: %w", r.plan.To, err)
	}
	pid := cmd.Process.Pid
	_ = cmd.Process.Release()
	if err := os.WriteFile(r.pidFile(), []byte(strconv.Itoa(pid)), 0o600); err != nil {
		return err
	}
	r.pause(ctx, StepDeploy)
	return r.waitAPI(ctx, pid)
}

func (r *run) waitAPI(ctx context.Context, pid int) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := GetHealth(ctx, r.target.APIBase()); err == nil {
			r.say(StepDeploy, "%s's API started (pid %d) at %s", r.plan.To, pid, r.target.APIBase())
			return nil
		} else if time.Now().After(deadline) {
			return fmt.Errorf("%s's API did not answer within 30 s: %w (log: %s)", r.plan.To, err, filepath.Join(r.env.StateDir, "api-"+r.plan.To+".log"))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (r *run) restored(ctx context.Context) (bool, error) {
	c, err := connect(ctx, r.target.MongoURI)
	if err != nil {
		return false, err
	}
	defer c.Disconnect(context.Background())
	m, done, err := restore.Restored(ctx, c.Database(r.env.Database), r.plan.Backup.ID, r.plan.ID)
	if done {
		r.say(StepRestore, "backup %s already restored (%d documents) at %s", m.BackupID, m.Documents, m.RestoredAt.Format(time.RFC3339))
	}
	return done, err
}

// restore runs the post-restore protocol (internal/restore) with the target's backup bucket (and
// its register), the target's key, the audit ledger recovery and the plan's listing of the target.
func (r *run) restore(ctx context.Context) error {
	progress := failover.ProgressFrom(ctx)
	c, err := connectJob(ctx, r.target.MongoURI)
	if err != nil {
		return err
	}
	defer c.Disconnect(context.Background())
	var pauseOnce sync.Once
	lines := restore.ProgressLines(progress, 2*time.Second)
	pause := func() { pauseOnce.Do(func() { r.pause(ctx, StepRestore) }) }
	o := restore.Options{
		Target: c, Database: r.env.Database, Replace: true, PlanID: r.plan.ID, From: r.plan.From,
		Erasures: erasure.BucketsRegister([]string{"s3://" + r.target.BackupBucket}, r.tc.store),
		Ledger:   r.ledgerRecovery(progress), Settle: time.Duration(r.env.MaintenanceSettle * float64(time.Second)),
		AcceptChanges: failover.OperatorConfirmed(ctx),
		// The drill's regions keep the platform's default retention, as a deployed region would.
		RetentionYears: regions.DefaultRetentionYears,
		Progress: func(pr backup.Progress) {
			// The drill's kill lands mid-step: half-way through a load, or as a staged copy's
			// activation starts.
			if r.p.PauseAt == StepRestore && ((pr.Phase == "stage" && pr.Total > 0 && pr.Done >= pr.Total/2) || strings.HasSuffix(pr.Message, ": activating it (maintenance switch on)")) {
				pause()
			}
			lines(pr)
		},
	}
	if inv, ok, err := restore.PlannedInventory(r.plan.Settings); err != nil {
		return err
	} else if ok {
		o.Expect = &inv
	}
	// What the standby staged decides the path: activate it, wait for its pre-stage, or load.
	rep, choice, err := restore.Failover(ctx, o, restore.BackupSource{ReadOptions: backup.ReadOptions{
		BackupID: r.plan.Backup.ID, Store: r.tc.store, KMS: r.tc.bkms, AllowedKeys: []string{r.target.KMSKey}}}, restore.WaitOptions{}, nil)
	if err != nil {
		return firstLineOf(err)
	}
	if !rep.AlreadyRestored && choice.Path == restore.PathCold && r.plan.Backup.Records > 0 && rep.Documents != r.plan.Backup.Records {
		return fmt.Errorf("restored %d documents, the backup's manifest says %d", rep.Documents, r.plan.Backup.Records)
	}
	r.say(StepRestore, "%s path (%s); %s", choice.Path, choice.Detail, restore.Summary(rep))
	return nil
}

// targetMarker reads the target database's restore marker (nil when none).
func targetMarker(ctx context.Context, uri, database string) (*restore.Marker, error) {
	c, err := connect(ctx, uri)
	if err != nil {
		return nil, err
	}
	defer c.Disconnect(context.Background())
	return restore.ReadMarker(ctx, c.Database(database))
}

// localRestoreSeconds models the restore step on this machine's FerretDB: a load at about 4,000
// documents/s (a drill's documents, with the maintenance switch's settle), an activation in
// seconds.
func localRestoreSeconds(c restore.Choice, documents int64) float64 {
	cold := 2 + float64(documents)/4000
	switch c.Path {
	case restore.PathStaged:
		return 2
	case restore.PathWait:
		return cold/2 + 2
	}
	return cold
}

// readIdentities reads the backup's identity export, without the users of tenants offboarded
// since (the register's tenant-level entries).
func (r *run) readIdentities(ctx context.Context) ([]backup.IdentityRecord, error) {
	recs, err := backup.ReadIdentityExport(ctx, backup.IdentityExportOptions{Store: r.tc.store, KMS: r.tc.bkms, AllowedKeys: []string{r.target.KMSKey}, BackupID: r.plan.Backup.ID})
	if err != nil {
		return nil, err
	}
	offboarded, err := erasure.OffboardedTenants(ctx, erasure.BucketsRegister([]string{"s3://" + r.target.BackupBucket}, r.tc.store))
	if err != nil {
		return nil, err
	}
	kept := recs[:0]
	for _, rec := range recs {
		if !offboarded[rec.TenantID] {
			kept = append(kept, rec)
		}
	}
	return kept, nil
}

func (r *run) identitiesDone(ctx context.Context) (bool, error) {
	users, err := r.readIdentities(ctx)
	if err != nil {
		return false, err
	}
	c, err := connect(ctx, r.target.MongoURI)
	if err != nil {
		return false, err
	}
	defer c.Disconnect(context.Background())
	n, err := c.Database(IdentityDatabase).Collection("users").CountDocuments(ctx, bson.D{{Key: "restored_from", Value: r.plan.Backup.ID}})
	if err != nil {
		return false, err
	}
	if n == int64(len(users)) {
		r.say(StepIdentities, "%d users already re-created", n)
		return true, nil
	}
	return false, nil
}

// identities re-creates users in the target's user store. Inserts are unordered and a duplicate
// key means "created by an interrupted earlier run", so repeating the step is safe.
func (r *run) identities(ctx context.Context) error {
	users, err := r.readIdentities(ctx)
	if err != nil {
		return err
	}
	c, err := connect(ctx, r.target.MongoURI)
	if err != nil {
		return err
	}
	defer c.Disconnect(context.Background())
	coll := c.Database(IdentityDatabase).Collection("users")
	docs := make([]any, 0, len(users))
	for _, u := range users {
		docs = append(docs, bson.D{
			{Key: "_id", Value: u.Phone}, {Key: "phone_number", Value: u.Phone}, {Key: "tenant_id", Value: u.TenantID},
			{Key: "roles", Value: strings.Join(u.Roles, ",")}, {Key: "legacy_sub", Value: u.OldSubject},
			{Key: "status", Value: "FORCE_CHANGE_PASSWORD"}, {Key: "restored_from", Value: r.plan.Backup.ID},
		})
	}
	created := 0
	// Batches of 500; small exports in two halves, so an interruption can land between them.
	size := 500
	if len(docs) < 1000 {
		size = max(1, (len(docs)+1)/2)
	}
	for start := 0; start < len(docs); start += size {
		end := min(start+size, len(docs))
		res, err := coll.InsertMany(ctx, docs[start:end], options.InsertMany().SetOrdered(false))
		if res != nil {
			created += len(res.InsertedIDs)
		}
		if err != nil && !onlyDuplicates(err) {
			return fmt.Errorf("re-create users: %w", err)
		}
		if start == 0 {
			r.pause(ctx, StepIdentities)
		}
	}
	r.say(StepIdentities, "%d users re-created (%d already there), password reset forced at next sign-in", created, len(users)-created)
	return nil
}

func onlyDuplicates(err error) bool {
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) {
		return false
	}
	for _, we := range bwe.WriteErrors {
		if we.Code != 11000 {
			return false
		}
	}
	return bwe.WriteConcernError == nil
}

func (r *run) verify(ctx context.Context) error {
	r.pause(ctx, StepVerify)
	h, err := GetHealth(ctx, r.target.APIBase())
	if err != nil {
		return fmt.Errorf("%s's API: %w", r.plan.To, err)
	}
	if h.Region != r.plan.To || h.Restore == nil || h.Restore.BackupID != r.plan.Backup.ID {
		return fmt.Errorf("%s/health answers region %q restore %+v: want %s with the marker of backup %s", r.target.APIBase(), h.Region, h.Restore, r.plan.To, r.plan.Backup.ID)
	}
	r.say(StepVerify, "%s/health: %s, restore marker of backup %s", r.target.APIBase(), h.Status, h.Restore.BackupID)
	return nil
}

func (r *run) dnsDone(ctx context.Context) (bool, error) {
	ip, err := Resolve(ctx, r.env)
	if err != nil {
		return false, nil // an unresolvable name is fixed by the update
	}
	if ip == r.target.IP {
		r.say(StepDNS, "%s already points at %s (%s)", r.env.Name, ip, r.plan.To)
		return true, nil
	}
	return false, nil
}

func (r *run) dns(ctx context.Context) error {
	before, _ := Resolve(ctx, r.env)
	if err := PointTo(ctx, r.env, r.target.IP, 5); err != nil {
		return err
	}
	r.pause(ctx, StepDNS)
	deadline := time.Now().Add(10 * time.Second)
	for {
		ip, err := Resolve(ctx, r.env)
		if err == nil && ip == r.target.IP {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s still answers %q 10 s after the update", r.env.Name, ip)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.say(StepDNS, "%s moved from %s to %s (%s) by RFC 2136 update, answered by the server", r.env.Name, before, r.target.IP, r.plan.To)
	return nil
}

func (r *run) confirm(ctx context.Context) error {
	ip, err := Resolve(ctx, r.env)
	if err != nil {
		return err
	}
	r.pause(ctx, StepConfirm)
	if ip != r.target.IP {
		return fmt.Errorf("%s resolves to %s, not %s's %s", r.env.Name, ip, r.plan.To, r.target.IP)
	}
	base := fmt.Sprintf("http://%s:%d/api", ip, r.target.APIPort)
	h, err := GetHealth(ctx, base)
	if err != nil {
		return err
	}
	if h.Region != r.plan.To || h.Restore == nil || h.Restore.BackupID != r.plan.Backup.ID {
		return fmt.Errorf("through %s the API answers region %q with restore %+v", r.env.Name, h.Region, h.Restore)
	}
	r.say(StepConfirm, "%s -> %s; GET %s/health answers %s with backup %s", r.env.Name, ip, base, h.Region, h.Restore.BackupID)
	return nil
}

// firstLineOf shortens errors that list thousands of write errors to their first part.
func firstLineOf(err error) error {
	msg := err.Error()
	if len(msg) <= 600 {
		return err
	}
	return fmt.Errorf("%s ... (%d more characters)", msg[:600], len(msg)-600)
}
