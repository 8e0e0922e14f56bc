package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/config"
	"github.com/carohealth/platform/internal/config/awscloud"
	"github.com/carohealth/platform/internal/erasure"
	"github.com/carohealth/platform/internal/objstore"
	"github.com/carohealth/platform/internal/tenant"
)

func init() { tenantSubcommands = append(tenantSubcommands, newTenantDeleteCmd) }

type tenantDeleteOptions struct {
	tenant   string
	database string
	region   string
	dryRun   bool
	yes      bool
	output   string
}

// tenantDeleteOutput is the -o json output: the plan, and what the run did (absent on a dry run).
type tenantDeleteOutput struct {
	Plan   tenant.Plan    `json:"plan"`
	DryRun bool           `json:"dryRun"`
	Result *tenant.Report `json:"result,omitempty"`
}

// tenantUsers opens the region's user pool; tests point the SDK at a fake through
// AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER.
var tenantUsers = func(ctx context.Context, region, poolID string) (tenant.Users, error) {
	return tenant.NewCognitoUsers(ctx, region, poolID)
}

func newTenantDeleteCmd(streams IOStreams) *cobra.Command {
	o := tenantDeleteOptions{}
	cmd := &cobra.Command{
		Use:   "delete --tenant <id> [--dry-run] [-y]",
		Short: "Offboard a tenant: delete all its data and users, for good, also from later restores",
		Long: `Offboard a tenant whose contract ended. First it prints what it will remove (patients, notes,
subjects, users, documents in collections earlier restores kept aside); with --dry-run it stops
there. Then, once confirmed (-y/--yes, or the answer on a terminal):

  1. the tenant is marked offboarding: the API refuses all its requests (as for an unknown tenant)
     from then on, and the command waits until every API instance has seen that;
  2. a tenant-level entry is recorded in the erasure register (erasures/<tenant>/tenant.json in the
     region's backup bucket, Object-Locked and replicated), so every later restore of an older
     backup, the failover's included, removes the tenant again;
  3. every subject key of the tenant is deleted (crypto-shredding: the audit trail's references to
     its patients can no longer be linked to anyone), then its notes and patients are deleted, in
     the database and in collections earlier restores kept aside;
  4. its users are deleted from the region's Cognito user pool;
  5. one tenant:offboard audit event is written (actor, tenant, interface cli; its after hash is the
     SHA-256 of the counts summary), and the tenant is marked offboarded.

Every step is journaled in the database (_caro_tenant_journal): after a crash or kill, run the same
command again and it resumes where it stopped, without redoing or missing anything. Memory stays
bounded (a batch at a time); progress goes to stderr.

It refuses an unknown tenant, and refuses while the maintenance switch is on, a restore is in
progress, or a restore holds the audit ledger. Settings: --mongodb-uri, --bucket (own backup
bucket), --user-pool-id, --region, each also from the deployed stack (caro config view).`,
		Example: `  caro tenant delete --tenant acme --dry-run
  caro tenant delete --tenant acme --region eu-west-1 --yes
  caro tenant delete --tenant acme --mongodb-uri "$MONGODB_URI" --bucket "$OWN_BACKUP_BUCKET" --user-pool-id eu-west-1_AbC --yes -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd, streams)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.tenant, "tenant", "", "ID of the tenant to offboard (the users' custom:tenant_id)")
	fl.StringVar(&o.database, "database", backup.DefaultDatabase, "application database")
	fl.String("mongodb-uri", "", "MongoDB connection string of the region's database (default: the secret caro/<region>/mongodb-uri)")
	fl.String("bucket", "", "the region's own backup bucket, whose erasure register gets the tenant-level entry (default: stack output OwnBackupBucket)")
	fl.String("user-pool-id", "", "the region's Cognito user pool (default: stack output UserPoolId)")
	fl.StringVar(&o.region, "region", "", "AWS region of the platform (default: the primary region)")
	fl.BoolVar(&o.dryRun, "dry-run", false, "print what would be removed and change nothing")
	fl.BoolVarP(&o.yes, "yes", "y", false, "confirm deleting the tenant")
	fl.StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	return cmd
}

// validate checks the flags before anything is read.
func (o *tenantDeleteOptions) validate() error {
	if o.output != "text" && o.output != "json" {
		return fmt.Errorf("invalid --output %q: use text or json", o.output)
	}
	if o.tenant == "" {
		return errors.New("no tenant: pass --tenant <id> (the users' custom:tenant_id attribute)")
	}
	if o.database == "" {
		return errors.New("--database must not be empty")
	}
	return nil
}

// run is Complete (settings), Validate, Preflight (the plan), confirm, Run, render.
func (o *tenantDeleteOptions) run(cmd *cobra.Command, streams IOStreams) error {
	if err := o.validate(); err != nil {
		return err
	}
	ctx := cmd.Context()
	cfg, err := loadConfig(ctx, cmd, o.region, false)
	if err != nil {
		return err
	}
	if err := cfg.Require(ctx, config.KeyMongoURI, config.KeyBackupBucket, config.KeyUserPoolID); err != nil {
		return fmt.Errorf("tenant delete needs the region's database, backup bucket and user pool: %w", err)
	}
	region, bucket, poolID := cfg.Region(), cfg.String(ctx, config.KeyBackupBucket), cfg.String(ctx, config.KeyUserPoolID)
	register, err := tenantRegister(ctx, cfg, bucket)
	if err != nil {
		return err
	}
	users, err := tenantUsers(ctx, region, poolID)
	if err != nil {
		return err
	}
	client, closeClient, err := connectTarget(ctx, cfg.String(ctx, config.KeyMongoURI))
	if err != nil {
		return err
	}
	defer closeClient()
	db := client.Database(o.database)
	opts := &tenant.Options{DB: db, TenantID: o.tenant, Register: register, Users: users,
		Origin: commandOrigin(ctx, region, audit.InterfaceCLI), Progress: func(s string) { fmt.Fprintln(streams.ErrOut, s) }}
	plan, err := tenant.Preflight(ctx, opts)
	if err != nil {
		return err
	}
	out := tenantDeleteOutput{Plan: plan, DryRun: o.dryRun}
	if o.output == "text" {
		renderTenantPlan(streams.Out, plan, fmt.Sprintf("s3://%s/%s", bucket, erasure.Key(o.tenant, "")), poolID)
	}
	if plan.NothingToDo() || o.dryRun {
		if o.output == "json" {
			return writeJSON(streams.Out, out)
		}
		if o.dryRun && !plan.NothingToDo() {
			fmt.Fprintln(streams.Out, "dry run: nothing was changed")
		}
		return nil
	}
	c := plan.Counts
	question := fmt.Sprintf("delete tenant %s for good (%d patients, %d notes, %d subjects, %d users)", o.tenant, c.Patients, c.Notes, c.Subjects, c.Users)
	if plan.Resume != nil {
		question = fmt.Sprintf("resume deleting tenant %s (run %s)", o.tenant, plan.Resume.ID)
	}
	if err := confirm(streams, o.yes, question); err != nil {
		return err
	}
	rep, err := tenant.Run(ctx, opts, plan)
	if rep.AuditEvent != nil {
		deliverAuditEvents(ctx, streams.ErrOut, region, db, []audit.Written{*rep.AuditEvent}, nil)
	}
	if err != nil {
		return err
	}
	if o.output == "json" {
		out.Result = &rep
		return writeJSON(streams.Out, out)
	}
	renderTenantReport(streams.Out, rep)
	return nil
}

// tenantRegister is the erasure register in the region's own backup bucket.
func tenantRegister(ctx context.Context, cfg *config.Config, bucket string) (erasure.Recorder, error) {
	cloud := &awscloud.Cloud{PathStyleS3: cfg.Value(ctx, config.KeyS3Endpoint).Found()}
	c, err := cloud.S3(ctx, cfg.Region())
	if err != nil {
		return nil, fmt.Errorf("opening the backup bucket %s: %w", bucket, err)
	}
	return erasure.NewRegister(objstore.NewS3(c, bucket, "")), nil
}

// renderTenantPlan prints what the offboarding removes (data: stdout).
func renderTenantPlan(w io.Writer, p tenant.Plan, registerKey, poolID string) {
	if p.NothingToDo() {
		fmt.Fprintf(w, "tenant %s was offboarded on %s: nothing of it is left in %s or user pool %s\n", p.TenantID, p.Status.Updated.Format(time.RFC3339), p.Database, poolID)
		return
	}
	c := p.Counts
	fmt.Fprintf(w, "tenant %s: what the offboarding removes\n", p.TenantID)
	fmt.Fprintf(w, "  patients       %8d  (database %s)\n", c.Patients, p.Database)
	fmt.Fprintf(w, "  notes          %8d\n", c.Notes)
	fmt.Fprintf(w, "  subjects       %8d  (subject keys, crypto-shredded)\n", c.Subjects)
	fmt.Fprintf(w, "  users          %8d  (user pool %s)\n", c.Users, poolID)
	if c.KeptDocuments > 0 {
		fmt.Fprintf(w, "  kept copies    %8d  (documents in collections earlier restores kept aside)\n", c.KeptDocuments)
	}
	fmt.Fprintf(w, "and records %s, so every later restore removes the tenant again\n", registerKey)
	if r := p.Resume; r != nil {
		done := "none"
		if len(r.Done) > 0 {
			done = strings.Join(r.Done, ", ")
		}
		fmt.Fprintf(w, "an interrupted run is resumed: run %s, started %s by %s; steps done: %s\n", r.ID, r.Started.Format(time.RFC3339), r.Actor, done)
	}
}

// renderTenantReport prints what the run did.
func renderTenantReport(w io.Writer, r tenant.Report) {
	c := r.Removed
	verb := "offboarded"
	if r.Resumed {
		verb = "offboarded (interrupted run resumed)"
	}
	fmt.Fprintf(w, "tenant %s %s: %d patients, %d notes, %d subject keys, %d users, %d kept documents removed by this run\n",
		r.TenantID, verb, c.Patients, c.Notes, c.Subjects, c.Users, c.KeptDocuments)
	if r.AuditEvent != nil {
		fmt.Fprintf(w, "audit event %s (tenant:offboard), run %s, request %s\n", r.AuditEvent.Event.ID, r.Run.ID, r.Run.RequestID)
	}
}
