package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/carohealth/platform/internal/failover"
	"github.com/carohealth/platform/internal/providers/local"
	"github.com/carohealth/platform/regions"
)

// addCompletionCmd adds cobra's `caro completion bash|zsh|fish|powershell` now rather than at
// execution, so the convention test, the generated reference and the help see it, with examples.
func addCompletionCmd(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() != "completion" {
			continue
		}
		c.Example = `  source <(caro completion bash)
  caro completion zsh > "${fpath[1]}/_caro"`
		for _, shell := range c.Commands() {
			shell.Example = fmt.Sprintf("  caro completion %s > caro.%s", shell.Name(), shell.Name())
		}
	}
}

// registerValueCompletions completes the values of the flags and arguments that mean the same
// thing in every command (one name per concept): regions, plan files, step names and backup IDs.
// It goes by name, so a command that adds such a flag gets its completion without a line here.
func registerValueCompletions(c *cobra.Command) {
	for _, sub := range c.Commands() {
		registerValueCompletions(sub)
	}
	c.LocalNonPersistentFlags().VisitAll(func(f *pflag.Flag) { registerFlagCompletion(c, f) })
	c.PersistentFlags().VisitAll(func(f *pflag.Flag) { registerFlagCompletion(c, f) })
	if c.ValidArgsFunction != nil || c.ValidArgs != nil || !c.Runnable() {
		return
	}
	switch firstArgument(c.Use) {
	case "plan.json", "plan":
		c.ValidArgsFunction = completeFirstArg(completePlanFiles)
	case "backup-id":
		c.ValidArgsFunction = completeFirstArg(completeBackupIDs)
	}
}

// flagCompletions are the value completions by flag name.
var flagCompletions = map[string]cobra.CompletionFunc{
	"to": completeRegions, "from": completeRegions, "region": completeRegions, "target-region": completeRegions,
	"unavailable-region": completeRegions,
	"plan":               completePlanFiles,
	"kill-at":            completeStepNames, "redo": completeStepNames, "step": completeStepNames,
}

func registerFlagCompletion(c *cobra.Command, f *pflag.Flag) {
	fn, ok := flagCompletions[f.Name]
	if !ok {
		return
	}
	if _, exists := c.GetFlagCompletionFunc(f.Name); exists {
		return
	}
	_ = c.RegisterFlagCompletionFunc(f.Name, fn) // the flag exists: VisitAll found it on c
}

// argPlaceholder finds the first positional argument of a Use line: "apply <plan.json> [--yes]".
var argPlaceholder = regexp.MustCompile(`[<\[]([a-z][a-z.-]*)[>\]]`)

func firstArgument(use string) string {
	for _, m := range argPlaceholder.FindAllStringSubmatch(use, -1) {
		if !strings.HasPrefix(m[0], "[-") {
			return m[1]
		}
	}
	return ""
}

// completeFirstArg completes only the first positional argument.
func completeFirstArg(fn cobra.CompletionFunc) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return fn(cmd, args, toComplete)
	}
}

// completeRegions offers the regions defined in regions/, each with its role.
func completeRegions(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	set, err := regions.Default()
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	var out []cobra.Completion
	for _, d := range set.All() {
		role := "standby"
		if d.Primary {
			role = "primary"
		}
		out = append(out, cobra.CompletionWithDesc(d.Region, role))
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completePlanFiles lets the shell offer JSON files (plans are written as plan.json).
func completePlanFiles(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return []cobra.Completion{"json"}, cobra.ShellCompDirectiveFilterFileExt
}

// completeStepNames offers the steps of the plan the command names (its first argument or --plan),
// else the steps of the local drill.
func completeStepNames(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	path := ""
	if f := cmd.Flags().Lookup("plan"); f != nil && f.Value.String() != "" {
		path = f.Value.String()
	} else if len(args) > 0 && firstArgument(cmd.Use) != "" {
		path = args[0]
	}
	names := local.StepNames
	if path != "" {
		p, err := failover.ReadPlan(path)
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		names = p.StepNames()
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// completeBackupIDs lists the backups as `caro backup list -o json` does, with the backup flags
// the operator already typed, newest first, each with its age.
func completeBackupIDs(cmd *cobra.Command, _ []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	args := []string{"backup", "list", "-o", "json"}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if cmd.Parent() != nil && cmd.Parent().PersistentFlags().Lookup(f.Name) != nil && f.Name != "output" {
			args = append(args, "--"+f.Name, f.Value.String())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	root := newRootCmd(IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		cobra.CompDebugln("listing backups: "+err.Error(), true)
		return nil, cobra.ShellCompDirectiveError
	}
	var list []struct {
		BackupID string        `json:"backupId"`
		Age      time.Duration `json:"ageNs"`
		Problem  string        `json:"problem"`
	}
	if err := json.Unmarshal(out.Bytes(), &list); err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	var ids []cobra.Completion
	for _, b := range list {
		if b.Problem == "" {
			ids = append(ids, cobra.CompletionWithDesc(b.BackupID, humanAge(b.Age)+" old"))
		}
	}
	return ids, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveKeepOrder
}
