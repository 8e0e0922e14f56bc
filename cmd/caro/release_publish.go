package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/carohealth/platform/internal/config"
	"github.com/carohealth/platform/internal/release"
	"github.com/carohealth/platform/regions"
)

type releasePublishOptions struct {
	version, commit, assembly string
	regions                   []string
	output                    string
	// assumeRole writes as the CDK bootstrap file-publishing role the assembly's asset manifest
	// names (what cdk deploy published the assets as): the pipeline's deploy role may only assume
	// the bootstrap roles.
	assumeRole bool
}

func newReleasePublishCmd(streams IOStreams) *cobra.Command {
	o := &releasePublishOptions{}
	cmd := &cobra.Command{
		Use:   "publish --version <version> [--commit <sha>] [--cdk-out cdk.out] [--region <region>]...",
		Short: "Publish each region's platform template of a synthesized version (the pipeline runs it after the deploy)",
		Long: `Uploads CaroPlatform-<region>.template.json of the cloud assembly to caro-releases/<version>/ in that
region's release bucket (docs/settings.md, release-bucket), then the release manifest with each
template's SHA-256 and the assets it needs. Every asset must already be in the bucket: run it after
'cdk deploy' of the same assembly. A version names one set of templates forever: publishing it again
with other bytes is refused.`,
		Example: `  caro release publish --version "$CI_COMMIT_TAG" --commit "$CI_COMMIT_SHA" --cdk-out cdk.out
  caro release publish --version 1.4.2 --cdk-out cdk.out --assume-publishing-role   # as the pipeline's deploy role`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return o.run(cmd, streams)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.version, "version", "", "the release version (required; the version the assembly was synthesized with)")
	f.StringVar(&o.commit, "commit", "", "the commit the assembly was synthesized from")
	f.StringVar(&o.assembly, "cdk-out", "cdk.out", "the synthesized cloud assembly")
	f.StringSliceVar(&o.regions, "region", nil, "regions to publish to (default: every defined region)")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	f.BoolVar(&o.assumeRole, "assume-publishing-role", false, "write as the CDK bootstrap file-publishing role the assembly's asset manifest names for each region (the role cdk deploy published the assets as; the pipeline's deploy role may only assume the bootstrap roles)")
	return cmd
}

func (o *releasePublishOptions) validate() error {
	if o.version == "" {
		return fmt.Errorf("no version: pass --version <version> (the version the assembly was synthesized with, e.g. the tag)")
	}
	if err := release.ValidVersion(o.version); err != nil {
		return err
	}
	return foValidateOutput(o.output)
}

// publishedRelease is one region's result (-o json prints the list).
type publishedRelease struct {
	Region   string           `json:"region"`
	Bucket   string           `json:"bucket"`
	Manifest release.Manifest `json:"manifest"`
}

func (o *releasePublishOptions) run(cmd *cobra.Command, streams IOStreams) error {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	targets := o.regions
	if len(targets) == 0 {
		defs, err := regions.Default()
		if err != nil {
			return err
		}
		for _, d := range defs.All() {
			targets = append(targets, d.Region)
		}
	}
	var done []publishedRelease
	for _, region := range targets {
		cfg, err := loadConfig(ctx, cmd, region, false)
		if err != nil {
			return err
		}
		stack := config.StackName(region)
		role := ""
		if o.assumeRole {
			if role, err = release.PublishingRole(o.assembly, stack, cfg.String(ctx, config.KeyAccount)); err != nil {
				return fmt.Errorf("publishing to %s as the file-publishing role: %w", region, err)
			}
			fmt.Fprintf(streams.ErrOut, "publishing to %s as %s\n", region, role)
		}
		store, bucket, err := releaseStore(ctx, cfg, role)
		if err != nil {
			return err
		}
		m, err := release.Publish(ctx, release.PublishOptions{Assembly: o.assembly, Version: o.version, Commit: o.commit, Stacks: []string{stack}, Store: store})
		if err != nil {
			return fmt.Errorf("publishing to %s (s3://%s): %w", region, bucket, err)
		}
		fmt.Fprintf(streams.ErrOut, "release %s of %s published to s3://%s/%s (template SHA-256 %s, %d assets present)\n",
			o.version, stack, bucket, release.ManifestKey(o.version), m.Stacks[stack].SHA256[:12], len(m.Stacks[stack].Assets))
		done = append(done, publishedRelease{Region: region, Bucket: bucket, Manifest: m})
	}
	if o.output == "json" {
		return writeJSON(streams.Out, done)
	}
	for _, d := range done {
		fmt.Fprintf(streams.Out, "%s\t%s\ts3://%s/%s\n", d.Region, o.version, d.Bucket, release.ManifestKey(o.version))
	}
	return nil
}
