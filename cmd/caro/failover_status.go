package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/carohealth/platform/internal/failover"
)

// failoverStatus is the `caro failover status -o json` document.
type failoverStatus struct {
	PlanID    string               `json:"plan_id"`
	What      string               `json:"what,omitempty"`
	Journal   string               `json:"journal"`
	State     string               `json:"state"` // completed, failed, in-progress, interrupted
	Started   time.Time            `json:"started"`
	Finished  time.Time            `json:"finished,omitzero"`
	LastError string               `json:"last_error,omitempty"`
	Applies   int                  `json:"applies"`
	Steps     []failoverStepStatus `json:"steps"`
	Lock      *failover.LockInfo   `json:"lock,omitempty"`
	// Damage says which journal records could not be read and exactly how to set them aside; the
	// rest of the status is what the other records say.
	Damage string `json:"damage,omitempty"`
}

type failoverStepStatus struct {
	Name     string  `json:"name"`
	State    string  `json:"state"` // done, running-or-interrupted, failed
	Seconds  float64 `json:"seconds"`
	Attempts int     `json:"attempts"`
	Detail   string  `json:"detail,omitempty"`
	Error    string  `json:"error,omitempty"`
}

func newFailoverStatusCmd(streams IOStreams, f *failoverFlags) *cobra.Command {
	var planPath, output string
	cmd := &cobra.Command{
		Use:   "status [-f plan.json]",
		Short: "Show where the current or last failover stands (from its journal)",
		Example: `  caro failover status
  caro failover status -f plan.json -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := foValidateOutput(output); err != nil {
				return err
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			st, err := failoverStatusOf(ctx, f.stateDir, planPath)
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(streams.Out, st)
			}
			printStatus(streams.Out, st)
			return nil
		},
	}
	cmd.Flags().StringVarP(&planPath, "file", "f", "", "the plan whose journal to read (default: the latest journal in --state-dir)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

func failoverStatusOf(ctx context.Context, stateDir, planPath string) (*failoverStatus, error) {
	var journal failover.Journal
	var lock failover.Lock
	var where string
	if planPath != "" {
		plan, err := failover.ReadPlan(planPath)
		if err != nil {
			return nil, err
		}
		prov, err := foProvider(ctx, plan.Provider, plan.To, plan.Settings)
		if err != nil {
			return nil, err
		}
		if journal, lock, where, err = foJournalAndLock(ctx, prov, plan, stateDir); err != nil {
			return nil, err
		}
	} else {
		path, err := failover.LatestJournal(stateDir)
		if err != nil {
			return nil, err
		}
		if path == "" {
			return nil, fmt.Errorf("no failover journal in %s: no failover was applied with this state folder. Pass --state-dir <folder> the apply used "+
				"(default CARO_STATE_DIR, else ~/.caro/failover), or -f plan.json for a journal the provider keeps (AWS: the target region's backup bucket)", stateDir)
		}
		journal, where = &failover.FileJournal{Path: path}, path
		lock = &failover.FileLock{Path: filepath.Join(stateDir, "failover.lock")}
	}
	s, recs, err := failover.StatusOf(ctx, journal)
	var damaged *failover.DamagedError
	if err != nil && !errors.As(err, &damaged) {
		return nil, err
	}
	if len(recs) == 0 && damaged == nil {
		return nil, fmt.Errorf("no failover journal of plan %s in %s: that plan was never applied with this journal. "+
			"A local journal is journal-<plan id>.jsonl in the --state-dir the apply used (default CARO_STATE_DIR, else ~/.caro/failover): "+
			"pass --state-dir <that folder>; an AWS journal is in the target region's backup bucket under failover/<plan id>/", planIDOf(planPath, where), where)
	}
	st := &failoverStatus{PlanID: s.PlanID, What: s.What, Journal: where, Started: s.Started, Finished: s.Finished, LastError: s.LastError, Applies: s.Applies}
	if damaged != nil {
		st.Damage = damaged.Error()
		if st.PlanID == "" {
			st.PlanID = planIDOf(planPath, where)
		}
	}
	holder, herr := lock.Holder(ctx)
	if herr == nil && holder != nil {
		st.Lock = holder
	}
	switch {
	case s.Completed:
		st.State = "completed"
	case st.Lock != nil && st.Lock.PlanID == s.PlanID:
		st.State = "in-progress"
	case s.Failed:
		st.State = "failed"
	default:
		st.State = "interrupted"
	}
	for _, name := range s.Order {
		ss := s.Steps[name]
		state := "done"
		switch {
		case ss.Failed:
			state = "failed"
		case ss.Started && !ss.Done:
			state = "running-or-interrupted"
		}
		st.Steps = append(st.Steps, failoverStepStatus{Name: name, State: state, Seconds: ss.Seconds, Attempts: ss.Attempts, Detail: ss.Detail, Error: ss.Error})
	}
	return st, nil
}

func printStatus(w io.Writer, st *failoverStatus) {
	started := "never"
	if !st.Started.IsZero() {
		started = st.Started.Format(time.RFC3339)
	}
	fmt.Fprintf(w, "Plan %s (%s): %s (%d apply run(s), started %s)\n", st.PlanID, st.What, strings.ToUpper(st.State), st.Applies, started)
	fmt.Fprintf(w, "Journal: %s\n", st.Journal)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tSTATE\tSECONDS\tATTEMPTS\tDETAIL")
	for _, s := range st.Steps {
		d := s.Detail
		if s.Error != "" {
			d = "ERROR: " + firstLine(s.Error)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%d\t%s\n", s.Name, s.State, s.Seconds, s.Attempts, d)
	}
	tw.Flush()
	if st.Lock != nil {
		fmt.Fprintf(w, "Lock held by %s on %s (pid %d) since %s\n", st.Lock.Owner, st.Lock.Host, st.Lock.PID, st.Lock.Started.Format(time.RFC3339))
	}
	switch {
	case st.Damage != "":
		fmt.Fprintf(w, "DAMAGED JOURNAL: %s\n", st.Damage)
	case st.State == "failed", st.State == "interrupted":
		fmt.Fprintln(w, "Not finished: run `caro failover apply <plan.json>` again to resume.")
	}
}

// planIDOf names the plan whose journal was asked for: from the plan file, else from the journal's
// file name.
func planIDOf(planPath, journal string) string {
	if planPath != "" {
		if p, err := failover.ReadPlan(planPath); err == nil {
			return p.ID
		}
	}
	base := filepath.Base(journal)
	if id, ok := strings.CutPrefix(strings.TrimSuffix(base, ".jsonl"), "journal-"); ok {
		return id
	}
	return "(unknown)"
}
