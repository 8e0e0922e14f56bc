package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/carohealth/platform/internal/failover"
	"github.com/carohealth/platform/internal/progress"
)

// Exit statuses of apply.
const (
	exitApplyFailed = 2 // a step failed or the apply was interrupted: run it again to resume
	exitLocked      = 3 // another apply holds the lock
)

type failoverApplyOptions struct {
	planPath  string
	yes       bool
	output    string
	supersede bool
	redo      []string
}

func newFailoverApplyCmd(streams IOStreams, f *failoverFlags) *cobra.Command {
	o := &failoverApplyOptions{}
	cmd := &cobra.Command{
		Use:   "apply <plan.json> [--yes]",
		Short: "Execute a failover plan (asks first; resumes after an interruption)",
		Long: `Executes the plan written by 'caro failover plan'. Progress goes to stderr, the report
(per-step times, RTO, RPO, what changed) to stdout.

Resumable: the journal records every step. Run the same command again after any interruption;
completed steps are skipped, an interrupted step is re-checked and finished. A completed step whose
effect can be lost since (the standby's API running, the DNS name pointing at the target) is checked
again and redone when its effect is gone; --redo <step> runs a step again on the operator's word
(journaled; unknown steps are refused). Only one apply runs at a time (lock); the refusal names the
holder and how to break a stale lock.

The restore step refuses when the target database changed since the plan (it names what), unless
--yes: what the restore replaces is kept aside either way (see 'caro backup discard-replaced').`,
		Example: `  caro failover apply plan.json
  caro failover apply plan.json --yes -o json
  caro failover apply plan.json --redo dns --yes`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.planPath = args[0]
			if err := foValidateOutput(o.output); err != nil {
				return err
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			return o.run(ctx, streams, f)
		},
	}
	cmd.Flags().BoolVarP(&o.yes, "yes", "y", false, "do not ask for confirmation; also accepts a target database that changed since the plan (the restore keeps what it replaces)")
	cmd.Flags().BoolVar(&o.supersede, "supersede", false, "apply although another plan's failover is unfinished in --state-dir")
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "report format: text or json")
	cmd.Flags().StringArrayVar(&o.redo, "redo", nil, "run this step again although the journal records it done (repeatable; journaled)")
	return cmd
}

