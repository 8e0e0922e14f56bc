package main

import "github.com/spf13/cobra"

func init() { registerCommand(newLocalCmd) }

// localCommandRegistry lets each `caro local <verb>` file add itself, so a second local command
// (for example a local drill) never edits this file.
var localCommandRegistry []func(IOStreams) *cobra.Command

// registerLocalCommand adds a subcommand to `caro local`.
func registerLocalCommand(f func(IOStreams) *cobra.Command) {
	localCommandRegistry = append(localCommandRegistry, f)
}

// newLocalCmd is the `caro local` group: running the platform on this machine.
func newLocalCmd(streams IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "local",
		Short:   "Run the platform on this machine (development only)",
		Example: `  caro local up --addr 127.0.0.1:8080`,
		Args:    cobra.NoArgs,
	}
	for _, add := range localCommandRegistry {
		cmd.AddCommand(add(streams))
	}
	return cmd
}
