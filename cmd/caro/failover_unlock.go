package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/carohealth/platform/internal/failover"
)

func newFailoverUnlockCmd(streams IOStreams, f *failoverFlags) *cobra.Command {
	var force bool
	var planPath string
	cmd := &cobra.Command{
		Use:   "unlock --force [--plan plan.json]",
		Short: "Break a stale failover lock (the holder crashed or its laptop is gone)",
		Long: `Shows who holds the failover lock and, with --force, removes it. Only do this when the
holder is certainly not running any more: two concurrent applies could fight over DNS. A local
lock is released by the kernel when its process dies, so only remote (S3) locks go stale.`,
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
			if !force {
				return errors.New("not broken: pass --force once you are sure that apply is not running")
			}
			if _, err := lock.Break(ctx); err != nil {
				return err
			}
			fmt.Fprintln(streams.Out, "Lock broken. Resume with `caro failover apply <plan.json>`.")
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "really break the lock")
	cmd.Flags().StringVar(&planPath, "plan", "", "the plan whose lock to break (for provider-kept locks such as S3)")
	return cmd
}
