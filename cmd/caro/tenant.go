package main

import (
	"github.com/spf13/cobra"
)

func init() { registerCommand(newTenantCmd) }

// tenantSubcommands lists the tenant subcommands; each file adds its own in an init.
var tenantSubcommands []func(IOStreams) *cobra.Command

func newTenantCmd(streams IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tenant",
		Short: "A tenant's lifecycle: offboarding when its contract ends",
		Long: `Operations on a whole tenant (a customer of the platform). Offboarding deletes everything
the platform holds of a tenant and keeps it deleted through every later restore (docs/data-lifecycle.md).`,
		Example: `  caro tenant delete --tenant acme --dry-run
  caro tenant delete --tenant acme --yes`,
	}
	for _, sub := range tenantSubcommands {
		cmd.AddCommand(sub(streams))
	}
	return cmd
}
