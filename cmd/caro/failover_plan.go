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
	"github.com/carohealth/platform/regions"
)

type failoverPlanOptions struct {
	to, from, restore, out, provider, env, dns, format string
}

func newFailoverPlanCmd(streams IOStreams, f *failoverFlags) *cobra.Command {
	o := &failoverPlanOptions{}
	cmd := &cobra.Command{
		Use:   "plan --to <region> [--from <region>] [--restore atlas|backup] [-o plan.json]",
		Short: "Check everything and write the failover plan; changes nothing",
		Long: `Checks the target region, the backup or snapshot to restore and its age (the RPO), and writes
the plan file that 'caro failover apply' executes. Nothing is changed. The plan is sealed with a
hash: an edited plan file is refused by apply, and a plan older than 2 hours must be made again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return o.run(cmd.Context(), streams)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.to, "to", "", "target region (required)")
	fl.StringVar(&o.from, "from", "", "source region (default: the primary of the region definitions)")
	fl.StringVar(&o.restore, "restore", "backup", "what to restore: backup (encrypted logical backup) or atlas (Atlas snapshot)")
	fl.StringVarP(&o.out, "output-file", "o", "plan.json", "where to write the plan")
	fl.StringVar(&o.provider, "provider", "aws", "where the platform runs: aws, or local (the drill's regions)")
	fl.StringVar(&o.env, "env", "", "local provider: the environment file written by `caro drill`")
	fl.StringVar(&o.dns, "dns", "", "aws provider: DNS mode arc (data plane, default), health-check or upsert (control plane, us-east-1)")
	fl.StringVar(&o.format, "format", "text", "how to print the plan on stdout: text or json")
	return cmd
}

func (o *failoverPlanOptions) validate() error {
	if o.to == "" {
		return fmt.Errorf("no target region: pass --to <region> (for example --to eu-central-1)")
	}
	if o.restore != "backup" && o.restore != "atlas" {
		return fmt.Errorf("invalid --restore %q: use backup or atlas", o.restore)
	}
	if o.out == "" {
		return fmt.Errorf("no plan file: pass -o plan.json")
	}
	switch o.dns {
	case "", "arc", "health-check", "upsert":
	default:
		return fmt.Errorf("invalid --dns %q: use arc (data plane), health-check or upsert (both control plane, us-east-1)", o.dns)
	}
	if o.format != "text" && o.format != "json" {
		return fmt.Errorf("invalid --format %q: use text or json", o.format)
	}
	return nil
}

func (o *failoverPlanOptions) run(ctx context.Context, streams IOStreams) error {
	if ctx == nil {
		ctx = context.Background()
	}
	defs, err := regions.Default()
	if err != nil {
		return err
	}
	primary := defs.Primary().Region
	if o.from == "" {
		o.from = primary
	}
	for _, r := range []string{o.from, o.to} {
		if _, err := defs.Get(r); err != nil {
			return err
		}
	}
	settings := map[string]string{}
	if o.env != "" {
		settings["env"] = o.env
	}
	if o.dns != "" {
		settings["dns_mode"] = o.dns
	}
	prov, err := foProvider(ctx, o.provider, o.to, settings)
	if err != nil {
		return err
	}
	fmt.Fprintf(streams.ErrOut, "surveying %s -> %s through provider %s (read-only)...\n", o.from, o.to, prov.Name())
	plan, err := failover.MakePlan(ctx, prov, failover.Request{From: o.from, To: o.to, Primary: primary, Restore: o.restore, Settings: settings}, time.Now())
	if err != nil {
		return fmt.Errorf("cannot plan a failover to %s: %w", o.to, err)
	}
	if err := failover.WritePlan(o.out, plan); err != nil {
		return err
	}
	if o.format == "json" {
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
