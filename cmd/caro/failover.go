package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/carohealth/platform/internal/failover"
	"github.com/carohealth/platform/internal/providers/local"
)

func init() { registerCommand(newFailoverCmd) }

// failoverFlags are shared by the failover subcommands.
type failoverFlags struct {
	stateDir string
}

func newFailoverCmd(streams IOStreams) *cobra.Command {
	f := &failoverFlags{}
	cmd := &cobra.Command{
		Use: "failover",
		Example: `  caro failover readiness
  caro failover plan --to eu-central-1
  caro failover apply plan.json
  caro failover drill`,
		Short: "Move the platform to another region: plan, apply (resumable), status, unlock",
		Long: `Move the platform to another region in one command.

  caro failover plan --to eu-central-1 --out plan.json  # checks, changes nothing
  caro failover apply plan.json                         # asks, then runs; safe to re-run
  caro failover status                                  # where the current or last failover stands

apply keeps a journal: after a crash, kill -9 or lost laptop, run the same apply again and it
resumes: a half-done step is re-checked and finished, a completed step whose effect can be lost
since (the standby's API running, the DNS name pointing at the target) is re-checked and redone when
its effect is gone, other completed steps are skipped; --redo <step> runs a step again on the
operator's word. A second concurrent apply is refused by a lock. Failback is the same command
towards the old primary, and is refused while that region is unhealthy.`,
	}
	cmd.PersistentFlags().StringVar(&f.stateDir, "state-dir", "", "folder of the local journal and lock (default: CARO_STATE_DIR, else ~/.caro/failover)")
	cmd.PersistentPreRunE = func(*cobra.Command, []string) error {
		if f.stateDir != "" {
			return nil
		}
		s, err := loadSettings()
		if err != nil {
			return err
		}
		f.stateDir = foDefaultStateDir(s)
		return nil
	}
	cmd.AddCommand(newFailoverPlanCmd(streams, f), newFailoverApplyCmd(streams, f), newFailoverStatusCmd(streams, f), newFailoverUnlockCmd(streams, f), newFailoverReadinessCmd(streams, f), newDrillCmd(streams))
	return cmd
}

func foDefaultStateDir(s envSettings) string {
	if s.StateDir != "" {
		return s.StateDir
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".caro-failover"
	}
	return filepath.Join(home, ".caro", "failover")
}

// ProviderFactory builds a failover provider for a failover to target, from the plan's or the
// flags' settings.
type ProviderFactory func(ctx context.Context, target string, settings map[string]string) (failover.Provider, error)

// failoverProviders are the providers plan and apply can use; tests add their own.
var failoverProviders = map[string]ProviderFactory{
	"local": func(context.Context, string, map[string]string) (failover.Provider, error) {
		s, err := loadSettings()
		if err != nil {
			return nil, err
		}
		return &local.Provider{PauseAt: s.DrillPauseAt}, nil
	},
	"aws": newAWSFailoverProvider,
}

func foProvider(ctx context.Context, name, target string, settings map[string]string) (failover.Provider, error) {
	f, ok := failoverProviders[name]
	if !ok {
		var names []string
		for n := range failoverProviders {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("unknown provider %q: use one of %s", name, strings.Join(names, ", "))
	}
	return f(ctx, target, settings)
}

// StateStore is implemented by providers that keep the journal and lock themselves (AWS: S3 in the
// target region); others use files in --state-dir.
type StateStore interface {
	JournalAndLock(ctx context.Context, plan *failover.Plan) (failover.Journal, failover.Lock, error)
}

func foJournalAndLock(ctx context.Context, prov failover.Provider, plan *failover.Plan, stateDir string) (failover.Journal, failover.Lock, string, error) {
	if s, ok := prov.(StateStore); ok {
		j, l, err := s.JournalAndLock(ctx, plan)
		return j, l, "provider " + prov.Name(), err
	}
	j, err := failover.NewFileJournal(stateDir, plan.ID)
	if err != nil {
		return nil, nil, "", err
	}
	l, err := failover.NewFileLock(stateDir)
	if err != nil {
		return nil, nil, "", err
	}
	return j, l, j.Path, nil
}

func foValidateOutput(o string) error {
	if o != "text" && o != "json" {
		return fmt.Errorf("invalid --output %q: use text or json", o)
	}
	return nil
}
