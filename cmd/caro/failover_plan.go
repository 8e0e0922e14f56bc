package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/carohealth/platform/internal/failover"
)

type failoverPlanOptions struct {
	to, from, restore, out, provider, env, dns, release, cdkOut, output string
}

func newFailoverPlanCmd(streams IOStreams, f *failoverFlags) *cobra.Command {
	o := &failoverPlanOptions{}
	cmd := &cobra.Command{
		Use:   "plan --to <region> [--from <region>] [--restore atlas|backup] [--out plan.json] [-o json]",
		Short: "Check everything and write the failover plan; changes nothing",
		Long: `Runs every readiness check (the same as 'caro failover readiness'), finds the backup or snapshot
to restore and its age (the RPO), pins the release to deploy, and writes the plan file that
'caro failover apply' executes. Nothing is changed. Every setting the plan used is listed under
"Checked:" with its source (docs/settings.md); a blocker refuses the plan, naming it. The plan is
sealed with a hash: an edited plan file is refused by apply, and a plan older than 2 hours must be
made again.`,
		Example: `  caro failover plan --to eu-central-1
  caro failover plan --to eu-central-1 --release 1.4.2 --out plan.json -o json
  caro failover plan --provider local --env drill/env.json --to standby`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return o.run(cmd.Context(), streams)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.to, "to", "", "target region (default: the standby)")
	fl.StringVar(&o.from, "from", "", "source region (default: the primary of the region definitions)")
	fl.StringVar(&o.restore, "restore", "backup", "what to restore: backup (encrypted logical backup) or atlas (Atlas snapshot)")
	fl.StringVar(&o.out, "out", "plan.json", "the plan file to write")
	fl.StringVar(&o.provider, "provider", "aws", "where the platform runs: aws, or local (the drill's regions)")
	fl.StringVar(&o.env, "env", "", "local provider: the environment file written by 'caro failover drill'")
	fl.StringVar(&o.dns, "dns", "", "aws provider: DNS mode arc (data plane, default), health-check or upsert (control plane, us-east-1)")
	fl.StringVar(&o.release, "release", "", "aws provider: the release to deploy (default: the one the primary runs; 'caro release list')")
	fl.StringVar(&o.cdkOut, "cdk-out", "", "aws provider: deploy this local cloud assembly instead of the published release (platform engineers)")
	fl.StringVarP(&o.output, "output", "o", "text", "how to print the plan on stdout: text or json")
	return cmd
}

func (o *failoverPlanOptions) validate() error {
	if o.out == "" {
		return fmt.Errorf("no plan file: pass --out plan.json")
	}
	switch o.dns {
	case "", "arc", "health-check", "upsert":
	default:
		return fmt.Errorf("invalid --dns %q: use arc (data plane), health-check or upsert (both control plane, us-east-1)", o.dns)
	}
	return foValidateOutput(o.output)
}

func (o *failoverPlanOptions) run(ctx context.Context, streams IOStreams) error {
	if ctx == nil {
		ctx = context.Background()
	}
	req, err := failoverRequest(o.from, o.to, o.restore, planSettings(o.env, o.dns, o.release, o.cdkOut))
	if err != nil {
		return err
	}
	prov, err := foProvider(ctx, o.provider, req.To, req.Settings)
	if err != nil {
		return err
	}
	fmt.Fprintf(streams.ErrOut, "surveying %s -> %s through provider %s (read-only)...\n", req.From, req.To, prov.Name())
	plan, err := failover.MakePlan(ctx, prov, req, time.Now())
	if err != nil {
		return fmt.Errorf("cannot plan a failover to %s: %w", req.To, err)
	}
	if err := failover.WritePlan(o.out, plan); err != nil {
		return err
	}
	if o.output == "json" {
		return writeJSON(streams.Out, plan)
	}
	printPlan(streams.Out, plan)
	fmt.Fprintf(streams.Out, "\nPlan written to %s. Review it, then run:\n  caro failover apply %s\n", o.out, o.out)
	return nil
}

// printPlan writes the human-readable plan.
func printPlan(w io.Writer, p *failover.Plan) {
	fmt.Fprintf(w, "%s plan %s: %s -> %s (provider %s, restore %s)\n", strings.ToUpper(p.Kind[:1])+p.Kind[1:], p.ID, p.From, p.To, p.Provider, p.Restore)
	fmt.Fprintf(w, "Valid until %s. Hash %s\n\n", p.ExpiresAt.Format(time.RFC3339), p.Hash[:16])
	if p.Backup.ID != "" {
		fmt.Fprintf(w, "Restores backup %s (%d records), taken %s: %s old at planning = RPO if applied now\n  %s\n\n",
			p.Backup.ID, p.Backup.Records, p.Backup.TakenAt.Format(time.RFC3339), (time.Duration(p.Backup.AgeSeconds) * time.Second).String(), p.Backup.Location)
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tSTEP\tEXPECTED\tWHAT IT WILL DO")
	for i, s := range p.Steps {
		fmt.Fprintf(tw, "%d\t%s\t%.1fs\t%s\n", i+1, s.Name, s.ExpectedSeconds, s.Action)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nExpected duration (RTO of the apply): %.0f s\n", p.ExpectedSeconds)
	if len(p.Checks) > 0 {
		fmt.Fprintln(w, "\nChecked:")
		for _, c := range p.Checks {
			fmt.Fprintf(w, "  - %s\n", c)
		}
	}
	if len(p.Warnings) > 0 {
		fmt.Fprintln(w, "\nWARNINGS:")
		for _, c := range p.Warnings {
			fmt.Fprintf(w, "  ! %s\n", c)
		}
	}
}