func (o *failoverApplyOptions) run(ctx context.Context, streams IOStreams, f *failoverFlags) error {
	plan, err := failover.ReadPlan(o.planPath)
	if err != nil {
		return err
	}
	// Validate before anything else; expiry is checked by the engine (not for a resume).
	if err := plan.Validate(time.Now(), false); err != nil {
		return err
	}
	prov, err := foProvider(ctx, plan.Provider, plan.To, plan.Settings)
	if err != nil {
		return err
	}
	for _, name := range o.redo {
		if !slices.Contains(plan.StepNames(), name) {
			return fmt.Errorf("--redo %q: plan %s has no such step: use one of %s", name, plan.ID, strings.Join(plan.StepNames(), ", "))
		}
	}
	steps, err := prov.Steps(ctx, plan)
	if err != nil {
		return fmt.Errorf("cannot build the steps of plan %s: %w", plan.ID, err)
	}
	journal, lock, where, err := foJournalAndLock(ctx, prov, plan, f.stateDir)
	if err != nil {
		return err
	}
	st, _, err := failover.StatusOf(ctx, journal)
	if err != nil {
		return err
	}
	if _, ok := prov.(StateStore); !ok && !o.supersede {
		if other, err := unfinishedOtherPlan(ctx, f.stateDir, plan.ID); err != nil {
			return err
		} else if other != "" {
			return fmt.Errorf("the failover of plan %s is unfinished (see `caro failover status`): resume it with its plan file, "+
				"or pass --supersede to go ahead with plan %s anyway (two half-done failovers are hard to reason about at 3 a.m.)", other, plan.ID)
		}
	}
	if !o.yes {
		printPlan(streams.ErrOut, plan)
		if len(st.Order) > 0 {
			fmt.Fprintf(streams.ErrOut, "\nThis RESUMES plan %s from its journal (%s): completed steps are skipped (those whose effect can be lost are checked again).\n", plan.ID, where)
		}
		if len(o.redo) > 0 {
			fmt.Fprintf(streams.ErrOut, "It runs again: %s.\n", strings.Join(o.redo, ", "))
		}
		fmt.Fprintln(streams.ErrOut)
	}
	if err := confirm(streams, o.yes, fmt.Sprintf("This moves production traffic from %s to %s. Apply plan %s?", plan.From, plan.To, plan.ID)); err != nil {
		return err
	}
	fmt.Fprintf(streams.ErrOut, "applying plan %s (%s -> %s), journal %s\n", plan.ID, plan.From, plan.To, where)
	// On a terminal the restore's counts become a progress bar; elsewhere the plain lines.
	progressOut := progress.Lines(streams.ErrOut, o.output != "json" && isTerminal(streams.ErrOut))
	defer progressOut.Close()
	s, err := loadSettings()
	if err != nil {
		return err
	}
	eng := &failover.Engine{Journal: journal, Lock: lock, Progress: progressOut, Operator: s.Operator, Redo: o.redo}
	if o.yes {
		ctx = failover.WithOperatorConfirmed(ctx)
	}
	rep, aerr := eng.Apply(ctx, plan, steps)
	var le *failover.LockedError
	if errors.As(aerr, &le) {
		return &exitError{code: exitLocked, err: aerr}
	}
	if rep == nil || (aerr != nil && len(rep.Steps) == 0) {
		if aerr == nil {
			aerr = errors.New("no report")
		}
		return &exitError{code: exitApplyFailed, err: aerr}
	}
	if o.output == "json" {
		if err := writeJSON(streams.Out, rep); err != nil {
			return err
		}
	} else {
		printReport(streams.Out, rep)
	}
	if aerr != nil {
		return &exitError{code: exitApplyFailed, err: fmt.Errorf("%w\nrun `caro failover apply %s` again to resume", aerr, o.planPath)}
	}
	return nil
}

// printReport writes the human-readable apply report.
func printReport(w io.Writer, r *failover.Report) {
	state := "COMPLETED"
	if !r.OK {
		state = "NOT COMPLETE"
	}
	fmt.Fprintf(w, "%s %s -> %s, plan %s: %s\n", r.Kind, r.From, r.To, r.PlanID, state)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tSTATUS\tSECONDS\tATTEMPTS\tWHAT CHANGED")
	for _, s := range r.Steps {
		detail := s.Detail
		if s.Error != "" {
			detail = "ERROR: " + firstLine(s.Error)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%d\t%s\n", s.Name, s.Status, s.Seconds, s.Attempts, detail)
	}
	tw.Flush()
	fmt.Fprintf(w, "RTO: %.1f s (first apply start to end, %d apply run(s)%s)\n", r.RTOSeconds, r.Applies, map[bool]string{true: ", resumed", false: ""}[r.Resumed])
	fmt.Fprintf(w, "RPO: %.0f s (age of the restored backup when the failover started)\n", r.RPOSeconds)
	fmt.Fprintf(w, "Engine overhead: %.3f s of %.2f s this run\n", r.EngineSeconds, r.ApplySeconds)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// unfinishedOtherPlan returns the id of another plan whose journal in stateDir started but never
// completed, or "".
func unfinishedOtherPlan(ctx context.Context, stateDir, planID string) (string, error) {
	paths, err := filepath.Glob(filepath.Join(stateDir, "journal-*.jsonl"))
	if err != nil {
		return "", err
	}
	for _, p := range paths {
		if p == failover.JournalPath(stateDir, planID) {
			continue
		}
		st, _, err := failover.StatusOf(ctx, &failover.FileJournal{Path: p})
		var damaged *failover.DamagedError
		if err != nil && !errors.As(err, &damaged) {
			return "", err
		}
		if st.PlanID != "" && !st.Completed {
			return st.PlanID, nil
		}
	}
	return "", nil
}
