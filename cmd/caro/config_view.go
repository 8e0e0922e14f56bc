package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/carohealth/platform/internal/config"
)

type configViewOptions struct {
	region  string
	offline bool
	output  string
}

func newConfigViewCmd(streams IOStreams) *cobra.Command {
	o := &configViewOptions{}
	cmd := &cobra.Command{
		Use:   "view [--region <region>] [--offline] [-o text|json]",
		Short: "Print every setting as resolved for a region, with where it came from (secrets masked)",
		Long: `Resolves every setting the CLI reads for one region, in the order docs/settings.md gives: flags,
environment overrides, the deployed stacks' outputs, secrets and SSM parameters (with your AWS
credentials), regions/environment.json and the region definitions, defaults. Secrets are never
printed: a connection string shows its host only. Settings found nowhere show every place looked.`,
		Example: `  caro config view --region eu-central-1
  caro config view --region eu-central-1 --offline -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := foValidateOutput(o.output); err != nil {
				return err
			}
			cfg, err := loadConfig(cmd.Context(), cmd, "", o.offline)
			if err != nil {
				return err
			}
			return o.run(cmd.Context(), streams, cfg)
		},
	}
	cmd.Flags().StringVar(&o.region, "region", "", "the region to resolve for (default: CARO_REGION, AWS_REGION, else the primary)")
	cmd.Flags().BoolVar(&o.offline, "offline", false, "look nowhere in AWS (no stack outputs, secrets or parameters)")
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	return cmd
}

// configView is the -o json document.
type configView struct {
	Region      string         `json:"region"`
	Peer        string         `json:"peer,omitempty"`
	Environment string         `json:"environment"`
	Settings    []settingValue `json:"settings"`
}

type settingValue struct {
	config.Value
	Display string `json:"value"`
}

func (o *configViewOptions) run(ctx context.Context, streams IOStreams, cfg *config.Config) error {
	v := configView{Region: cfg.Region(), Peer: cfg.Peer(), Environment: cfg.Environment().Name}
	for _, val := range cfg.All(ctx) {
		v.Settings = append(v.Settings, settingValue{Value: val, Display: val.Display()})
	}
	if o.output == "json" {
		return writeJSON(streams.Out, v)
	}
	renderConfigView(streams.Out, v)
	return nil
}

func renderConfigView(w io.Writer, v configView) {
	fmt.Fprintf(w, "Configuration of %s (peer %s), environment %s\n\n", v.Region, v.Peer, v.Environment)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SETTING\tVALUE\tSOURCE")
	for _, s := range v.Settings {
		src := s.Source
		if !s.Found() {
			src = "looked in: " + strings.Join(s.Looked, "; ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Key, s.Display, src)
	}
	tw.Flush()
}
