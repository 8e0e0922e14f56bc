package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/carohealth/platform/internal/progress"
	"github.com/carohealth/platform/internal/providers/local"
)

// drillChildEnv is added to the environment of the caro subprocesses the drill starts (tests set
// it so their test binary acts as caro).
var drillChildEnv []string

// drillSelf returns the command line that runs this caro.
var drillSelf = func() ([]string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return []string{exe}, nil
}

type drillOptions struct {
	records int
	killAt  string
	output  string
	workDir string
	settle  time.Duration
	// timeline is the file the failover's picture is written to ("" writes none).
	timeline string
	// cold skips the standby's pre-stage (the failover then loads the backup).
	cold bool
}

func newDrillCmd(streams IOStreams) *cobra.Command {
	o := &drillOptions{}
	cmd := &cobra.Command{
		Use:   "drill [--records N] [--kill-at <step>] [-o json]",
		Short: "Run a complete failover on this machine with real local servers, and prove it",
		Long: `Starts two local regions (each with its own FerretDB, local-kms and S3) and a Knot DNS server
holding ` + "`api-origin.caro.test.`" + `, seeds N records in the primary, takes an encrypted backup with
an identity export, kills the primary region, runs 'caro failover plan' and 'caro failover apply'
as subprocesses through the local provider, and proves the result: the name resolves to the standby,
its API answers /health with the restore marker, every record is back (counts and checksums).
The primary also keeps an audit ledger: entries appended and checkpointed (signed with its local-kms
key into its Object-Locked bucket, replicated to the standby) before and after the backup; the
restore step recovers the entries the restore rolled back from the standby's own checkpoint bucket
and the replica, read as one series (as on AWS, so a failback finds its own earlier checkpoints),
and the drill checks the standby's ledger with the verifier: every entry back, verify passes.
--kill-at kills the apply with SIGKILL in the middle of that step, then resumes it.
Everything started is stopped and removed at the end.

Steps: ` + strings.Join(local.StepNames, ", "),
		Example: `  caro failover drill
  caro failover drill --kill-at restore
  caro failover drill --records 50000 -o json --timeline drill-timeline.html > drill.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := foValidateOutput(o.output); err != nil {
				return err
			}
			return o.run(cmd.Context(), streams)
		},
	}
	cmd.Flags().IntVar(&o.records, "records", local.DefaultDrillRecords, "records to seed in the primary")
	cmd.Flags().StringVar(&o.killAt, "kill-at", "", "kill the apply (kill -9) in the middle of this step, then resume")
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "report format: text or json")
	cmd.Flags().StringVar(&o.workDir, "work-dir", "", "keep the drill's files (env, plan, journal, logs) here instead of a removed temp folder")
	cmd.Flags().BoolVar(&o.cold, "cold", false, "skip the standby's pre-stage of the backup: the failover's restore step loads it (the cold path) instead of activating the staged copy")
	cmd.Flags().StringVar(&o.timeline, "timeline", "", "write the failover's timeline to this file: HTML with a picture of every step, the RTO and the RPO")
	cmd.Flags().DurationVar(&o.settle, "maintenance-settle", 0, "how long the restore waits for the maintenance switch to settle (default: the real 12 s; no API writes in a drill, so tests shorten it)")
	_ = cmd.Flags().MarkHidden("maintenance-settle")
	cmd.AddCommand(newDrillServeRegionCmd(streams))
	return cmd
}

func (o *drillOptions) run(ctx context.Context, streams IOStreams) error {
	if o.records <= 0 {
		return fmt.Errorf("--records %d: give a positive number", o.records)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	// Ctrl-C still cleans up: the context ends, RunDrill stops its servers.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	self, err := drillSelf()
	if err != nil {
		return err
	}
	// On a terminal the restore's document counts become a progress bar; elsewhere the lines as they are.
	progressOut := progress.Lines(streams.ErrOut, o.output != "json" && isTerminal(streams.ErrOut))
	rep, err := local.RunDrill(ctx, local.DrillOptions{Records: o.records, KillAt: o.killAt, Caro: self, CaroEnv: drillChildEnv, Cold: o.cold,
		WorkDir: o.workDir, Progress: progressOut, MaintenanceSettle: o.settle})
	_ = progressOut.Close()
	if err != nil {
		return err
	}
	if o.timeline != "" {
		if err := writeDrillTimeline(o.timeline, rep); err != nil {
			return err
		}
		fmt.Fprintf(streams.ErrOut, "drill: timeline written to %s\n", o.timeline)
	}
	if o.output == "json" {
		if err := writeJSON(streams.Out, rep); err != nil {
			return err
		}
	} else {
		printDrill(streams.Out, rep)
	}
	if !rep.OK {
		return &exitError{code: 1, err: fmt.Errorf("drill failed: %s", strings.Join(rep.Problems, "; "))}
	}
	return nil
}

func printDrill(w io.Writer, r *local.DrillReport) {
	state := "OK"
	if !r.OK {
		state = "FAILED"
	}
	fmt.Fprintf(w, "Drill %s: %s -> %s, %d records\n", state, local.DrillPrimary, local.DrillStandby, r.RecordsExpected)
	if rd := r.Readiness; rd != nil {
		verdict := "ready"
		if !rd.Ready {
			verdict = "NOT ready"
		}
		fmt.Fprintf(w, "Readiness before the disaster: %s %s (%d checks, %d blocker(s), %d warning(s))\n", rd.To, verdict, len(rd.Checks), rd.Blockers, rd.Warnings)
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tSTATUS\tSECONDS\tDETAIL")
	for _, s := range r.Steps {
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%s\n", s.Name, s.Status, s.Seconds, s.Detail)
	}
	tw.Flush()
	fmt.Fprintf(w, "RTO %.1f s from the primary's death (plan %.1f s; apply %.1f s from first start)", r.RTOSeconds, r.PlanSeconds, r.ApplyRTOSeconds)
	if r.KilledAt != "" {
		fmt.Fprintf(w, ", apply killed at %s and resumed (%d runs)", r.KilledAt, r.Applies)
	}
	fmt.Fprintf(w, "\nRPO %.1f s (backup age)\n", r.RPOSeconds)
	fmt.Fprintf(w, "DNS %s: %s -> %s\n", "api-origin.caro.test.", r.DNSBefore, r.DNSAfter)
	fmt.Fprintf(w, "Records %d/%d, checksum %.16s (expected %.16s); users %d/%d\n", r.RecordsRestored, r.RecordsExpected, r.ChecksumRestored, r.ChecksumExpected, r.UsersRestored, r.UsersExpected)
	if l := r.Ledger; l != nil {
		verify := "verify FAILED"
		if l.VerifyOK {
			verify = "verify OK"
		}
		fmt.Fprintf(w, "Audit ledger %d/%d entries (%d after the backup, recovered from %s), %s: %d entries, %d checkpoints",
			l.EntriesRestored, l.EntriesExpected, l.EntriesAfterBackup, l.ReplicaBucket, verify, l.EntriesVerified, l.CheckpointsVerified)
		if l.FirstBad != "" {
			fmt.Fprintf(w, "; first bad: %s", l.FirstBad)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "Restore step: %s path, %.1f s (%.0f records/s)", r.RestorePath, r.RestoreSeconds, r.RestoreRecordsPerSecond)
	if p := r.Prestage; p != nil {
		fmt.Fprintf(w, "; the standby pre-staged %s when it arrived: %d documents, verified %v, %.1f s", p.BackupID, p.Documents, p.Verified, p.Seconds)
	}
	if r.ColdRTOSeconds > 0 {
		fmt.Fprintf(w, "; cold path RTO %.1f s (measured directly with --cold)", r.ColdRTOSeconds)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Engine overhead %.3f s = %.2f%% of the apply\n", r.EngineSeconds, r.EngineOverheadPercent)
	fmt.Fprintf(w, "Peak memory: caro %s; servers %s\n", mbList(r.CaroPeakRSSMB), mbList(r.ServerPeakRSSMB))
	fmt.Fprintf(w, "Setup %.1f s, seed %.1f s, backup %.1f s (not part of the RTO)\n", r.SetupSeconds, r.SeedSeconds, r.BackupSeconds)
	for _, p := range r.Problems {
		fmt.Fprintf(w, "PROBLEM: %s\n", p)
	}
}

func newDrillServeRegionCmd(streams IOStreams) *cobra.Command {
	var envPath, region string
	cmd := &cobra.Command{
		Use:    "serve-region --env <file> --region <name>",
		Short:  "Serve one local region's API (started by the drill and the local provider)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			env, _, err := local.LoadEnv(envPath)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			fmt.Fprintf(streams.ErrOut, "serving region %s\n", region)
			return local.Serve(ctx, env, region)
		},
	}
	cmd.Flags().StringVar(&envPath, "env", "", "environment file")
	cmd.Flags().StringVar(&region, "region", "", "region to serve")
	return cmd
}

// mbList renders name -> MB as "name 12 MB, ..." in name order.
func mbList(m map[string]float64) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %.0f MB", n, m[n]))
	}
	if len(parts) == 0 {
		return "not measured"
	}
	return strings.Join(parts, ", ")
}
