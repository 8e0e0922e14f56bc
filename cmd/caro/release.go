package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/carohealth/platform/internal/config"
	"github.com/carohealth/platform/internal/config/awscloud"
	"github.com/carohealth/platform/internal/objstore"
)

func init() { registerCommand(newReleaseCmd) }

func newReleaseCmd(streams IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "release",
		Short: "Publish and list the releases a failover deploys (templates per region, beside their assets)",
		Example: `  caro release publish --version 1.4.2 --cdk-out cdk.out
  caro release list --region eu-central-1`,
	}
	cmd.AddCommand(newReleasePublishCmd(streams), newReleaseListCmd(streams))
	return cmd
}

// releaseStore opens a region's release bucket, acting as role when one is named (empty: the
// caller's credentials); tests replace it.
var releaseStore = func(ctx context.Context, cfg *config.Config, role string) (objstore.Store, string, error) {
	if err := cfg.Require(ctx, config.KeyReleaseBucket); err != nil {
		return nil, "", err
	}
	bucket := cfg.String(ctx, config.KeyReleaseBucket)
	cloud := &awscloud.Cloud{PathStyleS3: cfg.Value(ctx, config.KeyS3Endpoint).Found(), RoleArn: role}
	c, err := cloud.S3(ctx, cfg.Region())
	if err != nil {
		return nil, "", err
	}
	return objstore.NewS3(c, bucket, ""), bucket, nil
}
