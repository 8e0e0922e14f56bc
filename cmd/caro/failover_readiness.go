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

// Exit statuses of readiness (besides 1: it could not run).
const (
	exitNotReady       = 2 // at least one blocker: a failover now would be refused
	exitReadyWithWarns = 3 // ready, with warnings to look at
)

type failoverReadinessOptions struct {
	to, from, restore, provider, env, release, cdkOut, output string
}

func newFailoverReadinessCmd(streams IOStreams, _ *failoverFlags) *cobra.Command {
	o := &failoverReadinessOptions{}
	cmd := &cobra.Command{
		Use:   "readiness [--to <region>] [-o json]",
		Short: "Run every check a failover plan runs, write nothing, and say what would stop a failover now",
		Long: `Runs the checks 'caro failover plan' runs (credentials, the target's connection string and
database, its stack and release, the backup key's replica, the newest backup's age against the
recovery point objective, the ledger replica's lag, the user pool, Route 53's health check, the
Atlas snapshot copy when Atlas restores are configured) and names each blocker and warning.
Nothing is written. The same checks run every 30 minutes in the standby region and alarm on-call.

Exit status: 0 ready; 3 ready with warnings; 2 not ready (a blocker); 1 the checks could not run.`,
		Example: `  caro failover readiness
  caro failover readiness --to eu-central-1 -o json > readiness.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := foValidateOutput(o.output); err != nil {
				return err
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			return o.run(ctx, streams)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.to, "to", "", "the region that would take over (default: the standby)")
	fl.StringVar(&o.from, "from", "", "the region it would take over from (default: the primary)")
	fl.StringVar(&o.restore, "restore", "backup", "what the failover would restore: backup or atlas")
	fl.StringVar(&o.provider, "provider", "aws", "where the platform runs: aws, or local (the drill's regions)")
	fl.StringVar(&o.env, "env", "", "local provider: the environment file written by 'caro failover drill'")
	fl.StringVar(&o.release, "release", "", "aws provider: the release a failover would deploy (default: the one the primary runs)")
	fl.StringVar(&o.cdkOut, "cdk-out", "", "aws provider: check a local cloud assembly instead of the published release")
	fl.StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	return cmd
}

func (o *failoverReadinessOptions) run(ctx context.Context, streams IOStreams) error {
	req, err := failoverRequest(o.from, o.to, o.restore, planSettings(o.env, "", o.release, o.cdkOut))
	if err != nil {
		return err
	}
	prov, err := foProvider(ctx, o.provider, req.To, req.Settings)
	if err != nil {
		return err
	}
	fmt.Fprintf(streams.ErrOut, "checking whether %s can take over from %s (provider %s, read-only)...\n", req.To, req.From, prov.Name())
	rep := failover.Readiness(ctx, prov, req, time.Now())
	if o.output == "json" {
		if err := writeJSON(streams.Out, rep); err != nil {
			return err
		}
	} else {
		renderReadiness(streams.Out, rep)
	}
	switch {
	case !rep.Ready:
		return &exitError{code: exitNotReady, err: fmt.Errorf("%s is not ready to take over: %d blocker(s): fix them, then run readiness again", rep.To, rep.Blockers)}
	case rep.Warnings > 0:
		return &exitError{code: exitReadyWithWarns, err: fmt.Errorf("%s is ready to take over, with %d warning(s) to look at", rep.To, rep.Warnings)}
	}
	return nil
}

// failoverRequest resolves the regions of a failover request: --to defaults to the standby,
// --from to the primary; both must be defined.
func failoverRequest(from, to, restore string, settings map[string]string) (failover.Request, error) {
	defs, err := regions.Default()
	if err != nil {
		return failover.Request{}, err
	}
	primary := defs.Primary().Region
	if from == "" {
		from = primary
	}
	if to == "" {
		if sb := defs.Standbys(); len(sb) == 1 && from == primary {
			to = sb[0].Region
		} else {
			return failover.Request{}, fmt.Errorf("no target region: pass --to <region>")
		}
	}
	for _, r := range []string{from, to} {
		if _, err := defs.Get(r); err != nil {
			return failover.Request{}, err
		}
	}
	if restore != "backup" && restore != "atlas" {
		return failover.Request{}, fmt.Errorf("invalid --restore %q: use backup or atlas", restore)
	}
	return failover.Request{From: from, To: to, Primary: primary, Restore: restore, Settings: settings}, nil
}

// planSettings are the provider inputs of plan and readiness flags (only those given).
func planSettings(env, dns, release, cdkOut string) map[string]string {
	s := map[string]string{}
	for k, v := range map[string]string{"env": env, "dns_mode": dns, "release": release, "cdk-out": cdkOut} {
		if v != "" {
			s[k] = v
		}
	}
	return s
}

// renderReadiness prints the report: a verdict line, then every check, blockers first.
func renderReadiness(w io.Writer, r *failover.ReadinessReport) {
	verdict := "READY"
	if !r.Ready {
		verdict = "NOT READY"
	}
	fmt.Fprintf(w, "Readiness of %s to take over from %s (provider %s), checked %s: %s (%d blocker(s), %d warning(s))\n",
		r.To, r.From, r.Provider, r.CheckedAt.Format(time.RFC3339), verdict, r.Blockers, r.Warnings)
	if r.Backup != nil {
		fmt.Fprintf(w, "A failover now restores backup %s, %s old (the RPO).\n", r.Backup.ID, (time.Duration(r.Backup.AgeSeconds) * time.Second).String())
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tCHECK\tDETAIL")
	for _, status := range []failover.CheckStatus{failover.CheckBlocker, failover.CheckWarning, failover.CheckOK} {
		for _, c := range r.Checks {
			if c.Status == status {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", strings.ToUpper(string(c.Status)), c.Name, c.Detail)
			}
		}
	}
	tw.Flush()
}
