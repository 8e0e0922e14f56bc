package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/carohealth/platform/internal/failover"
)

func newFailoverUnlockCmd(streams IOStreams, f *failoverFlags) *cobra.Command {
	var yes bool
	var planPath string
	cmd := &cobra.Command{
		Use:   "unlock [-f plan.json] [--yes]",
		Short: "Break a stale failover lock (the holder crashed or its laptop is gone)",
		Long: `Shows who holds the failover lock and, once confirmed, removes it. Only do this when the
holder is certainly not running any more: two concurrent applies could fight over DNS. A local
lock is released by the kernel when its process dies, so only remote (S3) locks go stale.`,
		Example: `  caro failover unlock                      # who holds the local lock
  caro failover unlock -f plan.json --yes   # break the plan's S3 lock`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			var lock failover.Lock
			if planPath != "" {
				plan, err := failover.ReadPlan(planPath)
				if err != nil {
					return err
				}
				prov, err := foProvider(ctx, plan.Provider, plan.To, plan.Settings)
				if err != nil {
					return err
				}
				if _, lock, _, err = foJournalAndLock(ctx, prov, plan, f.stateDir); err != nil {
					return err
				}
			} else {
				lock = &failover.FileLock{Path: filepath.Join(f.stateDir, "failover.lock")}
			}
			h, err := lock.Holder(ctx)
			if err != nil {
				return err
			}
			if h == nil {
				fmt.Fprintln(streams.Out, "The failover lock is free.")
				return nil
			}
			fmt.Fprintf(streams.Out, "Lock held by %s on %s (pid %d) since %s for plan %s\n", h.Owner, h.Host, h.PID, h.Started.Format(time.RFC3339), h.PlanID)
			if err := confirm(streams, yes, fmt.Sprintf("Break the lock of %s (pid %d on %s)? Only when that apply is certainly not running", h.Owner, h.PID, h.Host)); err != nil {
				return err
			}
			if _, err := lock.Break(ctx); err != nil {
				return err
			}
			fmt.Fprintln(streams.Out, "Lock broken. Resume with `caro failover apply <plan.json>`.")
			return nil
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "break the lock without asking (only when the holder is certainly not running)")
	cmd.Flags().StringVarP(&planPath, "file", "f", "", "the plan whose lock to break (for provider-kept locks such as S3)")
	return cmd
}
