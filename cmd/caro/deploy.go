package main

import "github.com/spf13/cobra"

func init() { registerCommand(newDeployCmd) }

func newDeployCmd(streams IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "deploy",
		Short:   "Before `cdk deploy`: check the target account (docs/deploy.md)",
		Example: `  make synth && caro deploy check --region eu-west-1`,
	}
	cmd.AddCommand(newDeployCheckCmd(streams, nil))
	return cmd
}
