package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/carohealth/platform/internal/atlas"
	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/erasure"
	"github.com/carohealth/platform/internal/restore"
)

type backupAtlasRestoreOptions struct {
	sourceProject, sourceCluster string
	targetProject, targetCluster string
	targetRegion                 string
	unavailable                  []string
	credentialsFile              string
	timeout, pollInterval        time.Duration
	yes                          bool
	// targetURI is the standby cluster's connection string: the protocol's steps after the job
	// (hold, erasures, ledger, audit record, marker) run through it.
	targetURI, database string
	skipErasures        bool
}

// atlasRestoreOutput is the -o json output: the protocol's report, with the Atlas job named.
type atlasRestoreOutput struct {
	*restore.Report
	SnapshotID   string `json:"snapshotId"`
	RestoreJobID string `json:"restoreJobId"`
}

func init() { backupSubcommands = append(backupSubcommands, newBackupAtlasRestoreCmd) }

func newBackupAtlasRestoreCmd(streams IOStreams, f *backupFlags) *cobra.Command {
	o := backupAtlasRestoreOptions{}
	cmd := &cobra.Command{
		Use:   "atlas-restore --mongodb-uri <standby uri> --yes",
		Short: "Restore the newest Atlas snapshot with a copy in the standby region into the standby cluster",
		Long: `Restore an Atlas cloud-backup snapshot into the standby cluster by the post-restore protocol
(internal/restore): an interrupted earlier restore of the cluster is finished or rolled back first;
the erasure register (erasures/ in --bucket and every --erasure-bucket, read as one: the standby's
own backup bucket and its replica of the primary's; --region) is read and the cluster listed
before the job starts; the newest completed snapshot of the source cluster with a copy in
--target-region is picked, encryption at rest checked (customer-managed keys: both projects' keys
in the same, reachable region; otherwise it refuses and points to the logical backup), and the
restore job started and polled with backoff under the maintenance switch.

The job replaces the whole cluster, so nothing can be kept aside: the output lists what it
replaced. After the job, through --mongodb-uri: the maintenance switch on again, the audit ledger
held, the erasure register applied (a snapshot brings back every patient erased since it was
taken), the ledger recovered from its checkpoints when the ledger configuration is set
(CARO_LEDGER_BUCKET, CARO_REGION, CARO_LEDGER_SIGNING_KEY_ARN or CARO_LEDGER_PUBLIC_KEY;
otherwise the output says to run 'caro audit recover'), the restore's audit events recorded and
published, the restore marker written, the switch turned off. --skip-erasure-register leaves the
register to the operator (loud warning; run 'caro gdpr reapply' right after).

The target cluster's data is replaced: --yes is required. Credentials: a service account
(MONGODB_ATLAS_CLIENT_ID/MONGODB_ATLAS_CLIENT_SECRET) or an API key
(MONGODB_ATLAS_PUBLIC_API_KEY/MONGODB_ATLAS_PRIVATE_API_KEY), or --credentials-file with the
secret's JSON; they are never printed.`,
		Example: `  caro backup atlas-restore --source-project 5f...01 --source-cluster caro-prod \
      --target-project 5f...02 --target-cluster caro-standby --target-region eu-central-1 \
      --unavailable-region eu-west-1 --mongodb-uri "$STANDBY_MONGODB_URI" --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.output != "text" && f.output != "json" {
				return fmt.Errorf("invalid --output %q: use text or json", f.output)
			}
			if o.targetURI == "" {
				return errors.New("no --mongodb-uri: the restore holds the audit ledger, re-applies the erasure register (a snapshot brings back patients erased since it was taken) and writes its marker through the standby cluster's connection string; pass --mongodb-uri <standby uri> (add --skip-erasure-register only to run 'caro gdpr reapply' yourself)")
			}
			if err := confirm(streams, o.yes, "atlas-restore replaces all data of cluster "+o.targetCluster+": go ahead?"); err != nil {
				return err
			}
			s, err := f.completeFromSettings()
			if err != nil {
				return err
			}
			if len(f.erasureBuckets) == 0 {
				f.erasureBuckets = s.BackupReplicaBuckets
			}
			var register erasure.Source
			if !o.skipErasures {
				if len(f.registerBuckets()) == 0 || f.region == "" {
					return errors.New("no erasure register: pass --bucket (and --erasure-bucket) and --region (or set CARO_BACKUP_BUCKET, CARO_BACKUP_REPLICA_BUCKET and CARO_REGION) of the backup buckets")
				}
				var err error
				if register, _, err = erasureRegister(cmd.Context(), f, streams.ErrOut, "--erasure-bucket"); err != nil {
					return err
				}
			}
			creds, err := atlasCredentials(o.credentialsFile, s)
			if err != nil {
				return err
			}
			client, err := atlas.NewClient(cmd.Context(), creds, s.AtlasBaseURL, nil)
			if err != nil {
				return err
			}
			target, closeTarget, err := connectTarget(cmd.Context(), o.targetURI)
			if err != nil {
				return err
			}
			defer closeTarget()
			restorer := atlas.NewRestorer(client)
			job := func(ctx context.Context) (restore.SnapshotResult, error) {
				res, err := restorer.Restore(ctx, atlas.SnapshotRestoreOptions{
					SourceProjectID: o.sourceProject, SourceCluster: o.sourceCluster,
					TargetProjectID: o.targetProject, TargetCluster: o.targetCluster, TargetRegion: o.targetRegion,
					UnavailableRegions: o.unavailable, Timeout: o.timeout, PollInterval: o.pollInterval,
					Progress: func(s string) { fmt.Fprintln(streams.ErrOut, s) },
				})
				return restore.SnapshotResult{SnapshotID: res.SnapshotID, SnapshotTime: res.SnapshotTime, RestoreJobID: res.RestoreJobID, FinishedAt: res.FinishedAt}, err
			}
			rep, err := restore.Snapshot(cmd.Context(), restore.Options{Target: target, Database: o.database, Replace: true,
				Erasures: register, SkipErasureRegister: o.skipErasures, Ledger: cliLedgerRecovery(streams.ErrOut, o.targetURI, s),
				Deliver: cliDeliver(streams.ErrOut, f.region), Origin: commandOrigin(cmd.Context(), f.region, audit.InterfaceCLI),
				Settle: defaultRestoreSettle, Progress: progressPrinter(streams.ErrOut), RetentionYears: s.RetentionYears}, restore.SnapshotSource{Run: job})
			if err != nil {
				return err
			}
			printRestoreWarnings(streams.ErrOut, rep)
			if f.output == "json" {
				return writeJSON(streams.Out, atlasRestoreOutput{Report: rep, SnapshotID: rep.BackupID, RestoreJobID: rep.SnapshotJob})
			}
			fmt.Fprintln(streams.Out, restore.Summary(rep))
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
	fl.BoolVarP(&o.yes, "yes", "y", false, "confirm replacing the target cluster's data")
	fl.StringVar(&o.targetURI, "mongodb-uri", "", "connection string of the standby cluster (required): the protocol's steps after the job run through it")
	fl.StringVar(&o.database, "database", backup.DefaultDatabase, "application database (with --mongodb-uri)")
	fl.StringArrayVar(&f.erasureBuckets, "erasure-bucket", nil,
		"further bucket whose erasure register is read with --bucket's as one, repeatable (the region's own backup bucket and its replica of the peer's; default: CARO_BACKUP_REPLICA_BUCKET)")
	fl.BoolVar(&o.skipErasures, "skip-erasure-register", false, "DANGER: do not re-apply the erasure register after the restore (run 'caro gdpr reapply' yourself)")
	return cmd
}

// atlasCredentials reads the Atlas credentials from file (a secret's JSON), or takes them from the
// settings.
func atlasCredentials(file string, s envSettings) (atlas.Credentials, error) {
	if file == "" {
		return s.Atlas, s.AtlasErr
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return atlas.Credentials{}, fmt.Errorf("reading --credentials-file: %w", err)
	}
	return atlas.CredentialsFromSecret(b)
}
