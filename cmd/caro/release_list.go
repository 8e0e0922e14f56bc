package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/carohealth/platform/internal/release"
)

type releaseListOptions struct {
	region, output string
}

func newReleaseListCmd(streams IOStreams) *cobra.Command {
	o := &releaseListOptions{}
	cmd := &cobra.Command{
		Use:     "list [--region <region>] [-o json]",
		Short:   "List the releases published in a region's release bucket",
		Example: `  caro release list --region eu-central-1`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := foValidateOutput(o.output); err != nil {
				return err
			}
			cfg, err := loadConfig(cmd.Context(), cmd, "", false)
			if err != nil {
				return err
			}
			store, bucket, err := releaseStore(cmd.Context(), cfg, "")
			if err != nil {
				return err
			}
			versions, err := release.Versions(cmd.Context(), store)
			if err != nil {
				return fmt.Errorf("listing releases in s3://%s: %w", bucket, err)
			}
			if o.output == "json" {
				return writeJSON(streams.Out, map[string]any{"region": cfg.Region(), "bucket": bucket, "versions": versions})
			}
			if len(versions) == 0 {
				fmt.Fprintf(streams.ErrOut, "no release published in s3://%s (the pipeline's release job publishes them)\n", bucket)
			}
			for _, v := range versions {
				fmt.Fprintln(streams.Out, v)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&o.region, "region", "", "the region whose bucket to list (default: CARO_REGION, AWS_REGION, else the primary)")
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	return cmd
}
