package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/carohealth/platform/internal/atlas"
)

type backupAtlasRestoreOptions struct {
	sourceProject, sourceCluster string
	targetProject, targetCluster string
	targetRegion                 string
	unavailable                  []string
	credentialsFile              string
	timeout, pollInterval        time.Duration
	yes                          bool
}

func init() { backupSubcommands = append(backupSubcommands, newBackupAtlasRestoreCmd) }

func newBackupAtlasRestoreCmd(streams IOStreams, f *backupFlags) *cobra.Command {
	o := backupAtlasRestoreOptions{}
	cmd := &cobra.Command{
		Use:   "atlas-restore",
		Short: "Restore the newest Atlas snapshot with a copy in the standby region into the standby cluster",
		Long: `Restore an Atlas cloud-backup snapshot into the standby cluster: picks the newest completed
snapshot of the source cluster that has a copy in --target-region, checks first that encryption at
rest allows the restore (customer-managed keys: both projects' keys in the same, reachable
region) and otherwise refuses and points to the logical backup, starts an automated restore job
and polls it with backoff until it finishes, fails, is cancelled or expires.

The target cluster's data is replaced: --yes is required. Credentials: a service account
(MONGODB_ATLAS_CLIENT_ID/MONGODB_ATLAS_CLIENT_SECRET) or an API key
(MONGODB_ATLAS_PUBLIC_API_KEY/MONGODB_ATLAS_PRIVATE_API_KEY), or --credentials-file with the
secret's JSON; they are never printed.`,
		Example: `  caro backup atlas-restore --source-project 5f...01 --source-cluster caro-prod \
      --target-project 5f...02 --target-cluster caro-standby --target-region eu-central-1 \
      --unavailable-region eu-west-1 --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.output != "text" && f.output != "json" {
				return fmt.Errorf("invalid --output %q: use text or json", f.output)
			}
			if !o.yes {
				return errors.New("atlas-restore replaces the data of the target cluster: add --yes to confirm")
			}
			creds, err := atlasCredentials(o.credentialsFile)
			if err != nil {
				return err
			}
			client, err := atlas.NewClient(cmd.Context(), creds, os.Getenv(atlas.EnvBaseURL), nil)
			if err != nil {
				return err
			}
			res, err := atlas.NewRestorer(client).Restore(cmd.Context(), atlas.SnapshotRestoreOptions{
				SourceProjectID: o.sourceProject, SourceCluster: o.sourceCluster,
				TargetProjectID: o.targetProject, TargetCluster: o.targetCluster, TargetRegion: o.targetRegion,
				UnavailableRegions: o.unavailable, Timeout: o.timeout, PollInterval: o.pollInterval,
				Progress: func(s string) { fmt.Fprintln(streams.ErrOut, s) },
			})
			if err != nil {
				return err
			}
			if f.output == "json" {
				return writeJSON(streams.Out, res)
			}
			fmt.Fprintf(streams.Out, "restored snapshot %s (%s) into %s/%s: job %s finished %s\n", res.SnapshotID,
				res.SnapshotTime.UTC().Format(time.RFC3339), o.targetProject, o.targetCluster, res.RestoreJobID, res.FinishedAt.UTC().Format(time.RFC3339))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.sourceProject, "source-project", "", "Atlas project ID of the primary cluster")
	fl.StringVar(&o.sourceCluster, "source-cluster", "", "primary cluster name")
	fl.StringVar(&o.targetProject, "target-project", "", "Atlas project ID of the standby cluster")
	fl.StringVar(&o.targetCluster, "target-cluster", "", "standby cluster name")
	fl.StringVar(&o.targetRegion, "target-region", "", "standby region (eu-central-1 or EU_CENTRAL_1)")
	fl.StringSliceVar(&o.unavailable, "unavailable-region", nil, "AWS region known to be down (repeatable)")
	fl.StringVar(&o.credentialsFile, "credentials-file", "", "file with the Atlas credentials secret JSON (default: environment)")
	fl.DurationVar(&o.timeout, "timeout", 2*time.Hour, "give up waiting after this long")
	fl.DurationVar(&o.pollInterval, "poll-interval", 10*time.Second, "first poll interval (doubles up to 2m)")
	fl.BoolVar(&o.yes, "yes", false, "confirm replacing the target cluster's data")
	return cmd
}

func atlasCredentials(file string) (atlas.Credentials, error) {
	if file == "" {
		return atlas.CredentialsFromEnv(os.Getenv)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return atlas.Credentials{}, fmt.Errorf("reading --credentials-file: %w", err)
	}
	return atlas.CredentialsFromSecret(b)
}
