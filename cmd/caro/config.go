package main

import (
	"context"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/carohealth/platform/internal/config"
	"github.com/carohealth/platform/internal/config/awscloud"
)

func init() { registerCommand(newConfigCmd) }

func newConfigCmd(streams IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show the resolved configuration: every setting with its source",
		Example: `  caro config view --region eu-central-1
  caro config view --region eu-central-1 -o json`,
	}
	cmd.AddCommand(newConfigViewCmd(streams))
	return cmd
}

// newCloud reads stack outputs, secrets and parameters from AWS; tests replace it with a fake.
var newCloud = func() config.Cloud { return &awscloud.Cloud{} }

// loadConfig resolves the configuration of region ("" lets --region, the environment or the
// primary decide) with the flags the operator passed explicitly on cmd (never a flag's default, so
// a default cannot hide a deployed value). offline looks nowhere in AWS.
func loadConfig(ctx context.Context, cmd *cobra.Command, region string, offline bool) (*config.Config, error) {
	l := &config.Loader{Flags: changedFlags(cmd)}
	if !offline {
		l.Cloud = newCloud()
	}
	return l.Load(ctx, region)
}

// changedFlags returns the flags set on the command line, by name.
func changedFlags(cmd *cobra.Command) map[string]string {
	out := map[string]string{}
	cmd.Flags().Visit(func(f *pflag.Flag) { out[f.Name] = f.Value.String() })
	return out
}
